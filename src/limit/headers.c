/*-------------------------------------------------------------------------
 *
 * headers.c
 *	  The rate-limit headers of a decision (doc/apikey.md, "Headers"):
 *
 *	  RateLimit-Policy   "<name>";q=<quota>;w=<window seconds>, ...
 *	  RateLimit          "<name>";r=<remaining>;t=<seconds until reset>, ...
 *	  X-RateLimit-Limit, -Remaining, -Reset   of the most restrictive limit
 *	  Retry-After        on 429 and 503, whole seconds, at least 1
 *
 * (draft-ietf-httpapi-ratelimit-headers structured fields, and the de-facto
 * X-RateLimit-* that clients already read.)  Every limit that applies is
 * reported: the key's buckets, its owner's ("owner.<name>"), and the
 * quotas ("daily_quota", "owner.monthly_quota"); shadow limits never are.
 *
 * How a token bucket maps onto the draft's fields, which describe a quota
 * q per window w: q is the burst (what the bucket holds), w the seconds an
 * empty bucket takes to fill (burst * period / limit, rounded up), so that
 * q / w is the limit's rate; r is the whole tokens left, never more than
 * q; t is the seconds until the bucket is full again.  A quota is q = the
 * quota, w = its day or month, r = what is left, t = the seconds until the
 * UTC day or month ends.  Limit names are [A-Za-z0-9_.:-] (core/limits.c):
 * nothing to quote.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "limit/headers.h"

/* The limit with the fewest whole tokens left; the first of equals. */
int
ak_most_restrictive(const AkLimitReport *report)
{
	int			best = 0;

	for (int i = 1; i < report->nlimits; i++)
		if (report->outcome[i].remaining < report->outcome[best].remaining)
			best = i;
	return best;
}

/* "<prefix><name>" of entry i, quoted. */
static inline void
ak_header_put_name(AkHeaders *h, const AkLimitReport *report, int i)
{
	const char *name = report->limit[i]->name;

	ak_header_put(h, "\"", 1);
	if (report->prefix[i] != NULL)
		ak_header_put(h, report->prefix[i], strlen(report->prefix[i]));
	ak_header_put(h, name, strlen(name));
	ak_header_put(h, "\"", 1);
}

/* RateLimit-Policy: "<name>";q=<quota>;w=<window>, ... when not precomputed */
static void
ak_policy_header(AkHeaders *h, const AkLimitReport *report)
{
	ak_header_begin(h, "RateLimit-Policy");
	for (int i = 0; i < report->nlimits; i++)
	{
		const AkLimit *limit = report->limit[i];

		if (i > 0)
			ak_header_put(h, ", ", 2);
		ak_header_put_name(h, report, i);
		ak_header_put(h, ";q=", 3);
		ak_header_put_int(h, limit->burst);
		ak_header_put(h, ";w=", 3);
		ak_header_put_int(h, report->window_s[i] > 0 ? report->window_s[i]
						  : ak_limit_window_s(limit));
	}
	ak_header_end(h);
}

/* RateLimit: "<name>";r=<remaining>;t=<seconds until reset>, ... */
static inline void
ak_ratelimit_header(AkHeaders *h, const AkLimitReport *report)
{
	ak_header_begin(h, "RateLimit");
	for (int i = 0; i < report->nlimits; i++)
	{
		if (i > 0)
			ak_header_put(h, ", ", 2);
		ak_header_put_name(h, report, i);
		ak_header_put(h, ";r=", 3);
		ak_header_put_int(h, report->outcome[i].remaining);
		ak_header_put(h, ";t=", 3);
		ak_header_put_int(h, ak_seconds_ceil(report->outcome[i].full_in_us));
	}
	ak_header_end(h);
}

static inline void
ak_int_header(AkHeaders *h, const char *name, int64 value)
{
	ak_header_begin(h, name);
	ak_header_put_int(h, value);
	ak_header_end(h);
}

/*
 * The headers for limits after a decision (report may be NULL or have no
 * limits) and, when retry_after_us >= 0, Retry-After.
 */
void
ak_headers_build(AkHeaders *h, const AkLimitReport *report, int64 now_us,
				 int64 retry_after_us)
{
	ak_headers_reset(h);
	if (report != NULL && report->nlimits > 0)
	{
		int			restrictive = ak_most_restrictive(report);
		const AkLimit *r = report->limit[restrictive];
		const AkLimitOutcome *o = &report->outcome[restrictive];

		if (report->policy)
			ak_header_add(h, "RateLimit-Policy", report->policy);
		else
			ak_policy_header(h, report);
		ak_ratelimit_header(h, report);
		ak_int_header(h, "X-RateLimit-Limit", r->burst);
		ak_int_header(h, "X-RateLimit-Remaining", o->remaining);
		ak_int_header(h, "X-RateLimit-Reset", ak_unix_seconds_ceil(now_us + o->full_in_us));
	}
	if (retry_after_us >= 0)
		ak_int_header(h, "Retry-After", Max(ak_seconds_ceil(retry_after_us), 1));
}
