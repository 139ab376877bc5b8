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
#include "core/tokenpath.h"
#include "storage/fd.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"

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


/* ---- where secrets may come from (see secretsource.c) ---- */

static bool
ak_source_is_public(GucSource source)
{
	switch (source)
	{
		case PGC_S_ARGV:
		case PGC_S_GLOBAL:
		case PGC_S_DATABASE:
		case PGC_S_USER:
		case PGC_S_DATABASE_USER:
		case PGC_S_TEST:
			return true;
		default:
			return false;
	}
}

/*
 * A check hook was given a secret in clear: the statement that holds it,
 * if any (not the postmaster reading a file), is kept out of the log, even
 * if the value is then accepted, as on a token path.
 */
static void
ak_secret_in_statement(void)
{
	if (debug_query_string != NULL)
		AK_TOKEN_PATH_BEGIN();
}

/*
 * For the check hook of a setting holding a secret in clear: false, with
 * the reason, when it comes from a place other roles read.  digest_form,
 * when not NULL, is the value to use instead.
 */
bool
ak_secret_source_ok(const char *setting, GucSource source, const char *digest_form)
{
	if (!ak_source_is_public(source))
		return true;
	GUC_check_errmsg("%s cannot be set for a role, a database, a function or on the command line",
					 setting);
	GUC_check_errdetail("Role, database and function settings are readable by every role (pg_db_role_setting, pg_proc), and the command line by every user of the machine.");
	if (digest_form != NULL)
		GUC_check_errhint("Set it in postgresql.conf, or set its digest instead: '%s'.", digest_form);
	else
		GUC_check_errhint("Set it in postgresql.conf, or name a file holding it in apikey.jwt_secret_file.");
	return false;
}

/* Check hook of apikey.jwt_secret. */
bool
ak_jwt_secret_check(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || **newval == '\0')
		return true;
	ak_secret_in_statement();
	return ak_secret_source_ok("apikey.jwt_secret", source, NULL);
}


/* ---- the static development key ---- */

bool
ak_static_key_matches(const uint8 *digest)
{
	return ak_static_enabled &&
		sodium_memcmp(digest, ak_static_digest, AK_DIGEST_LEN) == 0;
}

bool
ak_is_static_digest(const char *value)
{
	size_t		taglen = strlen(AK_STATIC_DIGEST_TAG);

	return strncmp(value, AK_STATIC_DIGEST_TAG, taglen) == 0 &&
		strlen(value + taglen) == 2 * AK_DIGEST_LEN &&
		strspn(value + taglen, "0123456789abcdef") == 2 * AK_DIGEST_LEN;
}

/*
 * The form a static key is shown and may be configured in:
 * "blake2b:<hex digest>", keyed with the pepper.
 */
void
ak_static_digest_form(const char *key, size_t len, char *out)
{
	uint8		digest[AK_DIGEST_LEN];

	ak_digest(key, len, digest);
	strcpy(out, AK_STATIC_DIGEST_TAG);
	hex_encode((const char *) digest, AK_DIGEST_LEN, out + strlen(AK_STATIC_DIGEST_TAG));
	out[AK_STATIC_DIGEST_FORM_LEN - 1] = '\0';
}

/*
 * Check hook of apikey.static_key: replaces the token by "blake2b:<hex
 * digest>" so that SHOW, pg_settings and every later copy of the setting
 * hold the digest only.  A digest may also be configured directly, from
 * anywhere; the key in clear only from trusted places (secretsource.c).
 * Must run after the pepper is loaded: the digest is keyed.
 */
bool
ak_static_key_check(char **newval, void **extra, GucSource source)
{
	size_t		len;
	char		canonical[AK_STATIC_DIGEST_FORM_LEN];
	char	   *copy;

	if (*newval == NULL || **newval == '\0' || ak_is_static_digest(*newval))
		return true;

	ak_secret_in_statement();
	len = strlen(*newval);
	if (len < 16 || len > AK_TOKEN_MAX_LEN)
	{
		/* our own message: the default one would quote the secret */
		GUC_check_errmsg("invalid value for parameter \"apikey.static_key\"");
		GUC_check_errdetail("The static key must be between 16 and %d bytes long.",
							AK_TOKEN_MAX_LEN);
		return false;
	}

	ak_static_digest_form(*newval, len, canonical);
	if (!ak_secret_source_ok("apikey.static_key", source, canonical))
		return false;
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
