/*-------------------------------------------------------------------------
 *
 * limits.h
 *	  Rate-limit specifications: what a limit is, how it is written in
 *	  JSON, and what makes it valid (limits.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_LIMITS_H
#define AK_LIMITS_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#define AK_MAX_LIMITS		8	/* rate limits per key or tier */
#define AK_LIMIT_NAME_LEN	32

typedef struct AkLimit
{
	char		name[AK_LIMIT_NAME_LEN + 1];
	uint32		tag;			/* a hash of name: which bucket of a subject */
	int64		limit;			/* tokens added per period */
	int64		period_us;		/* refill period, microseconds */
	int64		burst;			/* bucket capacity */
	bool		shadow;			/* counted, never refuses ("shadow": true) */
	int64		window_s;		/* ak_limit_window_s, once parsed; 0: not yet */
} AkLimit;

extern int	ak_limits_parse(Jsonb *spec, AkLimit *out, const char *what);
extern void ak_limit_validate(const AkLimit *limit, const char *what, int index);
extern uint32 ak_limit_tag(const AkLimit *limit);
extern int64 ak_limit_max_burst(int64 limit, int64 period_us);
extern int64 ak_interval_to_us(const Interval *interval);
extern char *ak_limits_policy(const AkLimit *limits, int n, const char *prefix);
extern int	ak_limits_shadow_last(AkLimit *limits, int n);

/*
 * The window of a limit in the headers (doc/apikey.md, "Headers"): the
 * seconds an empty bucket takes to fill, burst * period / limit, rounded
 * up, at least 1.  With q = burst, q / w is the limit's rate.
 */
static inline int64
ak_limit_window_s(const AkLimit *limit)
{
	int128		us;

	if (limit->window_s > 0)
		return limit->window_s;
	us = (int128) limit->burst * limit->period_us / limit->limit;
	return Max((int64) ((us + USECS_PER_SEC - 1) / USECS_PER_SEC), 1);
}

/* Whole seconds, rounded up; 0 for none. */
static inline int64
ak_seconds_ceil(int64 us)
{
	return us <= 0 ? 0 : (us + USECS_PER_SEC - 1) / USECS_PER_SEC;
}

#endif							/* AK_LIMITS_H */
