/*-------------------------------------------------------------------------
 *
 * leak.c
 *	  apikey.report_leak(token, source): a secret scanner -- GitHub's
 *	  secret scanning partner program, a log scanner -- found a token where
 *	  it should not be.  The key is revoked at once (reason "leaked"), or,
 *	  for a refresh token, its whole family, and the report is audited
 *	  ("leak_reported", with the source) for the key's owner to read.
 *
 * Only members of apikey_leak_reporter (and apikey_admin) may report: the
 * role says who is trusted to revoke keys they do not own.  A string that
 * is no token (shape, checksum) is answered MALFORMED with no lookup and
 * no write, so a scanner's false positives cost nothing.
 *
 * The answer: REVOKED (revoked now), ALREADY_REVOKED (it no longer
 * worked), NOT_FOUND, MALFORMED, or STATIC_KEY (a static development key,
 * which only its configuration can change: that is logged as a warning).
 * The token is never stored: the source is kept with the token masked if
 * the scanner quoted it there.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/statickey.h"
#include "auth/token.h"
#include "catalog/pg_type_d.h"
#include "core/json.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lifecycle/audit.h"
#include "lifecycle/keys.h"
#include "lifecycle/leak.h"
#include "lifecycle/refresh.h"
#include "lifecycle/validate.h"
#include "utils/builtins.h"

#define AK_LEAK_REASON		"leaked"

/* What the report concerns: the token's display prefix and masked source. */
typedef struct AkLeak
{
	char		display[AK_DISPLAY_MAX_LEN + 1];
	char	   *source;
	uint8		digest[AK_DIGEST_LEN];
} AkLeak;

/*
 * The source as it is kept: every occurrence of the token in it replaced
 * by its display prefix and asterisks.
 */
static char *
ak_leak_source(text *source, const char *token, size_t len, const char *display)
{
	char	   *s = text_to_cstring(source);
	StringInfoData out;
	char	   *hit;

	initStringInfo(&out);
	while ((hit = strstr(s, token)) != NULL && len > 0)
	{
		appendBinaryStringInfo(&out, s, hit - s);
		appendStringInfo(&out, "%s****", display);
		s = hit + len;
	}
	appendStringInfoString(&out, s);
	return out.data;
}

static void
ak_audit_leak(const AkLeak *leak, const pg_uuid_t *key_id, text *owner,
			  const char *outcome)
{
	AkJsonObject detail = {0};

	ak_json_add_string(&detail, "display_prefix", leak->display);
	ak_json_add_string(&detail, "source", leak->source);
	ak_json_add_string(&detail, "outcome", outcome);
	ak_audit("leak_reported", key_id, owner, ak_json_finish(&detail));
}

/* Revokes the key with the leaked token's digest; its outcome, or NULL. */
static const char *
ak_leak_revoke_key(const AkLeak *leak)
{
	AkParams	p = {0};
	AkParams	revoke = {0};
	bool		isnull;
	pg_uuid_t	id;
	text	   *owner;
	bool		live;
	AkJsonObject detail = {0};
	bytea	   *digest = palloc(VARHDRSZ + AK_DIGEST_LEN);

	SET_VARSIZE(digest, VARHDRSZ + AK_DIGEST_LEN);
	memcpy(VARDATA(digest), leak->digest, AK_DIGEST_LEN);
	ak_param(&p, BYTEAOID, PointerGetDatum(digest), false);
	/* a disabled key is revoked too: enable() must not bring a leak back */
	if (ak_spi_exec("SELECT id, owner,"
					"  apikey._key_status(revoked_at, expires_at, rotated_to, disabled_at)"
					"  IN ('active', 'rotating', 'disabled')"
					" FROM apikey.keys WHERE key_hash = $1 FOR UPDATE", &p, AK_SPI_ANY) == 0)
		return NULL;
	id = *DatumGetUUIDP(ak_spi_value(0, 1, &isnull));
	owner = DatumGetTextPCopy(ak_spi_value(0, 2, &isnull));
	live = DatumGetBool(ak_spi_value(0, 3, &isnull));
	if (live)
	{
		ak_param(&revoke, UUIDOID, UUIDPGetDatum(&id), false);
		ak_spi_exec("UPDATE apikey.keys SET revoked_at = pg_catalog.now(),"
					" revoke_reason = '" AK_LEAK_REASON "' WHERE id = $1", &revoke, AK_SPI_ANY);
		ak_json_add_string(&detail, "display_prefix", leak->display);
		ak_json_add_string(&detail, "reason", AK_LEAK_REASON);
		ak_audit("revoked", &id, owner, ak_json_finish(&detail));
	}
	ak_audit_leak(leak, &id, owner, live ? "REVOKED" : "ALREADY_REVOKED");
	return live ? "REVOKED" : "ALREADY_REVOKED";
}

/* Revokes the family of the leaked refresh token; its outcome, or NULL. */
static const char *
ak_leak_revoke_refresh(const AkLeak *leak)
{
	pg_uuid_t	key_id;
	bool		live;
	const char *outcome;
	AkParams	p = {0};
	bool		isnull;
	text	   *owner = NULL;

	if (!ak_refresh_family_revoke(leak->digest, AK_LEAK_REASON, &key_id, &live))
		return NULL;
	outcome = live ? "REVOKED" : "ALREADY_REVOKED";
	ak_param(&p, UUIDOID, UUIDPGetDatum(&key_id), false);
	if (ak_spi_exec("SELECT owner FROM apikey.keys WHERE id = $1", &p, AK_SPI_ANY) == 1)
		owner = DatumGetTextPCopy(ak_spi_value(0, 1, &isnull));
	ak_audit_leak(leak, &key_id, owner, outcome);
	return outcome;
}

/* A static development key was reported: only its configuration can change. */
static const char *
ak_leak_static(const AkLeak *leak)
{
	ereport(WARNING,
			(errmsg("a leak report names the static development key \"%s\"",
					ak_static_key_lookup(leak->digest)->display_prefix),
			 errdetail("Source: %s", leak->source),
			 errhint("Change the static key in the server's configuration; apikey cannot revoke it."),
			 errhidestmt(true)));
	ak_audit_leak(leak, NULL, NULL, "STATIC_KEY");
	return "STATIC_KEY";
}

/*
 * report_leak(): revokes what the token gives access to and returns the
 * outcome.  The caller holds the token path.
 */
const char *
ak_report_leak(text *token, text *source)
{
	AkLeak		leak;
	size_t		prefix_len;
	const char *tok = token ? VARDATA_ANY(token) : NULL;
	size_t		len = token ? VARSIZE_ANY_EXHDR(token) : 0;
	const char *outcome;

	ak_validate_text(source, "source", true);
	if (token == NULL || !ak_token_is_well_formed(tok, len, &prefix_len))
		return "MALFORMED";
	memcpy(leak.display, tok, prefix_len + 1 + AK_DISPLAY_BODY_LEN);
	leak.display[prefix_len + 1 + AK_DISPLAY_BODY_LEN] = '\0';
	leak.source = ak_leak_source(source, pnstrdup(tok, len), len, leak.display);
	ak_digest(tok, len, leak.digest);

	SPI_connect();
	if (ak_static_key_lookup(leak.digest) != NULL)
		outcome = ak_leak_static(&leak);
	else if ((outcome = ak_leak_revoke_key(&leak)) == NULL &&
			 (outcome = ak_leak_revoke_refresh(&leak)) == NULL)
	{
		ak_audit_leak(&leak, NULL, NULL, "NOT_FOUND");
		outcome = "NOT_FOUND";
	}
	SPI_finish();
	return outcome;
}
