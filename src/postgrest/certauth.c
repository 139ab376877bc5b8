/*-------------------------------------------------------------------------
 *
 * certauth.c
 *	  check_request() for a request without an API key whose client
 *	  certificate the proxy in front of PostgREST passes in the header
 *	  apikey.certificate_header (doc/authentication.md, "Client
 *	  certificates behind a proxy").
 *
 * The header is trusted only when that setting names it (by default it
 * names none) and only in a PostgREST request.  Whoever can run SQL
 * could set request.headers to anything, so the rule of which requests
 * are the authenticator's (ak_in_request(): core/request.c) is what makes the header
 * trustworthy; the proxy must overwrite whatever a client sends in it.
 *
 * A certificate that verifies (auth/certificate.c) acts for its owner:
 * the registration's scopes are checked as a key's are, and the request is
 * debited from its owner's buckets for the certificate's tier -- one set
 * of buckets per owner and tier, whichever of the owner's certificates
 * is used.  Such requests have no quota and no concurrency limit (those
 * are a key's), are not counted in usage_hourly, and cannot pass a route
 * that must be signed: signing secrets belong to keys.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/certificate.h"
#include "auth/identity.h"
#include "auth/scope.h"
#include "auth/verify.h"
#include "core/clock.h"
#include "core/counters.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/request.h"
#include "core/subject.h"
#include "limit/limiter.h"
#include "postgrest/certauth.h"
#include "postgrest/refusal.h"
#include "postgrest/response.h"

/* The subject of an owner's buckets for a tier: "owner NUL tier". */
static void
ak_owner_subject(const char *owner, const char *tier, uint8 *subject)
{
	size_t		owner_len = strlen(owner);
	size_t		tier_len = strlen(tier);
	char	   *name = palloc(owner_len + 1 + tier_len);

	/* no text holds a NUL: no throttle() name is ever the same */
	memcpy(name, owner, owner_len);
	name[owner_len] = '\0';
	memcpy(name + owner_len + 1, tier, tier_len);
	ak_name_subject_id(name, owner_len + 1 + tier_len, subject);
	pfree(name);
}

/* Debits the owner's buckets; admits the request, or refuses it. */
static void
ak_certificate_admit(const AkCertificate *cert, text *scope)
{
	AkLimit		limits[AK_MAX_LIMITS];
	char	   *policy;
	int			nenforced;
	int			n = ak_certificate_limits(cert, limits, &nenforced, &policy);
	uint8		subject[AK_SUBJECT_ID_LEN];
	AkDecision	d;
	AkHeaders	h;

	ak_owner_subject(cert->owner, cert->tier, subject);
	ak_limiter_debit_subject(AK_CELL_OWNER_LIMIT, subject, limits, n, nenforced, policy,
							 1, &d);
	ak_decision_headers(&d, &h);
	if (!d.allowed)
		ak_refuse(d.code, &h, d.retry_after_us, scope, true);
	ak_identity_set_certificate(cert->owner, cert->display);
	ak_append_response_headers(&h);
}

/*
 * Admits or refuses a request by the certificate the proxy passed; false,
 * doing nothing, when it passed none (or no header is trusted).
 */
bool
ak_check_certificate(text *scope, bool signed_route, inet *client_ip)
{
	const char *value;
	uint8		fingerprint[AK_FINGERPRINT_LEN];
	bool		parsed;
	AkCertificate cert;
	AkCode		code;

	if (ak_certificate_header == NULL || *ak_certificate_header == '\0' ||
		!ak_in_request())
		return false;
	value = ak_json_get_string(ak_request_setting("request.headers"), ak_certificate_header);
	if (value == NULL)
		return false;

	parsed = ak_fingerprint_from_header(value, fingerprint);
	code = parsed ? ak_certificate_verify(fingerprint, ak_now_us(), &cert)
		: AK_CODE_CERT_UNKNOWN;
	if (code == AK_CODE_VALID && signed_route)
		code = AK_CODE_SIGNATURE_REQUIRED;
	if (code == AK_CODE_VALID &&
		!ak_scope_granted(cert.scopes, cert.nscopes, scope ? VARDATA_ANY(scope) : NULL,
						 scope ? VARSIZE_ANY_EXHDR(scope) : 0))
		code = AK_CODE_INSUFFICIENT_SCOPE;

	ak_count(AK_REQUESTS);
	ak_count(code == AK_CODE_VALID ? AK_VALID : AK_INVALID);
	if (code != AK_CODE_VALID)
	{
		ak_certificate_denied(code, parsed ? fingerprint : NULL, client_ip);
		ak_refuse(code, NULL, -1, scope, true);
	}
	ak_certificate_admit(&cert, scope);
	return true;
}
