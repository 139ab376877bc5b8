/*-------------------------------------------------------------------------
 *
 * token.c
 *	  The token format (doc/apikey.md, "Tokens").
 *
 *	  token = <prefix> "_" <32 random base62> <6 base62 CRC-32 digits>
 *
 * The checksum is the traditional CRC-32 (zlib's) of everything before it,
 * so verify() can reject typos and made-up strings without touching a
 * table, and secret scanners can recognise a real token offline.  The
 * random part carries 32 * log2(62) = 190.5 bits from randombytes_buf.
 * What is stored of a token is its digest (core/secret.c).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "access/detoast.h"
#include "auth/token.h"
#include "utils/pg_crc.h"

static const char ak_base62[] =
"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* ak_is_base62[c]: c is one of ak_base62 (a table: checked 38 times a token) */
static const bool ak_is_base62[256] = {
	['0'] = 1,['1'] = 1,['2'] = 1,['3'] = 1,['4'] = 1,['5'] = 1,['6'] = 1,
	['7'] = 1,['8'] = 1,['9'] = 1,
	['A'] = 1,['B'] = 1,['C'] = 1,['D'] = 1,['E'] = 1,['F'] = 1,['G'] = 1,
	['H'] = 1,['I'] = 1,['J'] = 1,['K'] = 1,['L'] = 1,['M'] = 1,['N'] = 1,
	['O'] = 1,['P'] = 1,['Q'] = 1,['R'] = 1,['S'] = 1,['T'] = 1,['U'] = 1,
	['V'] = 1,['W'] = 1,['X'] = 1,['Y'] = 1,['Z'] = 1,
	['a'] = 1,['b'] = 1,['c'] = 1,['d'] = 1,['e'] = 1,['f'] = 1,['g'] = 1,
	['h'] = 1,['i'] = 1,['j'] = 1,['k'] = 1,['l'] = 1,['m'] = 1,['n'] = 1,
	['o'] = 1,['p'] = 1,['q'] = 1,['r'] = 1,['s'] = 1,['t'] = 1,['u'] = 1,
	['v'] = 1,['w'] = 1,['x'] = 1,['y'] = 1,['z'] = 1,
};

/*
 * Is this a valid <prefix>: [a-z][a-z0-9]{0,15} ( _ [a-z0-9]{1,16} ){0,2} ?
 */
bool
ak_prefix_is_valid(const char *prefix, size_t len)
{
	int			underscores = 0;
	size_t		segment = 0;

	if (len == 0 || len > AK_PREFIX_MAX_LEN || prefix[0] < 'a' || prefix[0] > 'z')
		return false;

	for (size_t i = 0; i < len; i++)
	{
		char		c = prefix[i];

		if (c == '_')
		{
			if (segment == 0 || ++underscores > 2)
				return false;
			segment = 0;
		}
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		{
			if (++segment > 16)
				return false;
		}
		else
			return false;
	}
	return segment > 0;
}

static uint32
ak_crc32(const char *data, size_t len)
{
	pg_crc32	crc;

	INIT_TRADITIONAL_CRC32(crc);
	COMP_TRADITIONAL_CRC32(crc, data, len);
	FIN_TRADITIONAL_CRC32(crc);
	return crc;
}

/* Writes v as AK_CHECKSUM_LEN base62 digits, most significant first. */
static void
ak_checksum_digits(uint32 v, char *out)
{
	for (int i = AK_CHECKSUM_LEN - 1; i >= 0; i--)
	{
		out[i] = ak_base62[v % 62];
		v /= 62;
	}
}

/*
 * Shape and checksum test, with no table access.  On success *prefix_len is
 * the length of <prefix> (the token's last AK_BODY_LEN bytes are the body,
 * preceded by '_').
 */
bool
ak_token_is_well_formed(const char *token, size_t len, size_t *prefix_len)
{
	const char *body;
	size_t		plen;
	char		expected[AK_CHECKSUM_LEN];

	if (len < 1 + 1 + AK_BODY_LEN || len > AK_TOKEN_MAX_LEN)
		return false;

	body = token + len - AK_BODY_LEN;
	if (body[-1] != '_')
		return false;

	plen = len - AK_BODY_LEN - 1;
	if (!ak_prefix_is_valid(token, plen))
		return false;

	{
		bool		base62 = true;

		for (int i = 0; i < AK_BODY_LEN; i++)
			base62 &= ak_is_base62[(unsigned char) body[i]];
		if (!base62)
			return false;
	}

	ak_checksum_digits(ak_crc32(token, plen + 1 + AK_RANDOM_LEN), expected);
	if (memcmp(expected, body + AK_RANDOM_LEN, AK_CHECKSUM_LEN) != 0)
		return false;

	*prefix_len = plen;
	return true;
}

/*
 * Fills out[0 .. n) with uniformly distributed base62 characters taken from
 * randombytes_buf: bytes >= 248 (= 4 * 62) are discarded so that the
 * modulo introduces no bias.
 */
static void
ak_random_base62(char *out, int n)
{
	unsigned char pool[64];
	int			filled = 0;

	while (filled < n)
	{
		randombytes_buf(pool, sizeof(pool));
		for (size_t i = 0; i < sizeof(pool) && filled < n; i++)
			if (pool[i] < 248)
				out[filled++] = ak_base62[pool[i] % 62];
	}
	sodium_memzero(pool, sizeof(pool));
}

/*
 * Writes a new token with the given (valid) prefix into out, which must
 * have room for prefix_len + 1 + AK_BODY_LEN + 1 bytes.
 */
void
ak_token_generate(const char *prefix, size_t prefix_len, char *out)
{
	char	   *body = out + prefix_len + 1;

	Assert(ak_prefix_is_valid(prefix, prefix_len));
	memcpy(out, prefix, prefix_len);
	out[prefix_len] = '_';
	ak_random_base62(body, AK_RANDOM_LEN);
	ak_checksum_digits(ak_crc32(out, prefix_len + 1 + AK_RANDOM_LEN),
					   body + AK_RANDOM_LEN);
	body[AK_BODY_LEN] = '\0';
}

/*
 * The token argument of a function, detoasted only if it can be a token at
 * all: a megabyte of text is MALFORMED without being decompressed.  NULL
 * for SQL NULL and for anything too long.
 */
text *
ak_token_arg(FunctionCallInfo fcinfo, int argno)
{
	Datum		d;

	if (PG_ARGISNULL(argno))
		return NULL;
	d = PG_GETARG_DATUM(argno);
	if (toast_raw_datum_size(d) - VARHDRSZ > AK_TOKEN_MAX_LEN)
		return NULL;
	return DatumGetTextPP(d);
}
