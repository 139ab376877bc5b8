/*
 * libFuzzer harness: the rate-limit JSON parser (src/core/limits.c, with
 * src/core/json.c's integer reader), fed JSON text.
 *
 * The parser walks a jsonb value with PostgreSQL's iterator.  The backend's
 * jsonb code is not linked here: this file parses the JSON text itself and
 * stands in for the four calls the parser makes -- JsonbIteratorInit and
 * JsonbIteratorNext (skipping nested values, as the parser asks),
 * getIthJsonbValueFromContainer, and the jsonb header the JB_ROOT_* macros
 * read -- plus numeric_out (a number's text as written) and interval_in
 * ("M D T": months, days and microseconds, else an error, so that every
 * interval, the extreme ones included, reaches the parser's arithmetic).
 *
 * Checks: the parser returns or raises its ERROR, nothing else; what it
 * accepts is within the documented ranges (doc/apikey.md, "Rate limits").
 */
#include "postgres.h"

#include <stdint.h>
#include <stdio.h>

#include "core/limits.h"
#include "datatype/timestamp.h"
#include "stubs.h"
#include "utils/jsonb.h"

#define MAX_DEPTH 32

typedef struct JNode
{
	enum { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT } kind;
	char	   *text;			/* number or string */
	int			len;
	bool		boolean;
	int			n;				/* members or elements */
	struct JNode **items;		/* for an object: key, value, key, value... */
} JNode;

typedef struct Parser
{
	const char *s;
	const char *end;
} Parser;

static JNode *parse_value(Parser *p, int depth);

static void
skip_ws(Parser *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\n' || *p->s == '\t' || *p->s == '\r'))
		p->s++;
}

static JNode *
new_node(int kind)
{
	JNode	   *n = palloc0(sizeof(JNode));

	n->kind = kind;
	return n;
}

/* a string without escapes but \" and \\ (enough to reach every field) */
static JNode *
parse_string(Parser *p)
{
	JNode	   *n = new_node(J_STRING);
	char	   *out = palloc(p->end - p->s + 1);
	int			len = 0;

	p->s++;
	while (p->s < p->end && *p->s != '"')
	{
		if (*p->s == '\\' && p->s + 1 < p->end)
			p->s++;
		if (*p->s == '\0')
			return NULL;
		out[len++] = *p->s++;
	}
	if (p->s >= p->end)
		return NULL;
	p->s++;
	out[len] = '\0';
	n->text = out;
	n->len = len;
	return n;
}

static JNode *
parse_number(Parser *p)
{
	const char *start = p->s;
	JNode	   *n = new_node(J_NUMBER);

	while (p->s < p->end && strchr("+-0123456789.eE", *p->s) != NULL && *p->s != '\0')
		p->s++;
	if (p->s == start)
		return NULL;
	n->text = pnstrdup(start, p->s - start);
	n->len = p->s - start;
	return n;
}

static bool
append(JNode *n, JNode *item)
{
	JNode	  **items = palloc((n->n + 1) * sizeof(JNode *));

	if (item == NULL)
		return false;
	if (n->n > 0)
		memcpy(items, n->items, n->n * sizeof(JNode *));
	items[n->n++] = item;
	n->items = items;
	return true;
}

static JNode *
parse_container(Parser *p, int depth, bool object)
{
	JNode	   *n = new_node(object ? J_OBJECT : J_ARRAY);
	char		close = object ? '}' : ']';

	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == close)
	{
		p->s++;
		return n;
	}
	for (;;)
	{
		skip_ws(p);
		if (object)
		{
			if (p->s >= p->end || *p->s != '"' || !append(n, parse_string(p)))
				return NULL;
			skip_ws(p);
			if (p->s >= p->end || *p->s++ != ':')
				return NULL;
		}
		if (!append(n, parse_value(p, depth + 1)))
			return NULL;
		skip_ws(p);
		if (p->s < p->end && *p->s == ',')
		{
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == close)
		{
			p->s++;
			if (object)
				n->n /= 2;
			return n;
		}
		return NULL;
	}
}

static JNode *
parse_value(Parser *p, int depth)
{
	skip_ws(p);
	if (p->s >= p->end || depth > MAX_DEPTH)
		return NULL;
	switch (*p->s)
	{
		case '{':
			return parse_container(p, depth, true);
		case '[':
			return parse_container(p, depth, false);
		case '"':
			return parse_string(p);
		case 't':
		case 'f':
		case 'n':
			{
				const char *word = *p->s == 't' ? "true" : *p->s == 'f' ? "false" : "null";
				size_t		len = strlen(word);
				JNode	   *n;

				if ((size_t) (p->end - p->s) < len || memcmp(p->s, word, len) != 0)
					return NULL;
				p->s += len;
				n = new_node(*word == 'n' ? J_NULL : J_BOOL);
				n->boolean = *word == 't';
				return n;
			}
		default:
			return parse_number(p);
	}
}

/* ---- the jsonb the parser sees ---- */

/*
 * A container: the header the macros read, then the node (memcpy'd: the
 * header is only 4-byte aligned).
 */
static JsonbContainer *
make_container(const JNode *n, char *at)
{
	uint32		header = n->n | (n->kind == J_OBJECT ? JB_FOBJECT : JB_FARRAY);

	memcpy(at, &header, sizeof(header));
	memcpy(at + sizeof(header), &n, sizeof(n));
	return (JsonbContainer *) at;
}

static const JNode *
container_node(JsonbContainer *c)
{
	const JNode *n;

	memcpy(&n, (char *) c + sizeof(uint32), sizeof(n));
	return n;
}

static void
set_value(JsonbValue *v, const JNode *n)
{
	memset(v, 0, sizeof(*v));
	switch (n->kind)
	{
		case J_NULL:
			v->type = jbvNull;
			break;
		case J_BOOL:
			v->type = jbvBool;
			v->val.boolean = n->boolean;
			break;
		case J_NUMBER:
			v->type = jbvNumeric;
			v->val.numeric = (Numeric) n->text;
			break;
		case J_STRING:
			v->type = jbvString;
			v->val.string.val = n->text;
			v->val.string.len = n->len;
			break;
		default:
			v->type = jbvBinary;
			v->val.binary.data = make_container(n, palloc(sizeof(uint32) + sizeof(n)));
			v->val.binary.len = 0;
	}
}

JsonbValue *
getIthJsonbValueFromContainer(JsonbContainer *c, uint32 i)
{
	const JNode *n = container_node(c);
	JsonbValue *v;

	if (n->kind != J_ARRAY || i >= (uint32) n->n)
		return NULL;
	v = palloc(sizeof(JsonbValue));
	set_value(v, n->items[i]);
	return v;
}

typedef struct FakeIterator
{
	const JNode *node;
	int			step;			/* -1: not begun; 2 per member; then end */
} FakeIterator;

JsonbIterator *
JsonbIteratorInit(JsonbContainer *c)
{
	FakeIterator *it = palloc(sizeof(FakeIterator));

	it->node = container_node(c);
	it->step = -1;
	return (JsonbIterator *) it;
}

/* An object's members (the only use the parser makes), nested values skipped. */
JsonbIteratorToken
JsonbIteratorNext(JsonbIterator **iterator, JsonbValue *v, bool skipNested)
{
	FakeIterator *it = (FakeIterator *) *iterator;
	const JNode *n = it->node;
	int			step = it->step++;

	FUZZ_CHECK(skipNested && n->kind == J_OBJECT);
	if (step == -1)
		return WJB_BEGIN_OBJECT;
	if (step < 2 * n->n)
	{
		set_value(v, n->items[step]);
		return step % 2 == 0 ? WJB_KEY : WJB_VALUE;
	}
	if (step == 2 * n->n)
		return WJB_END_OBJECT;
	*iterator = NULL;
	return WJB_DONE;
}

Datum
numeric_out(PG_FUNCTION_ARGS)
{
	return CStringGetDatum(pstrdup((const char *) PG_GETARG_POINTER(0)));
}

Datum
interval_in(PG_FUNCTION_ARGS)
{
	const char *s = PG_GETARG_CSTRING(0);
	Interval   *i = palloc0(sizeof(Interval));
	long long	t;
	char		rest;

	if (sscanf(s, "%d %d %lld%c", &i->month, &i->day, &t, &rest) != 3)
		ereport(ERROR, (errcode(ERRCODE_INVALID_DATETIME_FORMAT),
						errmsg("invalid input syntax for type interval: \"%s\"", s)));
	i->time = t;
	return PointerGetDatum(i);
}

/* ---- the harness ---- */

static void
check_limit(const AkLimit *l)
{
	FUZZ_CHECK(l->limit >= 1 && l->limit <= 1000000000);
	FUZZ_CHECK(l->burst >= 1 && l->burst <= 1000000000);
	FUZZ_CHECK(l->period_us >= 1000 && l->period_us <= INT64CONST(366) * USECS_PER_DAY);
	FUZZ_CHECK((int128) l->burst * l->period_us / l->limit <= (int128) 100 * 366 * USECS_PER_DAY);
	FUZZ_CHECK(strlen(l->name) >= 1 && strlen(l->name) <= 32);
	FUZZ_CHECK(strspn(l->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == strlen(l->name));
	FUZZ_CHECK(l->tag != 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Parser		p = {(const char *) data, (const char *) data + size};
	JNode	   *root = parse_value(&p, 0);
	char	   *jsonb;
	AkLimit		limits[AK_MAX_LIMITS];
	int			n = -1;

	if (root != NULL)
	{
		uint32		header = root->kind == J_ARRAY || root->kind == J_OBJECT ? 0 : JB_FSCALAR | JB_FARRAY | 1;

		jsonb = palloc(VARHDRSZ + sizeof(uint32) + sizeof(root));
		SET_VARSIZE(jsonb, VARHDRSZ + sizeof(uint32) + sizeof(root));
		if (header == 0)
			make_container(root, jsonb + VARHDRSZ);
		else
		{
			/* a scalar is a one-element array flagged as scalar */
			JNode	   *wrap = new_node(J_ARRAY);

			append(wrap, root);
			make_container(wrap, jsonb + VARHDRSZ);
			memcpy(jsonb + VARHDRSZ, &header, sizeof(header));
		}
		if (FUZZ_TRY(n = ak_limits_parse((Jsonb *) jsonb, limits, "rate_limits")))
		{
			FUZZ_CHECK(n >= 0 && n <= AK_MAX_LIMITS);
			for (int i = 0; i < n; i++)
			{
				check_limit(&limits[i]);
				for (int j = 0; j < i; j++)
					FUZZ_CHECK(strcmp(limits[i].name, limits[j].name) != 0);
			}
			(void) ak_limits_policy(limits, n);
		}
	}
	fuzz_free_all();
	return 0;
}
