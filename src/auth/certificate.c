/*-------------------------------------------------------------------------
 *
 * certificate.c
 *	  The decision on a client certificate (doc/authentication.md,
 *	  "Client certificates"), from its registration in
 *	  apikey.certificates, found by the SHA-256 fingerprint of its DER:
 *
 *	  CERT_UNKNOWN		  no registration of the fingerprint;
 *	  CERT_REVOKED		  none active (the latest revoked one answers);
 *	  CERT_NOT_YET_VALID  before the certificate's notBefore;
 *	  CERT_EXPIRED		  from its notAfter on;
 *	  VALID				  otherwise: the request acts for its owner.
 *
 * The tables are read directly through their indexes, as keys are
 * (keyread.c): no planner, no executor, no privilege or row-level
 * security check -- check_request() runs as PostgREST's anonymous role --
 * and with a fresh snapshot, so that a revocation counts from its commit.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "auth/certificate.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "core/util.h"
#include "usage/events.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* A relation of the extension, by name; an error if it is missing. */
static Oid
ak_cert_relation(const char *name)
{
	Oid			nsp = get_namespace_oid(AK_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s.%s\" does not exist", AK_SCHEMA, name),
				 errhint("Run CREATE EXTENSION apikey in this database, or update it.")));
	return relid;
}

static char *
ak_cert_text(HeapTuple tuple, TupleDesc desc, const char *column)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, ak_attnum(desc, column), desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static TimestampTz
ak_cert_time(HeapTuple tuple, TupleDesc desc, const char *column)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, ak_attnum(desc, column), desc, &isnull);

	return isnull ? DT_NOEND : DatumGetTimestampTz(d);
}

/* A row of apikey.certificates, decoded. */
static void
ak_cert_decode(HeapTuple tuple, TupleDesc desc, AkCertificate *c)
{
	bool		isnull;
	Datum		d;
	Datum	   *elems = NULL;
	bool	   *nulls = NULL;

	d = heap_getattr(tuple, ak_attnum(desc, "id"), desc, &isnull);
	c->id = *DatumGetUUIDP(d);
	c->owner = ak_cert_text(tuple, desc, "owner");
	c->org = ak_cert_text(tuple, desc, "org");
	c->subject_cn = ak_cert_text(tuple, desc, "subject_cn");
	c->tier = ak_cert_text(tuple, desc, "tier");
	c->not_before = ak_cert_time(tuple, desc, "not_before");
	c->not_after = ak_cert_time(tuple, desc, "not_after");
	c->revoked_at = ak_cert_time(tuple, desc, "revoked_at");
	d = heap_getattr(tuple, ak_attnum(desc, "active"), desc, &isnull);
	c->active = !isnull && DatumGetBool(d);

	d = heap_getattr(tuple, ak_attnum(desc, "scopes"), desc, &isnull);
	c->nscopes = 0;
	if (!isnull)
		deconstruct_array(DatumGetArrayTypePCopy(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &c->nscopes);
	c->scopes = palloc(Max(c->nscopes, 1) * sizeof(char *));
	for (int i = 0; i < c->nscopes; i++)
		c->scopes[i] = nulls[i] ? "" : TextDatumGetCString(elems[i]);
}

/*
 * Reads the registrations of a fingerprint into *out: the active one if
 * any, else the one revoked last.  False when there is none.
 */
static bool
ak_cert_read(const char *fingerprint_hex, AkCertificate *out)
{
	Relation	rel = table_open(ak_cert_relation("certificates"), AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	ScanKeyEntryInitialize(&key, 0, ak_attnum(RelationGetDescr(rel), "fingerprint"),
						   BTEqualStrategyNumber, InvalidOid, C_COLLATION_OID,
						   F_TEXTEQ, CStringGetTextDatum(fingerprint_hex));
	scan = systable_beginscan(rel, ak_cert_relation("certificates_fingerprint_idx"),
							  true, snapshot, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		AkCertificate c;

		ak_cert_decode(tuple, RelationGetDescr(rel), &c);
		if (!found || c.active || (!out->active && c.revoked_at > out->revoked_at))
			*out = c;
		found = true;
		if (c.active)
			break;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return found;
}

/* "cert:" and the first 16 hexadecimal digits of the fingerprint. */
void
ak_certificate_display(const uint8 *fingerprint, char *out)
{
	char		hex[AK_FINGERPRINT_HEX_LEN + 1];

	ak_fingerprint_hex(fingerprint, hex);
	snprintf(out, AK_CERT_DISPLAY_LEN + 1, "cert:%.16s", hex);
}

/*
 * The decision on the certificate with this fingerprint at now_us; *out
 * describes its registration unless the code is CERT_UNKNOWN.
 */
AkCode
ak_certificate_verify(const uint8 *fingerprint, int64 now_us, AkCertificate *out)
{
	char		hex[AK_FINGERPRINT_HEX_LEN + 1];

	memset(out, 0, sizeof(*out));
	ak_fingerprint_hex(fingerprint, hex);
	if (!ak_cert_read(hex, out))
		return AK_CODE_CERT_UNKNOWN;
	ak_certificate_display(fingerprint, out->display);
	if (!out->active)
		return AK_CODE_CERT_REVOKED;
	if (now_us < out->not_before)
		return AK_CODE_CERT_NOT_YET_VALID;
	if (now_us >= out->not_after)
		return AK_CODE_CERT_EXPIRED;
	return AK_CODE_VALID;
}

/*
 * The rate limits a certificate's requests are debited from: those of its
 * tier, the shadow ones last (*nenforced: how many are not; *policy: their
 * RateLimit-Policy, or NULL for none).
 */
int
ak_certificate_limits(const AkCertificate *cert, AkLimit *limits, int *nenforced,
					  char **policy)
{
	Relation	rel = table_open(ak_cert_relation("tiers"), AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	int			n = 0;

	ScanKeyEntryInitialize(&key, 0, ak_attnum(RelationGetDescr(rel), "name"),
						   BTEqualStrategyNumber, InvalidOid, C_COLLATION_OID,
						   F_TEXTEQ, CStringGetTextDatum(cert->tier));
	scan = systable_beginscan(rel, ak_cert_relation("tiers_pkey"), true, snapshot, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, ak_attnum(RelationGetDescr(rel), "rate_limits"),
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			n = ak_limits_parse(DatumGetJsonbP(d), limits, "tier rate_limits");
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	*nenforced = ak_limits_shadow_last(limits, n);
	*policy = *nenforced > 0 ? ak_limits_policy(limits, *nenforced, NULL) : NULL;
	return n;
}

/* A refused certificate is an access event, named by its fingerprint. */
void
ak_certificate_denied(AkCode code, const uint8 *fingerprint, inet *client_ip)
{
	char		display[AK_CERT_DISPLAY_LEN + 1];

	if (fingerprint == NULL)
	{
		ak_event_denied(code, NULL, client_ip, NULL, 0);
		return;
	}
	ak_certificate_display(fingerprint, display);
	ak_event_denied(code, NULL, client_ip, display, strlen(display));
}
