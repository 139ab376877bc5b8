/*-------------------------------------------------------------------------
 *
 * finished.h
 *	  What an application's request adds to usage once it says it is
 *	  finished (finished.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_USAGE_FINISHED_H
#define AK_USAGE_FINISHED_H

#include "core/codes.h"
#include "datatype/timestamp.h"
#include "utils/uuid.h"

extern void ak_usage_finished(const pg_uuid_t *key_id, AkUsageOutcome outcome,
							  int64 cost, TimestampTz start, int64 duration_us,
							  const char *path);

#endif							/* AK_USAGE_FINISHED_H */
