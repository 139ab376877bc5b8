/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every PostgreSQL-version-specific branch of apikey lives here.
 *
 * apikey is built and tested on PostgreSQL 15, 17 and 18, and built
 * against the headers of 16 by reading them (doc/versions.md).  The
 * branches below carry the API changes of those majors that touch this
 * code, so that the rest of src/ never tests PG_VERSION_NUM itself.
 *
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_COMPAT_H
#define APIKEY_COMPAT_H

#include "postgres.h"

/*
 * The versions apikey is built and tested on.  Below 15 there is no
 * shmem_request_hook; above 18, nobody has read the new headers yet.
 * (The Makefile says the same before compiling anything.)
 */
#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "apikey supports PostgreSQL 15 to 18: build it with the pg_config of one of those (make PG_CONFIG=...)"
#endif

/*
 * The varlena macros (VARDATA_ANY, VARSIZE_ANY_EXHDR, ...): PostgreSQL 16
 * moved them from postgres.h to varatt.h, which postgres.h no longer
 * includes.  utils/inet.h uses them without including it either.
 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * A function that never returns.  PostgreSQL 18 replaced the suffix
 * pg_attribute_noreturn() with the prefix pg_noreturn; before 18 the same
 * attribute works as a prefix.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * Token buckets are kept as exact rationals (see bucket.c); their
 * intermediate products need 128 bits.  Every platform PostgreSQL
 * supports with gcc or clang has them.
 */
#ifndef HAVE_INT128
#error "apikey requires a compiler with 128-bit integer support"
#endif

/*
 * A dense, zero-based index of the current backend among MaxBackends,
 * used to give each backend its own slot of shared counters.
 * PostgreSQL 17 replaced the one-based MyBackendId with MyProcNumber.
 */
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#define AK_MY_BACKEND_INDEX()	((int) MyProcNumber)
#else
#include "storage/backendid.h"
#define AK_MY_BACKEND_INDEX()	((int) MyBackendId - 1)
#endif

/*
 * A process's number among all PGPROCs, to set its latch from another
 * process.  PostgreSQL 17 replaced PGPROC.pgprocno with MyProcNumber, and
 * INVALID_PGPROCNO with INVALID_PROC_NUMBER.  (Include storage/proc.h.)
 */
#if PG_VERSION_NUM >= 170000
#define AK_NO_PROC				((uint32) INVALID_PROC_NUMBER)
#define AK_MY_PROC_NUMBER()		MyProcNumber
#else
#define AK_NO_PROC				((uint32) INVALID_PGPROCNO)
#define AK_MY_PROC_NUMBER()		(MyProc->pgprocno)
#endif
#define AK_PROC_BY_NUMBER(n)	GetPGProcByNumber(n)

/* SetSingleFuncCall was renamed InitMaterializedSRF in 15.1. */
#if PG_VERSION_NUM < 150001
#define InitMaterializedSRF(fcinfo, flags) SetSingleFuncCall(fcinfo, flags)
#endif

/* PostgreSQL 17 made the JSON lexer context caller-allocatable. */
#if PG_VERSION_NUM >= 170000
#define ak_make_json_lex(json, len) \
	makeJsonLexContextCstringLen(NULL, (json), (len), GetDatabaseEncoding(), true)
#else
#define ak_make_json_lex(json, len) \
	makeJsonLexContextCstringLen((json), (len), GetDatabaseEncoding(), true)
#endif

/* PostgreSQL 16 made JSON parser callbacks return an error code. */
#if PG_VERSION_NUM >= 160000
#define AK_JSON_ACTION			JsonParseErrorType
#define AK_JSON_ACTION_DONE		return JSON_SUCCESS
#else
#define AK_JSON_ACTION			void
#define AK_JSON_ACTION_DONE		return
#endif

/*
 * A GUC check hook that replaces *newval must allocate the new value the
 * way the GUC machinery frees it: malloc before 16, guc_malloc after.
 */
#if PG_VERSION_NUM >= 160000
#define ak_guc_strdup(s)	guc_strdup(LOG, (s))
#define ak_guc_free(p)		guc_free(p)
#else
#define ak_guc_strdup(s)	strdup(s)
#define ak_guc_free(p)		free(p)
#endif

/*
 * The client certificate of the session's TLS connection, which the
 * server verified against its ssl_ca_file, or NULL; include
 * libpq/libpq-be.h and miscadmin.h, and OpenSSL's x509.h.  Port.peer is an
 * X509 * in a server built with OpenSSL in 15 to 18 (sslinfo reads it the
 * same way); 18 also declares it, as a void *, in a server built without,
 * where no connection has a certificate.
 */
#ifdef USE_OPENSSL
#define AK_PEER_CERTIFICATE() \
	((MyProcPort != NULL && MyProcPort->ssl_in_use && MyProcPort->peer_cert_valid) \
	 ? MyProcPort->peer : NULL)
#else
#define AK_PEER_CERTIFICATE()	((X509 *) NULL)
#endif

#endif							/* APIKEY_COMPAT_H */
