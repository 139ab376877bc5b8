/*-------------------------------------------------------------------------
 *
 * gcra.c
 *	  What a token bucket looks like after a decision (gcra.h).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "limit/gcra.h"

static int64
ak_ceil_div(int128 a, int64 b)
{
	return a <= 0 ? 0 : (int64) ((a + b - 1) / b);
}

/*
 * What a limit looks like after a decision: its state is "after" (the
 * candidate if taken, the base if not).  Computed outside any lock.
 */
void
ak_gcra_outcome(const AkLimit *limit, const AkGcraDecision *d, bool taken,
				AkLimitOutcome *out)
{
	int128		P = limit->period_us;
	int128		tau = (int128) limit->burst * P;
	int128		after = taken ? d->candidate : d->base;

	out->remaining = (int64) ((tau - (after - d->now)) / P);
	out->full_in_us = ak_ceil_div(after - d->now, limit->limit);
	out->retry_in_us = d->admit ? 0 : ak_ceil_div(d->candidate - tau - d->now, limit->limit);
}
