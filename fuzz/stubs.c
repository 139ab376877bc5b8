/*
 * The backend functions the fuzzed files need, for the harnesses only:
 * palloc and friends on malloc (all freed after each input), the error
 * machinery (ereport(ERROR) jumps back to the harness), and StringInfo.
 * What a harness needs besides (jsonb, interval_in) is in its own file.
 */
#include "postgres.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "stubs.h"

sigjmp_buf *fuzz_error_jump = NULL;

/* ---- memory ---- */

static void **fuzz_blocks = NULL;
static size_t fuzz_nblocks = 0;
static size_t fuzz_cap = 0;

static void *
fuzz_track(void *p)
{
	if (p == NULL)
		abort();
	if (fuzz_nblocks == fuzz_cap)
	{
		fuzz_cap = fuzz_cap ? 2 * fuzz_cap : 256;
		fuzz_blocks = realloc(fuzz_blocks, fuzz_cap * sizeof(void *));
		if (fuzz_blocks == NULL)
			abort();
	}
	fuzz_blocks[fuzz_nblocks++] = p;
	return p;
}

void
fuzz_free_all(void)
{
	for (size_t i = 0; i < fuzz_nblocks; i++)
		free(fuzz_blocks[i]);
	fuzz_nblocks = 0;
}

void *
palloc(Size size)
{
	return fuzz_track(malloc(size ? size : 1));
}

void *
palloc0(Size size)
{
	return fuzz_track(calloc(1, size ? size : 1));
}

void
pfree(void *pointer)
{
	/* freed with the rest after the input */
}

char *
pstrdup(const char *in)
{
	return strcpy(palloc(strlen(in) + 1), in);
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out = palloc(len + 1);

	len = strnlen(in, len);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

static char *
fuzz_vprintf(const char *fmt, va_list args)
{
	va_list		copy;
	int			n;
	char	   *out;

	va_copy(copy, args);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	out = palloc(n + 1);
	vsnprintf(out, n + 1, fmt, args);
	return out;
}

char *
psprintf(const char *fmt,...)
{
	va_list		args;
	char	   *out;

	va_start(args, fmt);
	out = fuzz_vprintf(fmt, args);
	va_end(args);
	return out;
}

/* ---- StringInfo ---- */

void
initStringInfo(StringInfo str)
{
	str->data = palloc(1);
	str->data[0] = '\0';
	str->len = 0;
	str->maxlen = 1;
	str->cursor = 0;
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	size_t		n = strlen(s);
	char	   *data = palloc(str->len + n + 1);

	memcpy(data, str->data, str->len);
	memcpy(data + str->len, s, n + 1);
	str->data = data;
	str->len += n;
	str->maxlen = str->len + 1;
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	appendStringInfoString(str, fuzz_vprintf(fmt, args));
	va_end(args);
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	char		s[2] = {ch, '\0'};

	appendStringInfoString(str, s);
}

/* ---- errors ---- */

static int	fuzz_elevel;

bool
errstart(int elevel, const char *domain)
{
	fuzz_elevel = elevel;
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (fuzz_elevel < ERROR)
		return;
	if (fuzz_error_jump == NULL)
		fuzz_fail("an ERROR outside FUZZ_TRY", filename, lineno);
	siglongjmp(*fuzz_error_jump, 1);
}

int
errcode(int sqlerrcode)
{
	return 0;
}

#define FUZZ_FORMAT_ONLY(name) \
int \
name(const char *fmt,...) \
{ \
	va_list		args; \
	va_start(args, fmt); \
	(void) fuzz_vprintf(fmt, args); \
	va_end(args); \
	return 0; \
}
FUZZ_FORMAT_ONLY(errmsg)
FUZZ_FORMAT_ONLY(errmsg_internal)
FUZZ_FORMAT_ONLY(errdetail)
FUZZ_FORMAT_ONLY(errhint)

void
fuzz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "fuzz check failed: %s at %s:%d\n", what, file, line);
	abort();
}

/* ---- function calls ---- */

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	LOCAL_FCINFO(fcinfo, 1);

	InitFunctionCallInfoData(*fcinfo, NULL, 1, collation, NULL, NULL);
	fcinfo->args[0].value = arg1;
	fcinfo->args[0].isnull = false;
	return func(fcinfo);
}

Datum
DirectFunctionCall3Coll(PGFunction func, Oid collation, Datum arg1, Datum arg2,
						Datum arg3)
{
	LOCAL_FCINFO(fcinfo, 3);

	InitFunctionCallInfoData(*fcinfo, NULL, 3, collation, NULL, NULL);
	fcinfo->args[0].value = arg1;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = arg2;
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = arg3;
	fcinfo->args[2].isnull = false;
	return func(fcinfo);
}

/*
 * Called by the fuzzed files' other functions, which the harnesses do not
 * reach: reaching one is a failure.
 */
#define FUZZ_UNREACHABLE(ret, name, args) \
ret name args { fuzz_fail(#name " called", __FILE__, __LINE__); }

struct varlena;
struct JsonLexContext;
struct JsonSemAction;
FUZZ_UNREACHABLE(struct varlena *, pg_detoast_datum_packed, (struct varlena *datum))
FUZZ_UNREACHABLE(Size, toast_raw_datum_size, (Datum value))
FUZZ_UNREACHABLE(int, GetDatabaseEncoding, (void))
FUZZ_UNREACHABLE(void, escape_json, (StringInfo buf, const char *str))
FUZZ_UNREACHABLE(struct JsonLexContext *, makeJsonLexContextCstringLen,
				 (char *json, int len, int encoding, bool need_escapes))
FUZZ_UNREACHABLE(int, pg_parse_json, (struct JsonLexContext *lex, struct JsonSemAction *sem))

/*
 * The table of the traditional CRC-32 (IEEE 802.3, reflected polynomial
 * 0xEDB88320) that src/auth/token.c uses through utils/pg_crc.h; the
 * backend holds it, so the harnesses compute it at start.
 */
uint32		pg_crc32_table[256];

static void __attribute__((constructor))
fuzz_crc32_table(void)
{
	for (uint32 i = 0; i < 256; i++)
	{
		uint32		c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320 ^ (c >> 1) : c >> 1;
		pg_crc32_table[i] = c;
	}
}
