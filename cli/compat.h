/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every PostgreSQL-version-specific branch of pg_apikey lives here: the
 *	  client-side counterpart of src/compat.h, for the front-end headers
 *	  (postgres_fe.h, common/jsonapi.h) a client program builds against.
 *
 * pg_apikey is built against the headers of PostgreSQL 15 to 18; no other
 * file of cli/ tests PG_VERSION_NUM.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_APIKEY_COMPAT_H
#define PG_APIKEY_COMPAT_H

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "pg_apikey supports PostgreSQL 15 to 18: build it with the pg_config of one of those (PG_CONFIG=...)"
#endif

/*
 * A function that never returns.  PostgreSQL 18's c.h defines pg_noreturn,
 * written before a declaration; older ones have pg_attribute_noreturn()
 * only, which GCC and Clang take in that place too.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * The JSON parser's semantic actions: PostgreSQL 16 made them return
 * JsonParseErrorType (JSON_SUCCESS: go on); before, they returned nothing.
 */
#if PG_VERSION_NUM >= 160000
typedef JsonParseErrorType ak_json_action_result;
#define AK_JSON_ACTION_DONE		return JSON_SUCCESS
#else
typedef void ak_json_action_result;
#define AK_JSON_ACTION_DONE		return
#endif

/*
 * A lexer over a UTF-8 text, and its release.  PostgreSQL 17 made
 * makeJsonLexContextCstringLen take the lexer to set up (NULL: allocate
 * one), its text const and its length a size_t, and added
 * freeJsonLexContext; before, the caller frees the lexer and its string.
 */
static inline JsonLexContext *
ak_json_lexer_new(const char *text, size_t len, bool need_escapes)
{
#if PG_VERSION_NUM >= 170000
	return makeJsonLexContextCstringLen(NULL, text, len, PG_UTF8, need_escapes);
#else
	return makeJsonLexContextCstringLen(unconstify(char *, text), (int) len,
										PG_UTF8, need_escapes);
#endif
}

static inline void
ak_json_lexer_free(JsonLexContext *lex)
{
#if PG_VERSION_NUM >= 170000
	freeJsonLexContext(lex);
#else
	if (lex->strval)
	{
		pfree(lex->strval->data);
		pfree(lex->strval);
	}
	pfree(lex);
#endif
}

#endif							/* PG_APIKEY_COMPAT_H */
