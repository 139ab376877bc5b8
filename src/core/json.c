/*-------------------------------------------------------------------------
 *
 * json.c
 *	  Small JSON needs of apikey.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "common/jsonapi.h"
#include "core/json.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/numeric.h"


/* ---- one top-level field of a JSON object, from untrusted text ---- */

typedef struct AkJsonField
{
	const char *field;
	int			depth;
	bool		in_field;
	char	   *value;
} AkJsonField;

static AK_JSON_ACTION
ak_json_object_start(void *state)
{
	((AkJsonField *) state)->depth++;
	AK_JSON_ACTION_DONE;
}

static AK_JSON_ACTION
ak_json_object_end(void *state)
{
	((AkJsonField *) state)->depth--;
	AK_JSON_ACTION_DONE;
}

static AK_JSON_ACTION
ak_json_field_start(void *state, char *fname, bool isnull)
{
	AkJsonField *f = (AkJsonField *) state;

	f->in_field = (f->depth == 1 && strcmp(fname, f->field) == 0);
	AK_JSON_ACTION_DONE;
}

static AK_JSON_ACTION
ak_json_scalar(void *state, char *token, JsonTokenType tokentype)
{
	AkJsonField *f = (AkJsonField *) state;

	if (f->in_field && f->depth == 1)
	{
		/* the last occurrence wins, as in PostgREST's JSON decoding */
		f->value = (tokentype == JSON_TOKEN_NULL) ? NULL : pstrdup(token);
		f->in_field = false;
	}
	AK_JSON_ACTION_DONE;
}

/*
 * The value of a top-level scalar field of a JSON object as text, or NULL
 * when the text is not JSON, not an object, or has no such scalar.  Never
 * raises an error: request settings come from outside.
 */
char *
ak_json_get_string(const char *json, const char *field)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	AkJsonField state;

	if (json == NULL || *json == '\0')
		return NULL;

	memset(&state, 0, sizeof(state));
	state.field = field;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &state;
	sem.object_start = ak_json_object_start;
	sem.object_end = ak_json_object_end;
	sem.object_field_start = ak_json_field_start;
	sem.scalar = ak_json_scalar;

	lex = ak_make_json_lex(unconstify(char *, json), strlen(json));
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return NULL;
	return state.value;
}


/* ---- an integer of a jsonb value ---- */

/*
 * Whether v is a whole number within [min, max]; if so, *out is it.
 */
bool
ak_jsonb_integer(const JsonbValue *v, int64 min, int64 max, int64 *out)
{
	char	   *text;
	char	   *end;
	long long	value;

	if (v->type != jbvNumeric)
		return false;
	text = DatumGetCString(DirectFunctionCall1(numeric_out,
											   NumericGetDatum(v->val.numeric)));
	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || value < min || value > max)
		return false;
	*out = value;
	return true;
}


/* ---- a JSON object, member by member ---- */

static void
ak_json_key(AkJsonObject *j, const char *key)
{
	if (j->buf.data == NULL)
	{
		initStringInfo(&j->buf);
		appendStringInfoChar(&j->buf, '{');
	}
	else
		appendStringInfoString(&j->buf, ", ");
	escape_json(&j->buf, key);
	appendStringInfoString(&j->buf, ": ");
}

/* A string member; NULL for null. */
void
ak_json_add_string(AkJsonObject *j, const char *key, const char *value)
{
	ak_json_key(j, key);
	if (value)
		escape_json(&j->buf, value);
	else
		appendStringInfoString(&j->buf, "null");
}

/* A member whose value is JSON already (NULL for null). */
void
ak_json_add_raw(AkJsonObject *j, const char *key, const char *json)
{
	ak_json_key(j, key);
	appendStringInfoString(&j->buf, json ? json : "null");
}

char *
ak_json_finish(AkJsonObject *j)
{
	if (j->buf.data == NULL)
	{
		initStringInfo(&j->buf);
		appendStringInfoChar(&j->buf, '{');
	}
	appendStringInfoChar(&j->buf, '}');
	return j->buf.data;
}
