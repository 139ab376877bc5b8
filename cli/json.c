/*-------------------------------------------------------------------------
 *
 * json.c
 *	  pg_apikey: JSON text given by the user (--metadata, --set, the JSON
 *	  fields of a bulk-issue file and its JSON lines), read with the
 *	  frontend JSON parser of libpgcommon (common/jsonapi.h).
 *
 * Only what the commands need is kept: the top level's type and, for an
 * object, its members with the text of each value as written (it goes on
 * to the server inside a larger JSON text), a string's value, and the
 * strings of an array.  Errors are told in pg_apikey's words, by position,
 * never quoting the input.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <ctype.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "pg_apikey.h"

/* ---- a first pass: the lexer alone ---- */

/*
 * The parser recurses once per level and, in a client, checks no stack
 * depth: deeper texts are refused before it sees them.
 */
#define MAX_DEPTH 64

/* What the lexer alone finds, as far as it lexes; offsets, or -1. */
typedef struct JsonShape
{
	ptrdiff_t	too_deep;		/* where the nesting passes MAX_DEPTH */
	ptrdiff_t	value_end;		/* where the top-level value ends */
} JsonShape;

static JsonShape
json_shape(const char *text, size_t len)
{
	JsonLexContext *lex = ak_json_lexer_new(text, len, false);
	JsonShape	shape = {-1, -1};
	int			depth = 0;

	while (shape.too_deep < 0 && json_lex(lex) == JSON_SUCCESS &&
		   lex->token_type != JSON_TOKEN_END)
	{
		switch (lex->token_type)
		{
			case JSON_TOKEN_OBJECT_START:
			case JSON_TOKEN_ARRAY_START:
				if (++depth > MAX_DEPTH)
					shape.too_deep = lex->token_start - text;
				break;
			case JSON_TOKEN_OBJECT_END:
			case JSON_TOKEN_ARRAY_END:
				depth--;
				break;
			default:
				break;
		}
		if (depth == 0 && shape.value_end < 0)
			shape.value_end = lex->token_terminator - text;
	}
	ak_json_lexer_free(lex);
	return shape;
}

/* ---- the parser's semantic state ---- */

typedef struct JsonReader
{
	JsonLexContext *lex;
	JsonDoc    *doc;
	int			depth;			/* containers around what is read now */
	uint64		objects;		/* bit d - 1: the container at depth d is an object */
	JsonMember *member;			/* the top-level member being read */
	int			cap;
} JsonReader;

static bool
in_object(const JsonReader *r)
{
	return r->depth > 0 && (r->objects >> (r->depth - 1)) & 1;
}

/* ---- errors ---- */

/*
 * What was wanted after the token that ends at prev (NULL: none), inside
 * an object or not; NULL if that token does not tell.  The lexer fails on
 * a bad token before the parser says what it wanted there.
 */
static const char *
expected_after(const char *prev, bool object)
{
	switch (prev ? prev[-1] : '[')
	{
		case '[':
		case ':':
			return "expected a value";
		case '{':
			return "expected a member name in double quotes";
		case ',':
			return object ? "expected a member name in double quotes" : "expected a value";
		case '"':
			/* in an object, a member name or a value: either may follow */
			return object ? NULL : "expected ',' or ']'";
		default:
			return object ? "expected ',' or '}'" : "expected ',' or ']'";
	}
}

/* What went wrong, and whether the lexer's position is inside a string. */
static const char *
error_text(JsonParseErrorType error, const JsonReader *r, const char *before,
		   bool *in_string)
{
	const char *token = r->lex->token_start;

	*in_string = false;
	switch (error)
	{
		case JSON_ESCAPING_INVALID:
			return "bad escape in a string";
		case JSON_ESCAPING_REQUIRED:
			*in_string = true;
			return "control character in a string";
		case JSON_EXPECTED_OBJECT_FIRST:
		case JSON_EXPECTED_STRING:
			return "expected a member name in double quotes";
		case JSON_EXPECTED_COLON:
			return "expected ':'";
		case JSON_EXPECTED_OBJECT_NEXT:
			return "expected ',' or '}'";
		case JSON_EXPECTED_ARRAY_NEXT:
			return "expected ',' or ']'";
		case JSON_EXPECTED_END:
			return "unexpected text after the value";
		case JSON_INVALID_TOKEN:
			*in_string = token && *token == '"';
			if (*in_string)
				return "unterminated string";
			if (token && (*token == '-' || isdigit((unsigned char) *token)))
				return "invalid number";
			before = expected_after(before, in_object(r));
			return before ? before : "expected a value";
		case JSON_UNICODE_CODE_POINT_ZERO:
			return "\\u0000 is not allowed";
		case JSON_UNICODE_HIGH_SURROGATE:
		case JSON_UNICODE_LOW_SURROGATE:
			return "unpaired surrogate in a \\u escape";
		case JSON_UNICODE_ESCAPE_FORMAT:
		case JSON_UNICODE_HIGH_ESCAPE:
			*in_string = true;
			return "bad \\u escape";
		default:
			/* the array and value cases, and those of newer versions */
			return "expected a value";
	}
}

/*
 * "<what> at character N", or "... at the end of the line", into err.
 * (An error in what follows a whole value is that text being there.)
 */
static void
describe_error(JsonParseErrorType error, const JsonReader *r, JsonShape shape,
			   const char *text, size_t len, char *err, size_t errlen)
{
	const JsonLexContext *lex = r->lex;
	const char *before = lex->prev_token_terminator;
	const char *what;
	const char *where;
	bool		in_string;

	if (before == text)
		before = NULL;			/* no token before this one */
	if (lex->token_start && shape.value_end >= 0 &&
		lex->token_start - text >= shape.value_end)
		error = JSON_EXPECTED_END;
	if (error == JSON_EXPECTED_MORE)
	{
		what = expected_after(before, in_object(r));
		if (what)
			snprintf(err, errlen, "%s at the end of the line", what);
		else
			snprintf(err, errlen, "the text ends before the value does");
		return;
	}
	what = error_text(error, r, before, &in_string);
	where = in_string ? lex->token_terminator : lex->token_start;
	if (where == NULL || where >= text + len)
		snprintf(err, errlen, "%s at the end of the line", what);
	else
		snprintf(err, errlen, "%s at character %zu", what, (size_t) (where - text) + 1);
}

/* ---- reading ---- */

/* An object or array starts; the top level's or a member's type. */
static void
container_start(JsonReader *r, JsonTokenType type)
{
	r->depth++;
	if (type == JSON_TOKEN_OBJECT_START)
		r->objects |= UINT64CONST(1) << (r->depth - 1);
	else
		r->objects &= ~(UINT64CONST(1) << (r->depth - 1));
	if (r->depth == 1)
		r->doc->type = type;
	else if (r->depth == 2 && r->member)
	{
		r->member->type = type;
		r->member->all_strings = type == JSON_TOKEN_ARRAY_START;
	}
	else if (r->depth == 3 && r->member)
		r->member->all_strings = false; /* an array with a container in it */
}

static ak_json_action_result
object_start(void *state)
{
	container_start(state, JSON_TOKEN_OBJECT_START);
	AK_JSON_ACTION_DONE;
}

static ak_json_action_result
array_start(void *state)
{
	container_start(state, JSON_TOKEN_ARRAY_START);
	AK_JSON_ACTION_DONE;
}

static ak_json_action_result
container_end(void *state)
{
	((JsonReader *) state)->depth--;
	AK_JSON_ACTION_DONE;
}

/* A member of the top-level object: its name, and where its value starts. */
static ak_json_action_result
member_start(void *state, char *fname, bool isnull)
{
	JsonReader *r = state;
	JsonDoc    *doc = r->doc;

	(void) isnull;
	if (r->depth != 1)
		AK_JSON_ACTION_DONE;
	if (doc->nmembers == r->cap)
	{
		r->cap = r->cap ? r->cap * 2 : 8;
		doc->members = pg_realloc(doc->members, sizeof(JsonMember) * r->cap);
	}
	r->member = &doc->members[doc->nmembers++];
	memset(r->member, 0, sizeof(JsonMember));
	r->member->name = fname;
	r->member->text = r->lex->token_start;
	AK_JSON_ACTION_DONE;
}

/* The member's value is read: the text it spans. */
static ak_json_action_result
member_end(void *state, char *fname, bool isnull)
{
	JsonReader *r = state;

	(void) isnull;
	if (r->depth != 1)
	{
		pfree(fname);			/* (the same name member_start was given) */
		AK_JSON_ACTION_DONE;
	}
	r->member->len = r->lex->prev_token_terminator - r->member->text;
	r->member = NULL;
	AK_JSON_ACTION_DONE;
}

static ak_json_action_result
scalar(void *state, char *token, JsonTokenType type)
{
	JsonReader *r = state;
	JsonMember *m = r->member;

	if (r->depth == 0)
		r->doc->type = type;
	else if (r->depth == 1 && m)
	{
		m->type = type;
		if (type == JSON_TOKEN_STRING)
		{
			m->str = token;
			AK_JSON_ACTION_DONE;
		}
	}
	else if (r->depth == 2 && m && m->type == JSON_TOKEN_ARRAY_START)
	{
		if (type == JSON_TOKEN_STRING)
			simple_string_list_append(&m->strings, token);
		else
			m->all_strings = false;
	}
	pfree(token);
	AK_JSON_ACTION_DONE;
}

bool
json_read(const char *text, size_t len, JsonDoc *doc, char *err, size_t errlen)
{
	JsonReader	r = {0};
	JsonSemAction sem = {0};
	JsonParseErrorType result;
	JsonShape	shape = json_shape(text, len);

	memset(doc, 0, sizeof(JsonDoc));
	if (shape.too_deep >= 0)
	{
		snprintf(err, errlen, "too deeply nested at character %zu",
				 (size_t) shape.too_deep + 1);
		return false;
	}
	r.lex = ak_json_lexer_new(text, len, true);
	r.doc = doc;
	sem.semstate = &r;
	sem.object_start = object_start;
	sem.object_end = container_end;
	sem.array_start = array_start;
	sem.array_end = container_end;
	sem.object_field_start = member_start;
	sem.object_field_end = member_end;
	sem.scalar = scalar;
	result = pg_parse_json(r.lex, &sem);
	if (result != JSON_SUCCESS)
	{
		describe_error(result, &r, shape, text, len, err, errlen);
		json_doc_free(doc);
	}
	ak_json_lexer_free(r.lex);
	return result == JSON_SUCCESS;
}

void
json_doc_free(JsonDoc *doc)
{
	for (int i = 0; i < doc->nmembers; i++)
	{
		JsonMember *m = &doc->members[i];

		if (m->name)
			pfree(m->name);
		if (m->str)
			pfree(m->str);
		simple_string_list_destroy(&m->strings);
	}
	pg_free(doc->members);
	memset(doc, 0, sizeof(JsonDoc));
}
