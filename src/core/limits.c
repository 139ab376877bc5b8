/*-------------------------------------------------------------------------
 *
 * limits.c
 *	  Rate-limit specifications (doc/apikey.md, "Rate limits"): the JSON
 *	  arrays stored in apikey.keys.rate_limits and apikey.tiers.rate_limits.
 *
 *	  [{"name": "minute", "limit": 100, "period": "1 minute", "burst": 10}]
 *
 * "period" is an interval string or a number of seconds; "burst" (the
 * bucket capacity) defaults to "limit"; "name" defaults to "default";
 * "shadow": true makes a limit that is counted but never refuses.
 * The same parser validates input (CHECK constraints on both columns call
 * apikey._check_rate_limits) and fills the verification cache, so a spec
 * that was accepted can always be used.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "common/hashfn.h"
#include "core/json.h"
#include "core/limits.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/numeric.h"

#define AK_MIN_PERIOD_US	INT64CONST(1000)	/* 1 millisecond */
#define AK_MAX_PERIOD_US	(INT64CONST(366) * USECS_PER_DAY)
#define AK_MAX_LIMIT_VALUE	INT64CONST(1000000000)
/* the longest a bucket may take to refill from empty: its state must fit */
#define AK_MAX_HORIZON_US	(INT64CONST(100) * 366 * USECS_PER_DAY)

pg_noreturn static void
ak_limit_error(const char *what, int index, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s", what, problem),
			 index >= 0 ?
			 errdetail("The problem is in limit %d of the array.", index + 1) : 0,
			 errhint("A limit looks like {\"name\": \"minute\", \"limit\": 100, \"period\": \"1 minute\", \"burst\": 10}.")));
	pg_unreachable();
}

/* Length of a limit name, or -1 if it is not [A-Za-z0-9_.:-]{1,32}. */
static int
ak_limit_name_length(const JsonbValue *v)
{
	int			len;

	if (v->type != jbvString)
		return -1;
	len = v->val.string.len;
	if (len < 1 || len > AK_LIMIT_NAME_LEN)
		return -1;
	for (int i = 0; i < len; i++)
	{
		char		c = v->val.string.val[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-'))
			return -1;
	}
	return len;
}

/* A JSON number that is a whole number in [1, AK_MAX_LIMIT_VALUE], or -1. */
static int64
ak_positive_integer(const JsonbValue *v)
{
	int64		value;

	return ak_jsonb_integer(v, 1, AK_MAX_LIMIT_VALUE, &value) ? value : -1;
}

/* Microseconds of an interval, months counted as 30 days; -1 on overflow. */
int64
ak_interval_to_us(const Interval *interval)
{
	int128		us = (int128) interval->time +
		(int128) interval->day * USECS_PER_DAY +
		(int128) interval->month * DAYS_PER_MONTH * USECS_PER_DAY;

	if (us > PG_INT64_MAX || us < -PG_INT64_MAX)
		return -1;
	return (int64) us;
}

/* A period as an interval string or a number of seconds; -1 if invalid. */
static int64
ak_period_us(const JsonbValue *v)
{
	int64		us = -1;

	if (v->type == jbvString)
	{
		char	   *text = pnstrdup(v->val.string.val, v->val.string.len);
		Interval   *interval;

		interval = DatumGetIntervalP(DirectFunctionCall3(interval_in,
														 CStringGetDatum(text),
														 ObjectIdGetDatum(InvalidOid),
														 Int32GetDatum(-1)));
		us = ak_interval_to_us(interval);
	}
	else if (v->type == jbvNumeric)
	{
		char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
															   NumericGetDatum(v->val.numeric)));
		char	   *end;
		double		seconds;

		errno = 0;
		seconds = strtod(text, &end);
		if (errno == 0 && *end == '\0' &&
			seconds > 0 && seconds <= (double) AK_MAX_PERIOD_US / USECS_PER_SEC)
			us = (int64) (seconds * USECS_PER_SEC + 0.5);
	}

	if (us < AK_MIN_PERIOD_US || us > AK_MAX_PERIOD_US)
		return -1;
	return us;
}

/* Sets one field of a limit from its JSON value; false for an unknown key. */
static bool
ak_limit_set_field(AkLimit *limit, const char *key, const JsonbValue *v,
				   int index, const char *what)
{
	if (strcmp(key, "name") == 0)
	{
		int			len = ak_limit_name_length(v);

		if (len < 0)
			ak_limit_error(what, index,
						   "\"name\" must be 1 to 32 characters among letters, digits and _ . : -");
		memcpy(limit->name, v->val.string.val, len);
		limit->name[len] = '\0';
	}
	else if (strcmp(key, "limit") == 0)
	{
		if ((limit->limit = ak_positive_integer(v)) < 0)
			ak_limit_error(what, index,
						   "\"limit\" must be a whole number between 1 and 1000000000");
	}
	else if (strcmp(key, "burst") == 0)
	{
		if ((limit->burst = ak_positive_integer(v)) < 0)
			ak_limit_error(what, index,
						   "\"burst\" must be a whole number between 1 and 1000000000");
	}
	else if (strcmp(key, "period") == 0)
	{
		if ((limit->period_us = ak_period_us(v)) < 0)
			ak_limit_error(what, index,
						   "\"period\" must be an interval or a number of seconds between 1 millisecond and 366 days");
	}
	else if (strcmp(key, "shadow") == 0)
	{
		if (v->type != jbvBool)
			ak_limit_error(what, index, "\"shadow\" must be true or false");
		limit->shadow = v->val.boolean;
	}
	else
		return false;
	return true;
}

static void
ak_limit_parse_one(JsonbContainer *object, AkLimit *limit, int index,
				   const char *what)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;

	memset(limit, 0, sizeof(*limit));
	strcpy(limit->name, "default");

	it = JsonbIteratorInit(object);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char		key[16];

		if (tok != WJB_KEY)
			continue;
		if (v.val.string.len >= (int) sizeof(key))
			ak_limit_error(what, index, "unknown field");
		memcpy(key, v.val.string.val, v.val.string.len);
		key[v.val.string.len] = '\0';

		if (JsonbIteratorNext(&it, &v, true) != WJB_VALUE)
			elog(ERROR, "unexpected jsonb token in a rate limit");
		if (!ak_limit_set_field(limit, key, &v, index, what))
			ak_limit_error(what, index, psprintf("unknown field \"%s\"", key));
	}

	if (limit->limit == 0)
		ak_limit_error(what, index, "\"limit\" is missing");
	if (limit->period_us == 0)
		ak_limit_error(what, index, "\"period\" is missing");
	if (limit->burst == 0)
		limit->burst = limit->limit;
	ak_limit_validate(limit, what, index);
	limit->tag = ak_limit_tag(limit);
	limit->window_s = ak_limit_window_s(limit);
}

/* The longest an empty bucket of this limit takes to refill. */
static int128
ak_limit_horizon_us(const AkLimit *limit)
{
	return (int128) limit->burst * limit->period_us / limit->limit;
}

/*
 * Checks the ranges of a limit however it was given (JSON, throttle()
 * arguments): limit and burst in [1, 10^9], period in [1 ms, 366 days],
 * and a bucket that refills from empty within 100 years.
 */
void
ak_limit_validate(const AkLimit *limit, const char *what, int index)
{
	if (limit->limit < 1 || limit->limit > AK_MAX_LIMIT_VALUE)
		ak_limit_error(what, index, "the limit must be a whole number between 1 and 1000000000");
	if (limit->burst < 1 || limit->burst > AK_MAX_LIMIT_VALUE)
		ak_limit_error(what, index, "the burst must be a whole number between 1 and 1000000000");
	if (limit->period_us < AK_MIN_PERIOD_US || limit->period_us > AK_MAX_PERIOD_US)
		ak_limit_error(what, index, "the period must be between 1 millisecond and 366 days");
	if (ak_limit_horizon_us(limit) > AK_MAX_HORIZON_US)
		ak_limit_error(what, index, "an empty bucket would take more than 100 years to refill (burst * period / limit)");
}

/*
 * The tag of a limit: a hash of its name (never 0), so that reordering or
 * adding limits keeps each one's bucket.
 */
uint32
ak_limit_tag(const AkLimit *limit)
{
	return hash_bytes((const unsigned char *) limit->name, strlen(limit->name)) | 1;
}

/* The largest burst that keeps a limit's horizon within bounds. */
int64
ak_limit_max_burst(int64 limit, int64 period_us)
{
	return (int64) Min((int128) AK_MAX_HORIZON_US * limit / period_us,
					   (int128) AK_MAX_LIMIT_VALUE);
}

/*
 * Parses a rate-limit array into out[AK_MAX_LIMITS], raising 22023 for
 * anything invalid; "what" names the value in messages.  Returns the number
 * of limits (0 for an empty array: no rate limit at all).
 */
int
ak_limits_parse(Jsonb *spec, AkLimit *out, const char *what)
{
	int			n;

	if (!JB_ROOT_IS_ARRAY(spec) || JB_ROOT_IS_SCALAR(spec))
		ak_limit_error(what, -1, "it must be a JSON array of limits");

	n = JB_ROOT_COUNT(spec);
	if (n > AK_MAX_LIMITS)
		ak_limit_error(what, -1,
					   psprintf("at most %d limits are allowed", AK_MAX_LIMITS));

	for (int i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(&spec->root, i);

		if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
			ak_limit_error(what, i, "each limit must be a JSON object");
		ak_limit_parse_one(elem->val.binary.data, &out[i], i, what);

		for (int j = 0; j < i; j++)
			if (strcmp(out[j].name, out[i].name) == 0)
				ak_limit_error(what, i,
							   psprintf("the name \"%s\" is used twice", out[i].name));
	}
	return n;
}

/*
 * The RateLimit-Policy header of a list of limits (doc/apikey.md,
 * "Headers"): "<prefix><name>";q=<burst>;w=<seconds to fill>, ...
 * Computed once per cached key.
 */
char *
ak_limits_policy(const AkLimit *limits, int n, const char *prefix)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s\"%s%s\";q=" INT64_FORMAT ";w=" INT64_FORMAT,
						 i > 0 ? ", " : "", prefix ? prefix : "", limits[i].name,
						 limits[i].burst, ak_limit_window_s(&limits[i]));
	return buf.data;
}

/*
 * Moves the shadow limits after the others, each group in its order, and
 * returns how many are enforced: the limiter debits the enforced ones all
 * or nothing, and the shadow ones apart, after the request is admitted.
 */
int
ak_limits_shadow_last(AkLimit *limits, int n)
{
	AkLimit		shadow[AK_MAX_LIMITS];
	int			nenforced = 0;
	int			nshadow = 0;

	for (int i = 0; i < n; i++)
	{
		if (limits[i].shadow)
			shadow[nshadow++] = limits[i];
		else
			limits[nenforced++] = limits[i];
	}
	memcpy(&limits[nenforced], shadow, nshadow * sizeof(AkLimit));
	return nenforced;
}
