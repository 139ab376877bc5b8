/*-------------------------------------------------------------------------
 *
 * latency.h
 *	  Request durations as a fixed log-scale histogram (latency.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_LATENCY_H
#define AK_LATENCY_H

#include "port/pg_bitutils.h"

#define AK_LATENCY_BUCKETS	40
#define AK_LATENCY_FIRST_US	32

/* The histogram bucket of a duration (see latency.c). */
static inline int
ak_latency_bucket(int64 us)
{
	uint64		v = (uint64) Min(Max(us, 0), PG_INT32_MAX);
	uint64		x;

	if (v < AK_LATENCY_FIRST_US)
		return 0;
	x = (v * v) / (AK_LATENCY_FIRST_US * AK_LATENCY_FIRST_US);
	return Min(pg_leftmost_one_pos64(x) + 1, AK_LATENCY_BUCKETS - 1);
}

extern double ak_latency_quantile(const int64 *counts, double q);
extern bool ak_latency_add(int64 *into, const int64 *add);

#endif							/* AK_LATENCY_H */
