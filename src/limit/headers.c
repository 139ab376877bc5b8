/*-------------------------------------------------------------------------
 *
 * headers.c
 *	  The rate-limit headers of a decision (doc/apikey.md, "Headers"):
 *
 *	  RateLimit-Policy   "<name>";q=<limit>;w=<period seconds>, ...
 *	  RateLimit          "<name>";r=<whole tokens left>;t=<seconds until full>, ...
 *	  X-RateLimit-Limit, -Remaining, -Reset   of the most restrictive limit
 *	  Retry-After        on 429 and 503, whole seconds, at least 1
 *
 * (draft-ietf-httpapi-ratelimit-headers structured fields, and the de-facto
 * X-RateLimit-* that clients already read.)  Limit names are
 * [A-Za-z0-9_.:-] (core/limits.c): nothing to quote.
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

/* RateLimit: "<name>";r=<remaining>;t=<seconds until full>, ... */
static inline void
ak_ratelimit_header(AkHeaders *h, const AkLimitReport *report)
{
	ak_header_begin(h, "RateLimit");
	for (int i = 0; i < report->nlimits; i++)
	{
		const char *name = report->limits[i].name;

		if (i > 0)
			ak_header_put(h, ", ", 2);
		ak_header_put(h, "\"", 1);
		ak_header_put(h, name, strlen(name));
		ak_header_put(h, "\";r=", 4);
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
		const AkLimit *r = &report->limits[report->restrictive];
		const AkLimitOutcome *o = &report->outcome[report->restrictive];

		ak_header_add(h, "RateLimit-Policy",
					  report->policy ? report->policy
					  : ak_limits_policy(report->limits, report->nlimits));
		ak_ratelimit_header(h, report);
		ak_int_header(h, "X-RateLimit-Limit", r->burst);
		ak_int_header(h, "X-RateLimit-Remaining", o->remaining);
		ak_int_header(h, "X-RateLimit-Reset", ak_unix_seconds_ceil(now_us + o->full_in_us));
	}
	if (retry_after_us >= 0)
		ak_int_header(h, "Retry-After", Max(ak_seconds_ceil(retry_after_us), 1));
}
