/*-------------------------------------------------------------------------
 *
 * record.h
 *	  What a request adds to its key's usage, recorded when its
 *	  transaction ends (record.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_USAGE_RECORD_H
#define AK_USAGE_RECORD_H

#include "access/xact.h"
#include "core/codes.h"
#include "datatype/timestamp.h"
#include "utils/uuid.h"

extern void ak_usage_request(const pg_uuid_t *key_id, AkUsageOutcome outcome,
							 int64 cost);
extern void ak_usage_charge(const pg_uuid_t *key_id, int64 cost, TimestampTz at);
extern void ak_usage_at_xact_end(XactEvent event);

#endif							/* AK_USAGE_RECORD_H */
