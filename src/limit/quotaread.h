/*-------------------------------------------------------------------------
 *
 * quotaread.h
 *	  A subject's row of apikey.quota_counters, read with a snapshot taken
 *	  now (quotaread.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_QUOTAREAD_H
#define AK_QUOTAREAD_H

#include "limit/quotastore.h"

extern bool ak_quota_counts_read(const uint8 *subject, AkQuotaCounts *counts);

#endif							/* AK_QUOTAREAD_H */
