/*-------------------------------------------------------------------------
 *
 * fn_certificates.c
 *	  SQL entry points of client certificates: register_certificate(),
 *	  revoke_certificate(), verify_certificate().
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/htup_details.h"
#include "auth/certificate.h"
#include "core/clock.h"
#include "core/counters.h"
#include "core/request.h"
#include "core/util.h"
#include "funcapi.h"
#include "lifecycle/certificates.h"
#include "lifecycle/validate.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(apikey_register_certificate);
PG_FUNCTION_INFO_V1(apikey_revoke_certificate);
PG_FUNCTION_INFO_V1(apikey_verify_certificate);

#define AK_ARG_TEXT(n)		(PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))

/*
 * apikey.register_certificate(pem text, owner text, name text,
 *							   scopes text[], org text, tier text)
 *	  RETURNS TABLE(cert_id uuid, fingerprint text, subject_cn text,
 *					not_after timestamptz)
 */
Datum
apikey_register_certificate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AkCertArgs	a;
	AkRegistered r;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	AK_REQUIRE_PRELOAD();
	InitMaterializedSRF(fcinfo, 0);
	a.pem = AK_ARG_TEXT(0);
	a.owner = AK_ARG_TEXT(1);
	a.name = AK_ARG_TEXT(2);
	a.scopes = PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3);
	a.org = AK_ARG_TEXT(4);
	a.tier = AK_ARG_TEXT(5);
	ak_certificate_register(&a, &r);

	values[0] = UUIDPGetDatum(&r.id);
	values[1] = CStringGetTextDatum(r.cert.fingerprint_hex);
	nulls[2] = r.cert.subject_cn == NULL;
	values[2] = nulls[2] ? (Datum) 0 : CStringGetTextDatum(r.cert.subject_cn);
	values[3] = TimestampTzGetDatum(r.cert.not_after);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* apikey.revoke_certificate(cert_id uuid) RETURNS boolean */
Datum
apikey_revoke_certificate(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	if (PG_ARGISNULL(0))
		ak_bad_value("cert_id", "it must not be null");
	PG_RETURN_BOOL(ak_certificate_revoke(PG_GETARG_DATUM(0)));
}

/*
 * The fingerprint to verify: the argument's (22023 if it is not one), or
 * that of the session's own TLS client certificate (false if none).
 */
static bool
ak_fingerprint_arg(FunctionCallInfo fcinfo, uint8 *fingerprint)
{
	text	   *arg;
	AkX509		peer;

	if (PG_ARGISNULL(0))
	{
		if (!ak_x509_peer(&peer))
			return false;
		memcpy(fingerprint, peer.fingerprint, AK_FINGERPRINT_LEN);
		return true;
	}
	arg = PG_GETARG_TEXT_PP(0);
	if (!ak_fingerprint_parse(VARDATA_ANY(arg), VARSIZE_ANY_EXHDR(arg), fingerprint))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid fingerprint"),
				 errdetail("A SHA-256 fingerprint is 64 hexadecimal digits, alone or in pairs separated by colons.")));
	return true;
}

/*
 * apikey.verify_certificate(fingerprint text DEFAULT NULL)
 *	  RETURNS apikey.certificate_verification
 *	  (valid, code, cert_id, owner, org, subject_cn, not_after)
 * Without a fingerprint: the certificate of the session's TLS connection.
 */
Datum
apikey_verify_certificate(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	uint8		fingerprint[AK_FINGERPRINT_LEN];
	bool		given;
	AkCertificate cert;
	AkCode		code;
	Datum		values[7];
	bool		nulls[7] = {false, false, true, true, true, true, true};

	AK_REQUIRE_PRELOAD();
	desc = ak_result_tupdesc(fcinfo);
	given = ak_fingerprint_arg(fcinfo, fingerprint);
	code = given ? ak_certificate_verify(fingerprint, ak_now_us(), &cert)
		: AK_CODE_CERT_MISSING;
	ak_count(AK_REQUESTS);
	ak_count(code == AK_CODE_VALID ? AK_VALID : AK_INVALID);
	if (code != AK_CODE_VALID)
		ak_certificate_denied(code, given ? fingerprint : NULL, ak_request_client_ip());

	values[0] = BoolGetDatum(code == AK_CODE_VALID);
	values[1] = CStringGetTextDatum(ak_code_name(code));
	if (code == AK_CODE_VALID)
	{
		values[2] = UUIDPGetDatum(&cert.id);
		values[3] = CStringGetTextDatum(cert.owner);
		values[4] = cert.org ? CStringGetTextDatum(cert.org) : (Datum) 0;
		values[5] = cert.subject_cn ? CStringGetTextDatum(cert.subject_cn) : (Datum) 0;
		values[6] = TimestampTzGetDatum(cert.not_after);
		nulls[2] = nulls[3] = nulls[6] = false;
		nulls[4] = cert.org == NULL;
		nulls[5] = cert.subject_cn == NULL;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
