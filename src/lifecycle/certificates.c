/*-------------------------------------------------------------------------
 *
 * certificates.c
 *	  The registry of client certificates (apikey.certificates):
 *	  register_certificate() and revoke_certificate().  As for keys, owners
 *	  manage their own, in tier "free", and admins any; every change writes
 *	  its audit row in the same transaction.
 *
 * A certificate is registered by its PEM text, which is read (core/x509.c)
 * and not kept: the registry holds its fingerprint, subject CN, issuer and
 * validity.  One fingerprint has at most one active registration; a
 * revoked one may be registered again.  The PEM of a certificate is not a
 * secret, but a PEM pasted with its private key is refused, without the
 * statement in the log.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "catalog/pg_type_d.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lifecycle/audit.h"
#include "lifecycle/certificates.h"
#include "lifecycle/keys.h"
#include "lifecycle/validate.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

static char *
ak_time_text(TimestampTz t)
{
	return DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(t)));
}

/* Reads the PEM argument; 22023 if it is not one usable certificate. */
static void
ak_certificate_parse(text *pem, AkX509 *cert)
{
	const char *problem;

	if (pem == NULL)
		ak_bad_value("pem", "it must not be null");
	problem = ak_x509_from_pem(text_to_cstring(pem), VARSIZE_ANY_EXHDR(pem), cert);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid pem"),
				 errdetail("%s", problem),
				 errhidestmt(true)));
	if (cert->not_after <= ak_now_us())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid pem: the certificate expired at %s", ak_time_text(cert->not_after)),
				 errhint("Register the certificate that replaced it.")));
}

/* Checks register_certificate()'s arguments and the caller's rights. */
static void
ak_validate_registration(const AkCertArgs *a, AkX509 *cert)
{
	ak_certificate_parse(a->pem, cert);
	ak_validate_text(a->owner, "owner", true);
	ak_validate_text(a->name, "name", false);
	if (a->scopes)
		ak_validate_scopes(a->scopes);
	ak_validate_text(a->org, "org", false);
	ak_validate_text(a->tier, "tier", true);
	ak_require_owner_or_admin(a->owner, "register a certificate for this owner");
	if (strcmp(text_to_cstring(a->tier), AK_SELF_SERVICE_TIER) != 0)
		ak_require_admin_for("tier");
}

/* 23505 if the fingerprint has an active registration.  Requires SPI. */
static void
ak_require_unregistered(const AkX509 *cert)
{
	AkParams	p = {0};

	ak_param(&p, TEXTOID, CStringGetTextDatum(cert->fingerprint_hex), false);
	if (ak_spi_exec("SELECT 1 FROM apikey.certificates WHERE fingerprint = $1 AND active",
					&p, AK_SPI_ANY) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("certificate %s is already registered", cert->fingerprint_hex),
				 errdetail("A fingerprint has at most one active registration."),
				 errhint("Revoke it with apikey.revoke_certificate() to register it again.")));
}

static void
ak_audit_registered(const AkCertArgs *a, const AkRegistered *r)
{
	AkJsonObject detail = {0};

	ak_json_add_string(&detail, "cert_id", ak_uuid_text(&r->id));
	ak_json_add_string(&detail, "fingerprint", r->cert.fingerprint_hex);
	ak_json_add_string(&detail, "subject_cn", r->cert.subject_cn);
	ak_json_add_string(&detail, "issuer", r->cert.issuer);
	ak_json_add_string(&detail, "not_after", ak_time_text(r->cert.not_after));
	ak_json_add_string(&detail, "name", a->name ? text_to_cstring(a->name) : NULL);
	ak_json_add_string(&detail, "tier", text_to_cstring(a->tier));
	ak_audit("certificate_registered", NULL, a->owner, ak_json_finish(&detail));
}

/* register_certificate(): a new registration and its audit row. */
void
ak_certificate_register(const AkCertArgs *a, AkRegistered *out)
{
	AkParams	p = {0};
	bool		isnull;

	ak_validate_registration(a, &out->cert);
	SPI_connect();
	ak_validate_tier(a->tier);
	ak_require_unregistered(&out->cert);

	ak_param(&p, TEXTOID, CStringGetTextDatum(out->cert.fingerprint_hex), false);
	ak_param(&p, TEXTOID, out->cert.subject_cn ? CStringGetTextDatum(out->cert.subject_cn) : 0,
			 out->cert.subject_cn == NULL);
	ak_param(&p, TEXTOID, CStringGetTextDatum(out->cert.issuer), false);
	ak_param(&p, TIMESTAMPTZOID, TimestampTzGetDatum(out->cert.not_before), false);
	ak_param(&p, TIMESTAMPTZOID, TimestampTzGetDatum(out->cert.not_after), false);
	ak_param_ptr(&p, TEXTOID, a->owner);
	ak_param_ptr(&p, TEXTOID, a->org);
	ak_param_ptr(&p, TEXTOID, a->name);
	ak_param_ptr(&p, TEXTARRAYOID, a->scopes);
	ak_param_ptr(&p, TEXTOID, a->tier);
	ak_spi_exec("INSERT INTO apikey.certificates (fingerprint, subject_cn, issuer,"
				"  not_before, not_after, owner, org, name, scopes, tier)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, '{}'), $10)"
				" RETURNING id", &p, SPI_OK_INSERT_RETURNING);
	out->id = *DatumGetUUIDP(ak_spi_value(0, 1, &isnull));
	ak_audit_registered(a, out);
	SPI_finish();
}

/*
 * revoke_certificate(): false when the registration was revoked already.
 * From its commit on, the certificate answers CERT_REVOKED everywhere.
 */
bool
ak_certificate_revoke(Datum cert_id)
{
	AkParams	p = {0};
	bool		isnull;
	text	   *owner;
	char	   *fingerprint;
	bool		active;
	AkJsonObject detail = {0};

	SPI_connect();
	ak_param(&p, UUIDOID, cert_id, false);
	if (ak_spi_exec("SELECT owner, fingerprint, active FROM apikey.certificates"
					" WHERE id = $1 FOR UPDATE", &p, AK_SPI_ANY) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("certificate %s does not exist", ak_uuid_text(DatumGetUUIDP(cert_id)))));
	owner = DatumGetTextPCopy(ak_spi_value(0, 1, &isnull));
	fingerprint = TextDatumGetCString(ak_spi_value(0, 2, &isnull));
	active = DatumGetBool(ak_spi_value(0, 3, &isnull));
	ak_require_owner_or_admin(owner, "revoke this certificate");

	if (active)
	{
		ak_spi_exec("UPDATE apikey.certificates SET active = false, revoked_at = now()"
					" WHERE id = $1", &p, AK_SPI_ANY);
		ak_json_add_string(&detail, "cert_id", ak_uuid_text(DatumGetUUIDP(cert_id)));
		ak_json_add_string(&detail, "fingerprint", fingerprint);
		ak_audit("certificate_revoked", NULL, owner, ak_json_finish(&detail));
	}
	SPI_finish();
	return active;
}
