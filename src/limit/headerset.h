/*-------------------------------------------------------------------------
 *
 * headerset.h
 *	  A small set of HTTP header names and values, written without a
 *	  formatting function, and turned into a jsonb object (headerset.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_HEADERSET_H
#define AK_HEADERSET_H

#include "utils/builtins.h"
#include "utils/jsonb.h"

#define AK_MAX_HEADERS		8
#define AK_HEADER_STORAGE	4096	/* enough for every limit a request reports */

/* Header names and values; values are mostly written into storage. */
typedef struct AkHeaders
{
	int			n;
	const char *name[AK_MAX_HEADERS];
	const char *value[AK_MAX_HEADERS];
	int			value_len[AK_MAX_HEADERS];
	int			used;
	char		storage[AK_HEADER_STORAGE];
} AkHeaders;

extern Jsonb *ak_headers_jsonb(const AkHeaders *h);

/*
 * Writing headers, inline: these run several times per check(), so values
 * are written into the set's buffer with pg_lltoa instead of a formatting
 * function.
 */
static inline void
ak_headers_reset(AkHeaders *h)
{
	h->n = 0;
	h->used = 0;
}

/* A header whose value lives elsewhere (and outlives the header set). */
static inline void
ak_header_add(AkHeaders *h, const char *name, const char *value)
{
	Assert(h->n < AK_MAX_HEADERS);
	h->name[h->n] = name;
	h->value[h->n] = value;
	h->value_len[h->n] = strlen(value);
	h->n++;
}

/* Starts a header whose value is written next into the buffer. */
static inline void
ak_header_begin(AkHeaders *h, const char *name)
{
	Assert(h->n < AK_MAX_HEADERS);
	h->name[h->n] = name;
	h->value[h->n] = h->storage + h->used;
}

static inline void
ak_header_put(AkHeaders *h, const char *s, int len)
{
	Assert(h->used + len < AK_HEADER_STORAGE);
	memcpy(h->storage + h->used, s, len);
	h->used += len;
}

static inline void
ak_header_put_int(AkHeaders *h, int64 v)
{
	Assert(h->used + MAXINT8LEN < AK_HEADER_STORAGE);
	h->used += pg_lltoa(v, h->storage + h->used);
}

static inline void
ak_header_end(AkHeaders *h)
{
	h->value_len[h->n] = (h->storage + h->used) - h->value[h->n];
	h->n++;
}

#endif							/* AK_HEADERSET_H */
