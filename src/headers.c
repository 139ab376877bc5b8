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
 * X-RateLimit-* that clients already read.)  Names and values are ASCII
 * without quotes to escape: limit names are [A-Za-z0-9_.:-] (limits.c).
 *
 * These run on every check(), so they write into a fixed buffer with
 * pg_lltoa instead of a formatting function, and ak_headers_jsonb writes
 * the jsonb binary form directly (see there).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
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


/* ---- writing values into the header set's buffer ---- */

static void
ak_put(AkHeaders *h, const char *s, int len)
{
	Assert(h->used + len < AK_HEADER_STORAGE);
	memcpy(h->storage + h->used, s, len);
	h->used += len;
}

static void
ak_put_int(AkHeaders *h, int64 v)
{
	Assert(h->used + MAXINT8LEN < AK_HEADER_STORAGE);
	h->used += pg_lltoa(v, h->storage + h->used);
}

/* Starts a header whose value is written next into the buffer. */
static void
ak_header_begin(AkHeaders *h, const char *name)
{
	Assert(h->n < AK_MAX_HEADERS);
	h->name[h->n] = name;
	h->value[h->n] = h->storage + h->used;
}

static void
ak_header_end(AkHeaders *h)
{
	h->value_len[h->n] = (h->storage + h->used) - h->value[h->n];
	h->n++;
}

/* A header whose value lives elsewhere (and outlives the header set). */
void
ak_header_add(AkHeaders *h, const char *name, const char *value)
{
	Assert(h->n < AK_MAX_HEADERS);
	h->name[h->n] = name;
	h->value[h->n] = value;
	h->value_len[h->n] = strlen(value);
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
	h->used = 0;
	if (report != NULL && report->nlimits > 0)
	{
		const AkLimit *r = &report->limits[report->restrictive];
		const AkLimitOutcome *o = &report->outcome[report->restrictive];

		ak_header_add(h, "RateLimit-Policy",
					  report->policy ? report->policy
					  : ak_policy_header(report->limits, report->nlimits));

		ak_header_begin(h, "RateLimit");
		for (int i = 0; i < report->nlimits; i++)
		{
			const char *name = report->limits[i].name;

			if (i > 0)
				ak_put(h, ", ", 2);
			ak_put(h, "\"", 1);
			ak_put(h, name, strlen(name));
			ak_put(h, "\";r=", 4);
			ak_put_int(h, report->outcome[i].remaining);
			ak_put(h, ";t=", 3);
			ak_put_int(h, ak_seconds_ceil(report->outcome[i].full_in_us));
		}
		ak_header_end(h);

		ak_header_begin(h, "X-RateLimit-Limit");
		ak_put_int(h, r->burst);
		ak_header_end(h);
		ak_header_begin(h, "X-RateLimit-Remaining");
		ak_put_int(h, o->remaining);
		ak_header_end(h);
		ak_header_begin(h, "X-RateLimit-Reset");
		ak_put_int(h, ak_unix_seconds_ceil(now_us + o->full_in_us));
		ak_header_end(h);
	}
	if (retry_after_us >= 0)
	{
		ak_header_begin(h, "Retry-After");
		ak_put_int(h, Max(ak_seconds_ceil(retry_after_us), 1));
		ak_header_end(h);
	}
}


/* ---- as jsonb ---- */

/* jsonb's key order: shorter first, then bytewise (lengthCompareJsonbStringValue). */
static bool
ak_key_before(const char *a, int alen, const char *b, int blen)
{
	return alen != blen ? alen < blen : memcmp(a, b, alen) < 0;
}

/*
 * The headers as a JSON object of strings, written directly in jsonb's
 * binary form -- the on-disk format, stable across releases since 9.4
 * (pg_upgrade relies on it):
 *
 *	  varlena header | uint32 count|JB_FOBJECT | JEntry[2 * count] | bytes
 *
 * keys first, sorted as jsonb sorts them, then the values in the same
 * order; each JEntry holds a string's length, every JB_OFFSET_STRIDE'th one
 * the end offset instead (flagged JENTRY_HAS_OFF).  Strings are stored as
 * they are, unescaped and unpadded.  This is what pushJsonbValue followed by
 * JsonbValueToJsonb produces for such an object, for a tenth of the work;
 * the regression tests compare it with a parsed copy of itself.
 * Names must be distinct.
 */
Jsonb *
ak_headers_jsonb(const AkHeaders *h)
{
	int			order[AK_MAX_HEADERS];
	int			name_len[AK_MAX_HEADERS];
	Size		bytes = 0;
	Size		size;
	Jsonb	   *jb;
	JEntry	   *entry;
	char	   *data;
	uint32		end = 0;

	for (int i = 0; i < h->n; i++)
	{
		int			j;

		name_len[i] = strlen(h->name[i]);
		bytes += name_len[i] + h->value_len[i];
		/* insertion sort of at most AK_MAX_HEADERS names */
		for (j = i; j > 0 && ak_key_before(h->name[i], name_len[i],
										   h->name[order[j - 1]],
										   name_len[order[j - 1]]); j--)
			order[j] = order[j - 1];
		order[j] = i;
	}

	size = VARHDRSZ + sizeof(uint32) + 2 * h->n * sizeof(JEntry) + bytes;
	jb = (Jsonb *) palloc(size);
	SET_VARSIZE(jb, size);
	jb->root.header = (uint32) h->n | JB_FOBJECT;
	entry = jb->root.children;
	data = (char *) &entry[2 * h->n];

	for (int k = 0; k < 2 * h->n; k++)
	{
		int			i = order[k % h->n];
		const char *s = k < h->n ? h->name[i] : h->value[i];
		int			len = k < h->n ? name_len[i] : h->value_len[i];

		memcpy(data + end, s, len);
		end += len;
		entry[k] = JENTRY_ISSTRING |
			((k % JB_OFFSET_STRIDE) == 0 ? (JENTRY_HAS_OFF | end) : (uint32) len);
	}
	return jb;
}
