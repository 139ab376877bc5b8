/*-------------------------------------------------------------------------
 *
 * signkey.c
 *	  The root secrets of request signing (apikey.signing_key_file), and
 *	  the signing secret of each key, derived from them.
 *
 * A key's signing secret is stored nowhere: it is HMAC-SHA-256, keyed with
 * a root secret, of a fixed label and the key's id, written as text
 * ("aksig_" and the 32 bytes in unpadded base64url).  The server computes
 * it again at each verification; the key's owner fetches it with
 * apikey.signing_secret().  Knowing the secrets of any number of keys says
 * nothing about the root, nor about the secret of another key.
 *
 * The file holds one root per line, 64 hexadecimal digits; lines that are
 * empty or start with # are skipped.  The first root derives the secrets
 * signing_secret() hands out; the others are earlier roots whose secrets
 * verification still accepts while clients move to the new ones
 * (doc/authentication.md, "Rotating the signing secrets").  The file is
 * read once, in the postmaster, into read-only guarded memory, as the
 * pepper is, and every process inherits it.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "core/secret.h"
#include "core/signkey.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#define AK_SIGNING_FILE_MAX		4096
#define AK_SIGNING_LABEL		"apikey request signing secret v1"

static unsigned char *ak_signing_roots = NULL;	/* nroots * 32 bytes */
static int	ak_signing_nroots = 0;

/* Parses one root (a line of 64 hexadecimal digits) into out. */
static bool
ak_signing_root_parse(const char *line, size_t len, unsigned char *out)
{
	size_t		decoded;

	return len == 2 * AK_SIGNING_ROOT_LEN &&
		sodium_hex2bin(out, AK_SIGNING_ROOT_LEN, line, len, NULL, &decoded, NULL) == 0 &&
		decoded == AK_SIGNING_ROOT_LEN;
}

pg_noreturn static void
ak_signing_file_invalid(const char *path, char *buf)
{
	sodium_memzero(buf, AK_SIGNING_FILE_MAX + 1);
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("apikey signing key file \"%s\" is not valid", path),
			 errdetail("The file must hold 1 to %d lines of %d hexadecimal digits: the current root secret first, then earlier ones.",
					   AK_MAX_SIGNING_ROOTS, 2 * AK_SIGNING_ROOT_LEN),
			 errhint("Create one with: openssl rand -hex %d", AK_SIGNING_ROOT_LEN)));
}

/*
 * Reads the root secrets into read-only guarded memory.  Called once, in
 * the postmaster; a bad file stops the server from starting.
 */
void
ak_signing_roots_load(const char *path)
{
	FILE	   *file;
	char	   *buf = palloc0(AK_SIGNING_FILE_MAX + 1);
	size_t		len;
	unsigned char *roots;
	int			n = 0;

	file = ak_secret_file_open(path, "signing key");
	len = fread(buf, 1, AK_SIGNING_FILE_MAX + 1, file);
	FreeFile(file);
	if (len > AK_SIGNING_FILE_MAX)
		ak_signing_file_invalid(path, buf);

	roots = sodium_malloc(AK_MAX_SIGNING_ROOTS * AK_SIGNING_ROOT_LEN);
	if (roots == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	for (char *line = buf; *line != '\0';)
	{
		size_t		line_len = strcspn(line, "\n");
		char	   *next = line + line_len + (line[line_len] == '\n');

		while (line_len > 0 && isspace((unsigned char) line[line_len - 1]))
			line_len--;
		while (line_len > 0 && isspace((unsigned char) *line))
			line++, line_len--;
		if (line_len > 0 && *line != '#')
		{
			if (n == AK_MAX_SIGNING_ROOTS ||
				!ak_signing_root_parse(line, line_len, roots + n * AK_SIGNING_ROOT_LEN))
			{
				sodium_free(roots);
				ak_signing_file_invalid(path, buf);
			}
			n++;
		}
		line = next;
	}
	if (n == 0)
	{
		sodium_free(roots);
		ak_signing_file_invalid(path, buf);
	}
	sodium_memzero(buf, AK_SIGNING_FILE_MAX + 1);
	pfree(buf);
	sodium_mprotect_readonly(roots);
	ak_signing_roots = roots;
	ak_signing_nroots = n;
}

/* How many roots there are: 0 when request signing is not configured. */
int
ak_signing_root_count(void)
{
	return ak_signing_nroots;
}

/*
 * Writes the signing secret of a key under root number "root" (0: the
 * current one) into out, which has room for AK_SIGNING_SECRET_LEN + 1
 * bytes: "aksig_" and base64url(HMAC-SHA-256(root, label || 0 || key id)).
 */
void
ak_signing_secret(const pg_uuid_t *key_id, int root, char *out)
{
	crypto_auth_hmacsha256_state state;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	static const unsigned char label[] = AK_SIGNING_LABEL;

	Assert(root >= 0 && root < ak_signing_nroots);
	crypto_auth_hmacsha256_init(&state, ak_signing_roots + root * AK_SIGNING_ROOT_LEN,
								AK_SIGNING_ROOT_LEN);
	/* the label with its NUL: nothing appended to it can look like another */
	crypto_auth_hmacsha256_update(&state, label, sizeof(label));
	crypto_auth_hmacsha256_update(&state, key_id->data, UUID_LEN);
	crypto_auth_hmacsha256_final(&state, mac);
	sodium_memzero(&state, sizeof(state));

	strcpy(out, AK_SIGNING_SECRET_TAG);
	sodium_bin2base64(out + strlen(AK_SIGNING_SECRET_TAG),
					  AK_SIGNING_SECRET_LEN - strlen(AK_SIGNING_SECRET_TAG) + 1,
					  mac, sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(mac, sizeof(mac));
}
