/*-------------------------------------------------------------------------
 *
 * statickeys.c
 *	  More static development keys, from apikey.static_keys_file: one key
 *	  per line, "token owner [org]", separated by spaces or tabs; empty
 *	  lines and lines starting with # are skipped.  Each key verifies as
 *	  its owner and org, like apikey.static_key (auth/statickey.c).
 *
 * The file is read once, in the postmaster, after the pepper: only the
 * keyed digests are kept, and every process inherits them.  A bad line
 * stops the server from starting; the message names the line, never
 * what it holds.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "core/secret.h"
#include "core/statickeys.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#define AK_STATIC_FILE_MAX	(64 * 1024)
#define AK_STATIC_OWNER_MAX 256

typedef struct AkStaticFileKey
{
	uint8		digest[AK_DIGEST_LEN];
	char	   *owner;
	char	   *org;			/* NULL: none */
} AkStaticFileKey;

static AkStaticFileKey *ak_file_keys = NULL;
static int	ak_nfile_keys = 0;

pg_noreturn static void
ak_static_line_invalid(const char *path, int lineno, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("apikey static keys file \"%s\" is not valid", path),
			 errdetail("Line %d: %s", lineno, problem),
			 errhint("Each line is \"token owner [org]\": a token of 16 to %d bytes, an owner, an optional org.",
					 AK_TOKEN_MAX_LEN)));
}

/* The next field of a line, at most max bytes; NULL at the end. */
static char *
ak_next_field(char **cursor, size_t *len)
{
	char	   *p = *cursor + strspn(*cursor, " \t");

	*len = strcspn(p, " \t");
	*cursor = p + *len;
	return *len > 0 ? p : NULL;
}

/* Parses one line "token owner [org]" into the next key. */
static void
ak_static_line(const char *path, int lineno, char *line)
{
	AkStaticFileKey *key;
	size_t		token_len;
	size_t		owner_len;
	size_t		org_len;
	size_t		extra_len;
	char	   *token = ak_next_field(&line, &token_len);
	char	   *owner = ak_next_field(&line, &owner_len);
	char	   *org = ak_next_field(&line, &org_len);

	if (token_len < 16 || token_len > AK_TOKEN_MAX_LEN)
		ak_static_line_invalid(path, lineno, "the token must be between 16 and 255 bytes long.");
	if (owner == NULL || owner_len > AK_STATIC_OWNER_MAX)
		ak_static_line_invalid(path, lineno, "an owner of 1 to 256 bytes must follow the token.");
	if ((org != NULL && org_len > AK_STATIC_OWNER_MAX) ||
		ak_next_field(&line, &extra_len) != NULL)
		ak_static_line_invalid(path, lineno, "after the owner, only an org of 1 to 256 bytes may follow.");
	if (ak_nfile_keys == AK_MAX_STATIC_KEYS)
		ak_static_line_invalid(path, lineno, "the file holds more than 100 keys.");

	key = &ak_file_keys[ak_nfile_keys++];
	ak_digest(token, token_len, key->digest);
	key->owner = MemoryContextStrdup(TopMemoryContext, pnstrdup(owner, owner_len));
	key->org = org ? MemoryContextStrdup(TopMemoryContext, pnstrdup(org, org_len)) : NULL;
}

/* Reads the file's keys.  Called once, in the postmaster. */
void
ak_static_keys_load(const char *path)
{
	FILE	   *file = ak_secret_file_open(path, "static keys");
	char	   *buf = palloc0(AK_STATIC_FILE_MAX + 1);
	size_t		len = fread(buf, 1, AK_STATIC_FILE_MAX + 1, file);
	int			lineno = 0;

	FreeFile(file);
	if (len > AK_STATIC_FILE_MAX)
		ak_static_line_invalid(path, 0, "the file is larger than 64 kB.");
	ak_file_keys = MemoryContextAllocZero(TopMemoryContext,
										  AK_MAX_STATIC_KEYS * sizeof(AkStaticFileKey));
	for (char *line = buf; *line != '\0';)
	{
		size_t		line_len = strcspn(line, "\n");
		char	   *next = line + line_len + (line[line_len] == '\n');

		lineno++;
		line[line_len] = '\0';
		while (line_len > 0 && isspace((unsigned char) line[line_len - 1]))
			line[--line_len] = '\0';
		line += strspn(line, " \t");
		if (*line != '\0' && *line != '#')
			ak_static_line(path, lineno, line);
		line = next;
	}
	sodium_memzero(buf, AK_STATIC_FILE_MAX + 1);
	pfree(buf);
}

/*
 * Says at start, in the server log, how many static keys this server
 * accepts (one_more: apikey.static_key is set too), and loudly when
 * apikey.production refuses them.  Never the keys.
 */
void
ak_static_keys_announce(bool one_more, bool production)
{
	int			n = ak_nfile_keys + (one_more ? 1 : 0);

	if (n == 0)
		return;
	if (production)
		ereport(WARNING,
				(errmsg("apikey.production is on: %d static development key(s) configured will be refused", n),
				 errdetail("Static keys come from apikey.static_key, the STATIC_API_KEY environment variable and apikey.static_keys_file."),
				 errhint("Remove them from the configuration of a production server.")));
	else
		ereport(LOG,
				(errmsg("apikey accepts %d static development key(s)", n),
				 errhint("Set apikey.production = on to refuse them.")));
}

int
ak_static_file_key_count(void)
{
	return ak_nfile_keys;
}

/* The number (1 to count) of the file's key with this digest, or 0. */
int
ak_static_file_key_match(const uint8 *digest)
{
	int			match = 0;

	/* every key compared, in constant time: no early exit to time */
	for (int i = 0; i < ak_nfile_keys; i++)
		if (sodium_memcmp(digest, ak_file_keys[i].digest, AK_DIGEST_LEN) == 0)
			match = i + 1;
	return match;
}

const char *
ak_static_file_key_owner(int n)
{
	return ak_file_keys[n - 1].owner;
}

const char *
ak_static_file_key_org(int n)
{
	return ak_file_keys[n - 1].org;
}
