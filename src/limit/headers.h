/*-------------------------------------------------------------------------
 *
 * headers.h
 *	  The rate-limit headers of a decision (headers.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_HEADERS_H
#define AK_HEADERS_H

#include "auth/keyinfo.h"
#include "core/clock.h"
#include "limit/gcra.h"
#include "limit/headerset.h"

/*
 * The most limits a request reports: the key's and its owner's buckets,
 * both their quotas, and the address's bucket.
 */
#define AK_MAX_REPORTED		(2 * AK_MAX_LIMITS + 2 * AK_NUM_PERIODS + 1)

/*
 * What the headers describe: limits after a decision, in the order they
 * are reported.  outcome[] is contiguous, so that a step debits straight
 * into it (limit/buckets.h).
 */
typedef struct AkLimitReport
{
	int			nlimits;

	/*
	 * RateLimit-Policy, when the report is one list of limits whose policy
	 * was computed once (a cached key's); NULL: written from the entries.
	 */
	const char *policy;
	const AkLimit *limit[AK_MAX_REPORTED];
	const char *prefix[AK_MAX_REPORTED];	/* before the name: "owner." */
	int64		window_s[AK_MAX_REPORTED];	/* w; 0: a bucket's own */
	AkLimitOutcome outcome[AK_MAX_REPORTED];
} AkLimitReport;

/* The reported name of an owner's limits: "owner.<name>" (auth/keyinfo.h). */
#define AK_OWNER_PREFIX		AK_OWNER_POLICY_PREFIX

static inline void
ak_report_reset(AkLimitReport *r)
{
	r->nlimits = 0;
	r->policy = NULL;
}

/*
 * Appends n limits of one list (policy: its precomputed RateLimit-Policy,
 * or NULL) and returns where their outcomes go.
 */
static inline AkLimitOutcome *
ak_report_add(AkLimitReport *r, const AkLimit *limits, int n,
			  const char *prefix, const char *policy)
{
	int			at = r->nlimits;

	Assert(at + n <= AK_MAX_REPORTED);
	r->policy = (at == 0 && prefix == NULL) ? policy : NULL;
	for (int i = 0; i < n; i++)
	{
		r->limit[at + i] = &limits[i];
		r->prefix[at + i] = prefix;
		r->window_s[at + i] = 0;
	}
	r->nlimits = at + n;
	return &r->outcome[at];
}

/* Forgets the last n limits added (a step that turned out to take nothing). */
static inline void
ak_report_drop(AkLimitReport *r, int n)
{
	r->nlimits -= n;
	if (r->nlimits == 0)
		r->policy = NULL;
}

/*
 * Keeps only the last n limits, moved to the front: those that refused
 * the request (policy: theirs, precomputed, or NULL).
 */
static inline void
ak_report_keep_last(AkLimitReport *r, int n, const char *policy)
{
	int			from = r->nlimits - n;

	if (from > 0)
	{
		memmove(r->limit, &r->limit[from], n * sizeof(r->limit[0]));
		memmove(r->prefix, &r->prefix[from], n * sizeof(r->prefix[0]));
		memmove(r->window_s, &r->window_s[from], n * sizeof(r->window_s[0]));
		memmove(r->outcome, &r->outcome[from], n * sizeof(r->outcome[0]));
	}
	r->nlimits = n;
	r->policy = policy;
}

extern int	ak_most_restrictive(const AkLimitReport *report);
extern void ak_headers_build(AkHeaders *h, const AkLimitReport *report,
							 int64 now_us, int64 retry_after_us);

/* A PostgreSQL timestamp as Unix epoch seconds, rounded up. */
static inline int64
ak_unix_seconds_ceil(int64 pg_us)
{
	return ak_seconds_ceil(pg_us) +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

#endif							/* AK_HEADERS_H */
