/*-------------------------------------------------------------------------
 *
 * gcra.h
 *	  The token bucket as GCRA, in exact integer arithmetic (gcra.c).
 *
 * A bucket of capacity B (burst) refilling L tokens per period P stores one
 * number, its theoretical arrival time (TAT): the time at which it will be
 * full again.  A request of cost c at time t is admitted iff
 *
 *		max(TAT, t) + c*P/L - t <= B*P/L
 *
 * and then TAT becomes max(TAT, t) + c*P/L.  This is a token bucket with
 * continuous (fractional) refill: tokens(t) = (B*P/L - max(0, TAT - t)) / (P/L).
 * Times are counted in units of 1/L microseconds, where P/L is exactly P:
 * the arithmetic is integer (int128) and exact, so a bucket never admits
 * more than B + refill(elapsed), whatever the concurrency.  A TAT in the
 * past means "full": such a bucket holds no information.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_GCRA_H
#define AK_GCRA_H

#include "core/limits.h"

/* The state of a token bucket, and of an abuse cooldown. */
typedef struct AkGcra
{
	int128		tat;			/* TAT, in units of 1/scale microseconds */
	int64		scale;			/* the L that tat is counted in; 0 means 1 */
	int64		until_us;		/* abuse cooldowns: their end */
} AkGcra;

/* One limit's decision, taken under its bucket's spinlock. */
typedef struct AkGcraDecision
{
	int128		now;			/* now, in units of 1/L us */
	int128		base;			/* max(TAT, now) */
	int128		candidate;		/* base + cost * P */
	bool		admit;
} AkGcraDecision;

/* One limit after a decision, as headers and result columns report it. */
typedef struct AkLimitOutcome
{
	int64		remaining;		/* whole tokens left */
	int64		full_in_us;		/* until the bucket is full again */
	int64		retry_in_us;	/* until the refused request would pass; 0 */
} AkLimitOutcome;

/* The bucket's TAT in units of 1/L us.  Caller holds its spinlock. */
static inline int128
ak_gcra_tat(const AkGcra *g, int64 L)
{
	if (likely(g->scale == L))
		return g->tat;
	/* the limit changed: rescale, rounding up (never gives tokens away) */
	return g->tat <= 0 ? 0 : (g->tat * L + g->scale - 1) / g->scale;
}

/*
 * The decision of one limit, under its bucket's spinlock: a comparison and
 * no division (but after a change of limit).
 */
static inline void
ak_gcra_decide(const AkGcra *g, const AkLimit *limit, int64 cost,
			   int64 now_us, AkGcraDecision *d)
{
	int128		P = limit->period_us;

	d->now = (int128) now_us * limit->limit;
	d->base = Max(ak_gcra_tat(g, limit->limit), d->now);
	d->candidate = d->base + (int128) cost * P;
	d->admit = d->candidate - d->now <= (int128) limit->burst * P;
}

/* Takes a decision's candidate.  Caller holds the bucket's spinlock. */
static inline void
ak_gcra_take(AkGcra *g, const AkLimit *limit, const AkGcraDecision *d)
{
	g->tat = d->candidate;
	g->scale = limit->limit;
}

/* Whether the bucket is full at now_us.  Caller holds its spinlock. */
static inline bool
ak_gcra_full(const AkGcra *g, int64 now_us)
{
	return g->tat <= (int128) now_us * Max(g->scale, 1);
}

extern void ak_gcra_outcome(const AkLimit *limit, const AkGcraDecision *d,
							bool taken, AkLimitOutcome *out);

#endif							/* AK_GCRA_H */
