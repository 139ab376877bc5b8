/*-------------------------------------------------------------------------
 *
 * headerset.c
 *	  A small set of HTTP header names and values, which check() returns as
 *	  a JSON object and check_request() sends.  Names and values are ASCII
 *	  without quotes to escape.
 *
 * The writers are inline (headerset.h); ak_headers_jsonb writes the jsonb
 * binary form directly (see there).  This file depends on nothing else of
 * apikey: bench/floor compiles it into the interface floor.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "limit/headerset.h"
#include "utils/builtins.h"

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

	if (h->n == 0)
	{
		/* {}: a header and no entries */
		jb = (Jsonb *) palloc(VARHDRSZ + sizeof(uint32));
		SET_VARSIZE(jb, VARHDRSZ + sizeof(uint32));
		jb->root.header = JB_FOBJECT;
		return jb;
	}
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
