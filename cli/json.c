/*-------------------------------------------------------------------------
 *
 * json.c
 *	  pg_apikey: a small JSON parser (RFC 8259) and writer, to check the
 *	  JSON a user gives (--metadata, bulk-issue's JSON lines) and to write
 *	  it again, normalised, inside the JSON sent to the server.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <ctype.h>

#include "pg_apikey.h"

typedef struct JsonParser
{
	const char *s;
	size_t		len;
	size_t		pos;
	int			depth;
	char	   *err;
	size_t		errlen;
} JsonParser;

static JsonValue *json_value(JsonParser *p);

static JsonValue *
json_fail(JsonParser *p, const char *what)
{
	if (p->err[0] == '\0')
	{
		if (p->pos >= p->len)
			snprintf(p->err, p->errlen, "%s at the end of the line", what);
		else
			snprintf(p->err, p->errlen, "%s at character %zu", what, p->pos + 1);
	}
	return NULL;
}

static void
json_ws(JsonParser *p)
{
	while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos])
		p->pos++;
}

static JsonValue *
json_new(JsonType type)
{
	JsonValue  *v = pg_malloc(sizeof(JsonValue));

	memset(v, 0, sizeof(JsonValue));
	v->type = type;
	return v;
}

static int
hex4(const char *s)
{
	int			v = 0;

	for (int i = 0; i < 4; i++)
	{
		int			c = (unsigned char) s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static void
put_utf8(PQExpBuffer b, unsigned int cp)
{
	if (cp < 0x80)
		appendPQExpBufferChar(b, (char) cp);
	else if (cp < 0x800)
	{
		appendPQExpBufferChar(b, (char) (0xC0 | (cp >> 6)));
		appendPQExpBufferChar(b, (char) (0x80 | (cp & 0x3F)));
	}
	else if (cp < 0x10000)
	{
		appendPQExpBufferChar(b, (char) (0xE0 | (cp >> 12)));
		appendPQExpBufferChar(b, (char) (0x80 | ((cp >> 6) & 0x3F)));
		appendPQExpBufferChar(b, (char) (0x80 | (cp & 0x3F)));
	}
	else
	{
		appendPQExpBufferChar(b, (char) (0xF0 | (cp >> 18)));
		appendPQExpBufferChar(b, (char) (0x80 | ((cp >> 12) & 0x3F)));
		appendPQExpBufferChar(b, (char) (0x80 | ((cp >> 6) & 0x3F)));
		appendPQExpBufferChar(b, (char) (0x80 | (cp & 0x3F)));
	}
}

/* A string literal, decoded; p->pos is at the opening quote. */
static char *
json_string(JsonParser *p)
{
	PQExpBufferData b;

	initPQExpBuffer(&b);
	p->pos++;
	for (;;)
	{
		unsigned char c;

		if (p->pos >= p->len)
		{
			json_fail(p, "unterminated string");
			goto bad;
		}
		c = (unsigned char) p->s[p->pos];
		if (c == '"')
		{
			p->pos++;
			return b.data;
		}
		if (c < 0x20)
		{
			json_fail(p, "control character in a string");
			goto bad;
		}
		if (c != '\\')
		{
			appendPQExpBufferChar(&b, (char) c);
			p->pos++;
			continue;
		}
		if (p->pos + 1 >= p->len)
		{
			json_fail(p, "unterminated string");
			goto bad;
		}
		p->pos++;
		switch (p->s[p->pos])
		{
			case '"':
				appendPQExpBufferChar(&b, '"');
				break;
			case '\\':
				appendPQExpBufferChar(&b, '\\');
				break;
			case '/':
				appendPQExpBufferChar(&b, '/');
				break;
			case 'b':
				appendPQExpBufferChar(&b, '\b');
				break;
			case 'f':
				appendPQExpBufferChar(&b, '\f');
				break;
			case 'n':
				appendPQExpBufferChar(&b, '\n');
				break;
			case 'r':
				appendPQExpBufferChar(&b, '\r');
				break;
			case 't':
				appendPQExpBufferChar(&b, '\t');
				break;
			case 'u':
				{
					int			cp = p->pos + 5 <= p->len ? hex4(p->s + p->pos + 1) : -1;

					if (cp < 0)
					{
						json_fail(p, "bad \\u escape");
						goto bad;
					}
					p->pos += 4;
					if (cp == 0)
					{
						json_fail(p, "\\u0000 is not allowed");
						goto bad;
					}
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						int			lo = (p->pos + 7 <= p->len && p->s[p->pos + 1] == '\\' &&
										  p->s[p->pos + 2] == 'u')
						? hex4(p->s + p->pos + 3) : -1;

						if (lo < 0xDC00 || lo > 0xDFFF)
						{
							json_fail(p, "unpaired surrogate in a \\u escape");
							goto bad;
						}
						p->pos += 6;
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					else if (cp >= 0xDC00 && cp <= 0xDFFF)
					{
						json_fail(p, "unpaired surrogate in a \\u escape");
						goto bad;
					}
					put_utf8(&b, (unsigned int) cp);
					break;
				}
			default:
				json_fail(p, "bad escape in a string");
				goto bad;
		}
		p->pos++;
	}
bad:
	termPQExpBuffer(&b);
	return NULL;
}

static JsonValue *
json_number(JsonParser *p)
{
	size_t		start = p->pos;
	const char *s = p->s;
	JsonValue  *v;

#define DIGIT(i) ((i) < p->len && isdigit((unsigned char) s[i]))
	if (p->pos < p->len && s[p->pos] == '-')
		p->pos++;
	if (!DIGIT(p->pos))
		return json_fail(p, "invalid number");
	if (s[p->pos] == '0')
		p->pos++;
	else
		while (DIGIT(p->pos))
			p->pos++;
	if (p->pos < p->len && s[p->pos] == '.')
	{
		p->pos++;
		if (!DIGIT(p->pos))
			return json_fail(p, "invalid number");
		while (DIGIT(p->pos))
			p->pos++;
	}
	if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E'))
	{
		p->pos++;
		if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
			p->pos++;
		if (!DIGIT(p->pos))
			return json_fail(p, "invalid number");
		while (DIGIT(p->pos))
			p->pos++;
	}
#undef DIGIT
	v = json_new(JV_NUMBER);
	v->str = pnstrdup(s + start, p->pos - start);
	return v;
}

static JsonValue *
json_container(JsonParser *p, bool object)
{
	JsonValue  *v = json_new(object ? JV_OBJECT : JV_ARRAY);
	int			cap = 0;
	char		close = object ? '}' : ']';

	if (++p->depth > 64)
	{
		json_free(v);
		return json_fail(p, "too deeply nested");
	}
	p->pos++;
	json_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close)
	{
		p->pos++;
		p->depth--;
		return v;
	}
	for (;;)
	{
		char	   *key = NULL;
		JsonValue  *item;

		json_ws(p);
		if (object)
		{
			if (p->pos >= p->len || p->s[p->pos] != '"')
			{
				json_free(v);
				return json_fail(p, "expected a member name in double quotes");
			}
			if ((key = json_string(p)) == NULL)
			{
				json_free(v);
				return NULL;
			}
			json_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
			{
				free(key);
				json_free(v);
				return json_fail(p, "expected ':'");
			}
			p->pos++;
		}
		if ((item = json_value(p)) == NULL)
		{
			free(key);
			json_free(v);
			return NULL;
		}
		if (v->n == cap)
		{
			cap = cap ? cap * 2 : 4;
			v->items = pg_realloc(v->items, sizeof(JsonValue *) * (size_t) cap);
			if (object)
				v->keys = pg_realloc(v->keys, sizeof(char *) * (size_t) cap);
		}
		v->items[v->n] = item;
		if (object)
			v->keys[v->n] = key;
		v->n++;
		json_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',')
		{
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == close)
		{
			p->pos++;
			p->depth--;
			return v;
		}
		json_free(v);
		return json_fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static JsonValue *
json_value(JsonParser *p)
{
	static const char *const words[] = {"null", "true", "false"};

	json_ws(p);
	if (p->pos >= p->len)
		return json_fail(p, "expected a value");
	switch (p->s[p->pos])
	{
		case '{':
			return json_container(p, true);
		case '[':
			return json_container(p, false);
		case '"':
			{
				char	   *s = json_string(p);
				JsonValue  *v;

				if (s == NULL)
					return NULL;
				v = json_new(JV_STRING);
				v->str = s;
				return v;
			}
		default:
			break;
	}
	for (int i = 0; i < 3; i++)
	{
		size_t		n = strlen(words[i]);

		if (p->len - p->pos >= n && strncmp(p->s + p->pos, words[i], n) == 0)
		{
			JsonValue  *v = json_new(i == 0 ? JV_NULL : JV_BOOL);

			v->str = pg_strdup(words[i]);
			p->pos += n;
			return v;
		}
	}
	if (p->s[p->pos] == '-' || isdigit((unsigned char) p->s[p->pos]))
		return json_number(p);
	return json_fail(p, "expected a value");
}

JsonValue *
json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	JsonParser	p = {text, len, 0, 0, err, errlen};
	JsonValue  *v;

	err[0] = '\0';
	if ((v = json_value(&p)) == NULL)
		return NULL;
	json_ws(&p);
	if (p.pos < p.len)
	{
		json_free(v);
		return json_fail(&p, "unexpected text after the value");
	}
	return v;
}

void
json_serialize(PQExpBuffer b, const JsonValue *v)
{
	switch (v->type)
	{
		case JV_NULL:
		case JV_BOOL:
		case JV_NUMBER:
			appendPQExpBufferStr(b, v->str);
			break;
		case JV_STRING:
			json_escape(b, v->str);
			break;
		case JV_ARRAY:
		case JV_OBJECT:
			appendPQExpBufferChar(b, v->type == JV_OBJECT ? '{' : '[');
			for (int i = 0; i < v->n; i++)
			{
				if (i > 0)
					appendPQExpBufferStr(b, ", ");
				if (v->type == JV_OBJECT)
				{
					json_escape(b, v->keys[i]);
					appendPQExpBufferStr(b, ": ");
				}
				json_serialize(b, v->items[i]);
			}
			appendPQExpBufferChar(b, v->type == JV_OBJECT ? '}' : ']');
			break;
	}
}

void
json_free(JsonValue *v)
{
	if (v == NULL)
		return;
	for (int i = 0; i < v->n; i++)
	{
		json_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
}
