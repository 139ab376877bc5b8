/*-------------------------------------------------------------------------
 *
 * buckets.h
 *	  Token buckets: a key's limits, a client address's, a throttle()
 *	  name's, debited all together or not at all (buckets.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_BUCKETS_H
#define AK_BUCKETS_H

#include "limit/cells.h"

extern AkDebit ak_bucket_debit(AkCellKind kind, const uint8 *subject,
							   const AkLimit *limits, int n, int64 cost,
							   int64 now_us, AkLimitOutcome *out, void **hints);
extern void ak_bucket_refund(AkCellKind kind, const uint8 *subject,
							 const AkLimit *limits, int n, int64 cost);
extern void ak_bucket_peek(AkCellKind kind, const uint8 *subject,
						   const AkLimit *limits, int n, int64 now_us,
						   AkLimitOutcome *out);

#endif							/* AK_BUCKETS_H */
