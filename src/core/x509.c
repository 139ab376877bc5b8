/*-------------------------------------------------------------------------
 *
 * x509.c
 *	  X.509 certificates, read with OpenSSL as PostgreSQL itself links it:
 *	  from PEM text (register_certificate()), from the TLS connection of
 *	  the session (verify_certificate() without a fingerprint), or named by
 *	  a fingerprint a proxy passes in a header (check_request()).
 *
 * What apikey keeps of a certificate: the SHA-256 of its DER encoding
 * (the fingerprint, as openssl x509 -fingerprint -sha256 prints it, in
 * lower case without colons), the CN of its subject, its issuer (RFC 2253)
 * and its validity.  Nothing here checks a chain of trust: the TLS
 * handshake did that (ssl_ca_file, or the proxy), and the registry of
 * apikey.certificates says which certificates are let in.
 *
 * OpenSSL's error queue is emptied after every call that may fill it: the
 * server's own TLS code reads it.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "core/x509.h"
#include "libpq/libpq-be.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/datetime.h"

/* An ASN.1 time as a timestamp; false if OpenSSL cannot read it. */
static bool
ak_asn1_time(const ASN1_TIME *t, TimestampTz *out)
{
	struct tm tm;
	struct pg_tm ptm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return false;
	memset(&ptm, 0, sizeof(ptm));
	ptm.tm_year = tm.tm_year + 1900;
	ptm.tm_mon = tm.tm_mon + 1;
	ptm.tm_mday = tm.tm_mday;
	ptm.tm_hour = tm.tm_hour;
	ptm.tm_min = tm.tm_min;
	ptm.tm_sec = tm.tm_sec;
	return tm2timestamp(&ptm, 0, NULL, out) == 0;
}

/* The CN of a name in the server's encoding, or NULL if it has none. */
static char *
ak_x509_cn(const X509_NAME *name)
{
	int			index = X509_NAME_get_index_by_NID(unconstify(X509_NAME *, name),
												   NID_commonName, -1);
	unsigned char *utf8 = NULL;
	int			len;
	char	   *cn;

	if (index < 0)
		return NULL;
	len = ASN1_STRING_to_UTF8(&utf8,
							  X509_NAME_ENTRY_get_data(X509_NAME_get_entry(unconstify(X509_NAME *, name), index)));
	if (len < 0)
		return NULL;
	/* a CN with a NUL in it is not a name anyone should trust */
	cn = (strlen((char *) utf8) == (size_t) len)
		? pg_any_to_server((char *) utf8, len, PG_UTF8) : NULL;
	if (cn == (char *) utf8)
		cn = pstrdup(cn);
	OPENSSL_free(utf8);
	return cn;
}

/* A name as RFC 2253 text; bytes beyond ASCII are escaped. */
static char *
ak_x509_name_text(const X509_NAME *name)
{
	BIO		   *bio = BIO_new(BIO_s_mem());
	char	   *data;
	long		len;
	char	   *text;

	if (bio == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
	len = BIO_get_mem_data(bio, &data);
	text = pnstrdup(data, len > 0 ? len : 0);
	BIO_free(bio);
	return text;
}

/* What apikey keeps of a certificate; false if it cannot be read. */
static bool
ak_x509_describe(X509 *cert, AkX509 *out)
{
	unsigned char *der = NULL;
	int			len = i2d_X509(cert, &der);

	if (len <= 0)
		return false;
	crypto_hash_sha256(out->fingerprint, der, len);
	OPENSSL_free(der);
	ak_fingerprint_hex(out->fingerprint, out->fingerprint_hex);
	out->subject_cn = ak_x509_cn(X509_get_subject_name(cert));
	out->issuer = ak_x509_name_text(X509_get_issuer_name(cert));
	return ak_asn1_time(X509_get0_notBefore(cert), &out->not_before) &&
		ak_asn1_time(X509_get0_notAfter(cert), &out->not_after);
}

/*
 * Reads the one certificate of PEM text (NUL-terminated).  Returns NULL,
 * or what is wrong with the text, as a sentence.
 */
const char *
ak_x509_from_pem(const char *pem, size_t len, AkX509 *out)
{
	BIO		   *bio;
	X509	   *cert;
	X509	   *extra = NULL;
	const char *problem = NULL;

	if (len > AK_PEM_MAX_LEN)
		return "The PEM text is larger than 64 kB.";
	if (strstr(pem, "PRIVATE KEY") != NULL)
		return "It holds a private key: register the certificate alone, and keep its key secret.";
	bio = BIO_new_mem_buf(pem, (int) len);
	if (bio == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (cert == NULL)
		problem = "It holds no certificate in PEM form (-----BEGIN CERTIFICATE-----).";
	else if ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		problem = "It holds more than one certificate: register the client's own certificate alone.";
	else if (!ak_x509_describe(cert, out))
		problem = "Its certificate cannot be read.";
	X509_free(extra);
	X509_free(cert);
	BIO_free(bio);
	ERR_clear_error();
	return problem;
}

/*
 * The client certificate of this session's TLS connection, which the
 * server verified against its ssl_ca_file; false if there is none.
 */
bool
ak_x509_peer(AkX509 *out)
{
	X509	   *peer = AK_PEER_CERTIFICATE();
	bool		ok;

	if (peer == NULL)
		return false;
	ok = ak_x509_describe(peer, out);
	ERR_clear_error();
	return ok;
}

void
ak_fingerprint_hex(const uint8 *fingerprint, char *out)
{
	sodium_bin2hex(out, AK_FINGERPRINT_HEX_LEN + 1, fingerprint, AK_FINGERPRINT_LEN);
}

/*
 * A fingerprint as text: 64 hexadecimal digits, or 32 pairs separated by
 * colons (openssl x509 -fingerprint -sha256), in either case.
 */
bool
ak_fingerprint_parse(const char *s, size_t len, uint8 *out)
{
	size_t		decoded = 0;

	if (len == AK_FINGERPRINT_HEX_LEN)
		return sodium_hex2bin(out, AK_FINGERPRINT_LEN, s, len, NULL, &decoded, NULL) == 0 &&
			decoded == AK_FINGERPRINT_LEN;
	if (len != AK_FINGERPRINT_HEX_LEN + AK_FINGERPRINT_LEN - 1)
		return false;
	for (size_t i = 2; i < len; i += 3)
		if (s[i] != ':')
			return false;
	return sodium_hex2bin(out, AK_FINGERPRINT_LEN, s, len, ":", &decoded, NULL) == 0 &&
		decoded == AK_FINGERPRINT_LEN;
}

static int
ak_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = pg_tolower((unsigned char) c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/*
 * URL-decoded text (%XX; a + stays a +, as base64 needs), NUL-terminated;
 * NULL if malformed.
 */
static char *
ak_url_decode(const char *s, size_t *len)
{
	char	   *out = palloc(strlen(s) + 1);
	size_t		n = 0;

	for (const char *p = s; *p; p++)
	{
		if (*p == '%')
		{
			int			hi = ak_hex_value(p[1]);
			int			lo = hi < 0 ? -1 : ak_hex_value(p[2]);

			if (lo < 0 || (hi == 0 && lo == 0))
				return NULL;
			out[n++] = (char) (hi * 16 + lo);
			p += 2;
		}
		else
			out[n++] = *p;
	}
	out[n] = '\0';
	*len = n;
	return out;
}

/*
 * The fingerprint of the certificate a proxy passes in a header: the
 * fingerprint itself (hexadecimal, with or without colons), Envoy's
 * x-forwarded-client-cert (its Hash=), or the certificate in URL-encoded
 * PEM (nginx's $ssl_client_escaped_cert).
 */
bool
ak_fingerprint_from_header(const char *value, uint8 *out)
{
	const char *hash = strstr(value, "Hash=");
	size_t		len;
	char	   *pem;
	AkX509		cert;

	if (hash != NULL)
		return ak_fingerprint_parse(hash + 5, strcspn(hash + 5, ";,\""), out);
	if (pg_strncasecmp(value, "%2D%2D%2D%2D%2DBEGIN", 20) != 0 &&
		strncmp(value, "-----BEGIN", 10) != 0)
		return ak_fingerprint_parse(value, strlen(value), out);
	/* a header holds no newline: the PEM is URL-encoded */
	pem = ak_url_decode(value, &len);
	if (pem == NULL || ak_x509_from_pem(pem, len, &cert) != NULL)
		return false;
	memcpy(out, cert.fingerprint, AK_FINGERPRINT_LEN);
	return true;
}
