/*-------------------------------------------------------------------------
 *
 * latency.c
 *	  Request durations as a fixed log-scale histogram of
 *	  AK_LATENCY_BUCKETS counts: bucket i < 39 counts durations under
 *	  32 us * 2^(i/2) (so from 32 us to 16.8 s, each bucket 41% wider than
 *	  the one before it), bucket 39 the longer ones.
 *
 * Histograms add up exactly across flushes, backends and hours, which is
 * what lets usage_hourly and the daily and monthly views report p95 and
 * p99 of any span (within the 41% of a bucket, interpolated).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <math.h>

#include "common/int.h"
#include "usage/latency.h"

/* The upper bound of bucket i, in microseconds. */
static double
ak_latency_bound(int i)
{
	return AK_LATENCY_FIRST_US * pow(2.0, i / 2.0);
}

/*
 * The q-quantile of a histogram, in milliseconds, interpolated linearly
 * within its bucket; -1 for an empty histogram.
 */
double
ak_latency_quantile(const int64 *counts, double q)
{
	int64		total = 0;
	double		rank;
	int64		below = 0;

	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
		total += counts[i];
	if (total == 0)
		return -1;
	rank = Max(q * total, 1.0);
	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
	{
		double		lower = i == 0 ? 0 : ak_latency_bound(i - 1);
		double		value;

		if (counts[i] == 0 || below + counts[i] < rank)
		{
			below += counts[i];
			continue;
		}
		if (i == AK_LATENCY_BUCKETS - 1)
			value = lower;
		else
			value = lower + (rank - below) / counts[i] * (ak_latency_bound(i) - lower);
		return rint(value) / 1000.0;
	}
	return ak_latency_bound(AK_LATENCY_BUCKETS - 2) / 1000.0;	/* not reached */
}

/* Adds one histogram into another; false (into unchanged) on overflow. */
bool
ak_latency_add(int64 *into, const int64 *add)
{
	int64		sum[AK_LATENCY_BUCKETS];

	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
		if (pg_add_s64_overflow(into[i], add[i], &sum[i]))
			return false;
	memcpy(into, sum, sizeof(sum));
	return true;
}
