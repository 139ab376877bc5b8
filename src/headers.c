/*-------------------------------------------------------------------------
 *
 * headers.c
 *	  The rate-limit headers of contract §7, as name/value pairs that check()
 *	  returns as a JSON object and check_request() sends.
 *
 *	  RateLimit-Policy   "<name>";q=<limit>;w=<period seconds>, ...
 *	  RateLimit          "<name>";r=<whole tokens left>;t=<seconds until full>, ...
 *	  X-RateLimit-Limit, -Remaining, -Reset   of the most restrictive limit
 *	  Retry-After        on 429 and 503, whole seconds, at least 1
 *
 * (draft-ietf-httpapi-ratelimit-headers structured fields, and the de-facto
 * X-RateLimit-* that clients already read.)  Names and values are ASCII:
 * limit names are restricted to [A-Za-z0-9_.:-] by limits.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "apikey.h"

static int64
ak_seconds_ceil(int64 us)
{
	return us <= 0 ? 0 : (us + USECS_PER_SEC - 1) / USECS_PER_SEC;
}

/* A PostgreSQL timestamp as Unix epoch seconds, rounded up. */
int64
ak_unix_seconds_ceil(int64 pg_us)
{
	return ak_seconds_ceil(pg_us) +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

/* RateLimit-Policy of a list of limits: computed once per cached key. */
char *
ak_policy_header(const AkLimit *limits, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s\"%s\";q=" INT64_FORMAT ";w=" INT64_FORMAT,
						 i > 0 ? ", " : "", limits[i].name, limits[i].limit,
						 Max(ak_seconds_ceil(limits[i].period_us), 1));
	return buf.data;
}

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

static void
ak_header(AkHeaders *h, const char *name, char *value)
{
	Assert(h->n < AK_MAX_HEADERS);
	h->name[h->n] = name;
	h->value[h->n] = value;
	h->n++;
}

/*
 * The headers for limits after a decision (report may be NULL or have no
 * limits) and, when retry_after_us >= 0, Retry-After.
 */
void
ak_headers_build(AkHeaders *h, const AkLimitReport *report, int64 now_us,
				 int64 retry_after_us)
{
	h->n = 0;
	if (report != NULL && report->nlimits > 0)
	{
		const AkLimit *r = &report->limits[report->restrictive];
		const AkLimitOutcome *o = &report->outcome[report->restrictive];
		StringInfoData state;

		initStringInfo(&state);
		for (int i = 0; i < report->nlimits; i++)
			appendStringInfo(&state, "%s\"%s\";r=" INT64_FORMAT ";t=" INT64_FORMAT,
							 i > 0 ? ", " : "", report->limits[i].name,
							 report->outcome[i].remaining,
							 ak_seconds_ceil(report->outcome[i].full_in_us));

		ak_header(h, "RateLimit-Policy",
				  report->policy ? unconstify(char *, report->policy)
				  : ak_policy_header(report->limits, report->nlimits));
		ak_header(h, "RateLimit", state.data);
		ak_header(h, "X-RateLimit-Limit", psprintf(INT64_FORMAT, r->burst));
		ak_header(h, "X-RateLimit-Remaining", psprintf(INT64_FORMAT, o->remaining));
		ak_header(h, "X-RateLimit-Reset",
				  psprintf(INT64_FORMAT, ak_unix_seconds_ceil(now_us + o->full_in_us)));
	}
	if (retry_after_us >= 0)
		ak_header(h, "Retry-After",
				  psprintf(INT64_FORMAT, Max(ak_seconds_ceil(retry_after_us), 1)));
}

static void
ak_push_string(JsonbParseState **state, JsonbIteratorToken token, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = unconstify(char *, s);
	v.val.string.len = strlen(s);
	pushJsonbValue(state, token, &v);
}

/* The headers as a JSON object of strings. */
Jsonb *
ak_headers_jsonb(const AkHeaders *h)
{
	JsonbParseState *state = NULL;
	JsonbValue *object;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < h->n; i++)
	{
		ak_push_string(&state, WJB_KEY, h->name[i]);
		ak_push_string(&state, WJB_VALUE, h->value[i]);
	}
	object = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(object);
}
