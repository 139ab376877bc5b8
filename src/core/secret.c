/*-------------------------------------------------------------------------
 *
 * secret.c
 *	  The digests apikey stores instead of secrets.
 *
 * Only a BLAKE2b-256 digest of a token is ever stored.  It is keyed with
 * the server pepper when apikey.pepper_file is set, so a stolen copy of the
 * keys table cannot even be used to test guesses offline.  Tokens have 190
 * bits of entropy, so a slow password hash would buy nothing and cap
 * verification at a few dozen per second.
 *
 * The pepper and the static development key live in process memory only:
 * the pepper in sodium_malloc'd pages made read-only, loaded once in the
 * postmaster and inherited by every child; the static key as its digest
 * (the setting itself shows "blake2b:<hex>", never the token).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sys/stat.h>

#include <sodium.h>

#include "core/secret.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#define AK_STATIC_DIGEST_TAG "blake2b:"

static unsigned char *ak_pepper = NULL; /* AK_PEPPER_LEN bytes, or NULL */

static bool ak_static_enabled = false;
static uint8 ak_static_digest[AK_DIGEST_LEN];


/* The stored form of a secret: BLAKE2b-256, keyed with the pepper if any. */
void
ak_digest(const char *secret, size_t len, uint8 *out)
{
	crypto_generichash(out, AK_DIGEST_LEN,
					   (const unsigned char *) secret, len,
					   ak_pepper, ak_pepper ? AK_PEPPER_LEN : 0);
}

/*
 * Opens a file of secrets for reading, refusing one that its group may
 * write or others may read: what identifies it in messages is "what"
 * ("pepper", "signing key").  Called in the postmaster only.
 */
FILE *
ak_secret_file_open(const char *path, const char *what)
{
	FILE	   *file;
	struct stat st;

	file = AllocateFile(path, "r");
	if (file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open apikey %s file \"%s\": %m", what, path)));

	if (fstat(fileno(file), &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat apikey %s file \"%s\": %m", what, path)));
	if (st.st_mode & (S_IWGRP | S_IROTH | S_IWOTH))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("apikey %s file \"%s\" has group or world access", what, path),
				 errdetail("The file must not be writable by its group nor readable or writable by others."),
				 errhint("Run chmod 0600 on the file.")));
	return file;
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
	char		buf[129];
	size_t		len;
	unsigned char *pepper;

	file = ak_secret_file_open(path, "pepper");
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
ak_static_key_matches(const uint8 *digest)
{
	return ak_static_enabled &&
		sodium_memcmp(digest, ak_static_digest, AK_DIGEST_LEN) == 0;
}

static bool
ak_is_static_digest(const char *value)
{
	size_t		taglen = strlen(AK_STATIC_DIGEST_TAG);

	return strncmp(value, AK_STATIC_DIGEST_TAG, taglen) == 0 &&
		strlen(value + taglen) == 2 * AK_DIGEST_LEN &&
		strspn(value + taglen, "0123456789abcdef") == 2 * AK_DIGEST_LEN;
}

/*
 * Check hook of apikey.static_key: replaces the token by "blake2b:<hex
 * digest>" so that SHOW, pg_settings and every later copy of the setting
 * hold the digest only.  A digest may also be configured directly.  Must
 * run after the pepper is loaded: the digest is keyed.
 */
bool
ak_static_key_check(char **newval, void **extra, GucSource source)
{
	size_t		len;
	uint8		digest[AK_DIGEST_LEN];
	char		canonical[sizeof(AK_STATIC_DIGEST_TAG) + 2 * AK_DIGEST_LEN];
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

	ak_digest(*newval, len, digest);
	strcpy(canonical, AK_STATIC_DIGEST_TAG);
	hex_encode((const char *) digest, AK_DIGEST_LEN,
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

/* Assign hook of apikey.static_key: the digest, decoded once. */
void
ak_static_key_assign(const char *newval, void *extra)
{
	if (newval == NULL || *newval == '\0')
	{
		ak_static_enabled = false;
		return;
	}
	hex_decode(newval + strlen(AK_STATIC_DIGEST_TAG), 2 * AK_DIGEST_LEN,
			   (char *) ak_static_digest);
	ak_static_enabled = true;
}
