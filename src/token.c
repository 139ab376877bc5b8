/*-------------------------------------------------------------------------
 *
 * token.c
 *	  The token format (contract §3) and the cryptography behind it.
 *
 *	  token = <prefix> "_" <32 random base62> <6 base62 CRC-32 digits>
 *
 * The checksum is the traditional CRC-32 (zlib's) of everything before it,
 * so verify() can reject typos and made-up strings without touching a
 * table, and secret scanners can recognise a real token offline.  The
 * random part carries 32 * log2(62) = 190.5 bits from randombytes_buf.
 *
 * Only a BLAKE2b-256 digest of the whole token is ever stored.  It is keyed
 * with the server pepper when apikey.pepper_file is set, so a stolen copy
 * of the keys table cannot even be used to test guesses offline.  Tokens
 * have 190 bits of entropy, so a slow password hash would buy nothing and
 * cap verification at a few dozen per second.
 *
 * The pepper and the static development key live in process memory only:
 * the pepper in sodium_malloc'd pages made read-only, the static key as
 * its digest (the GUC itself shows "blake2b:<hex>", never the token).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include <sodium.h>

#include "apikey.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/pg_crc.h"

#define AK_STATIC_DIGEST_TAG "blake2b:"

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

static unsigned char *ak_pepper = NULL; /* AK_PEPPER_LEN bytes, or NULL */

static char *ak_static_key_guc = NULL;
static bool ak_static_enabled = false;
static uint8 ak_static_digest[AK_HASH_LEN];


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

/* The stored form of a token: BLAKE2b-256, keyed with the pepper if any. */
void
ak_token_hash(const char *token, size_t len, uint8 *out)
{
	crypto_generichash(out, AK_HASH_LEN,
					   (const unsigned char *) token, len,
					   ak_pepper, ak_pepper ? AK_PEPPER_LEN : 0);
}

/*
 * Reads the pepper (64 hexadecimal digits) into read-only guarded memory.
 * Called once, in the postmaster; a bad file stops the server from
 * starting, because keys hashed without the pepper would all be NOT_FOUND.
 */
void
ak_pepper_load(const char *path)
{
	FILE	   *file;
	struct stat st;
	char		buf[129];
	size_t		len;
	unsigned char *pepper;

	file = AllocateFile(path, "r");
	if (file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open apikey pepper file \"%s\": %m", path)));

	if (fstat(fileno(file), &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat apikey pepper file \"%s\": %m", path)));
	if (st.st_mode & (S_IWGRP | S_IROTH | S_IWOTH))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("apikey pepper file \"%s\" has group or world access", path),
				 errdetail("The file must not be writable by its group nor readable or writable by others."),
				 errhint("Run chmod 0600 on the file.")));

	len = fread(buf, 1, sizeof(buf) - 1, file);
	FreeFile(file);
	while (len > 0 && isspace((unsigned char) buf[len - 1]))
		len--;

	if (len != 2 * AK_PEPPER_LEN ||
		strspn(buf, "0123456789abcdefABCDEF") < len)
	{
		sodium_memzero(buf, sizeof(buf));
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("apikey pepper file \"%s\" is not valid", path),
				 errdetail("The file must hold exactly %d hexadecimal digits.",
						   2 * AK_PEPPER_LEN),
				 errhint("Create one with: openssl rand -hex %d", AK_PEPPER_LEN)));
	}

	pepper = sodium_malloc(AK_PEPPER_LEN);
	if (pepper == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	hex_decode(buf, len, (char *) pepper);
	sodium_memzero(buf, sizeof(buf));
	sodium_mprotect_readonly(pepper);
	ak_pepper = pepper;
}


/* ---- the static development key ---- */

bool
ak_static_key_enabled(void)
{
	return ak_static_enabled;
}

bool
ak_static_key_matches(const uint8 *hash)
{
	return ak_static_enabled &&
		sodium_memcmp(hash, ak_static_digest, AK_HASH_LEN) == 0;
}

static bool
ak_is_static_digest(const char *value)
{
	size_t		taglen = strlen(AK_STATIC_DIGEST_TAG);

	return strncmp(value, AK_STATIC_DIGEST_TAG, taglen) == 0 &&
		strlen(value + taglen) == 2 * AK_HASH_LEN &&
		strspn(value + taglen, "0123456789abcdef") == 2 * AK_HASH_LEN;
}

/*
 * Replaces the token by "blake2b:<hex digest>" so that SHOW, pg_settings
 * and every later copy of the setting hold the digest only.  A digest may
 * also be configured directly.
 */
static bool
ak_static_key_check(char **newval, void **extra, GucSource source)
{
	size_t		len;
	uint8		digest[AK_HASH_LEN];
	char		canonical[sizeof(AK_STATIC_DIGEST_TAG) + 2 * AK_HASH_LEN];
	char	   *copy;

	if (*newval == NULL || **newval == '\0' || ak_is_static_digest(*newval))
		return true;

	len = strlen(*newval);
	if (len < 16 || len > AK_TOKEN_MAX_LEN)
	{
		/* our own message: the default one would quote the secret */
		GUC_check_errmsg("invalid value for parameter \"apikey.static_key\"");
		GUC_check_errdetail("The static key must be between 16 and %d bytes long.",
							AK_TOKEN_MAX_LEN);
		return false;
	}

	ak_token_hash(*newval, len, digest);
	strcpy(canonical, AK_STATIC_DIGEST_TAG);
	hex_encode((const char *) digest, AK_HASH_LEN,
			   canonical + strlen(AK_STATIC_DIGEST_TAG));
	canonical[sizeof(canonical) - 1] = '\0';

	copy = ak_guc_strdup(canonical);
	if (copy == NULL)
		return false;
	sodium_memzero(*newval, len);
	ak_guc_free(*newval);
	*newval = copy;
	return true;
}

static void
ak_static_key_assign(const char *newval, void *extra)
{
	if (newval == NULL || *newval == '\0')
	{
		ak_static_enabled = false;
		return;
	}
	hex_decode(newval + strlen(AK_STATIC_DIGEST_TAG), 2 * AK_HASH_LEN,
			   (char *) ak_static_digest);
	ak_static_enabled = true;
}

/*
 * apikey.static_key, falling back to the APIKEY_STATIC_KEY environment
 * variable.  Must run after the pepper is loaded: the digest is keyed.
 */
void
ak_define_static_key_guc(void)
{
	const char *env = getenv("APIKEY_STATIC_KEY");

	DefineCustomStringVariable("apikey.static_key",
							   "A development key accepted without a row in apikey.keys.",
							   "Shown as its BLAKE2b digest. Empty disables it. "
							   "Also read from the APIKEY_STATIC_KEY environment variable at start.",
							   &ak_static_key_guc,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   ak_static_key_check, ak_static_key_assign, NULL);

	if (env != NULL && *env != '\0')
	{
		/* a value from the configuration file has priority and stays */
		SetConfigOption("apikey.static_key", env, PGC_POSTMASTER, PGC_S_ENV_VAR);
		/* keep it out of the environment of every process forked later */
		unsetenv("APIKEY_STATIC_KEY");
	}
}
