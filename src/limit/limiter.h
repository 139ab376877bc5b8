/*-------------------------------------------------------------------------
 *
 * limiter.h
 *	  check(), consume() and throttle(): the order of the steps, and what
 *	  a refusal gives back (limiter.c, steps.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_LIMITER_H
#define AK_LIMITER_H

#include "auth/keyinfo.h"
#include "core/codes.h"
#include "limit/admission.h"
#include "limit/cells.h"
#include "limit/headers.h"

/* What a request asks. */
typedef struct AkRequest
{
	text	   *token;			/* NULL: no key was sent */
	text	   *scope;			/* the scope it needs, or NULL */
	inet	   *client_ip;
	int64		cost;			/* 0: a look that takes nothing */
	bool		public;			/* a public endpoint: no key needed */
	bool		until_finish;	/* an application's: slots held until finish() */
	AkDenial   *defer;			/* holds its access event back, or NULL */
} AkRequest;

/* What a request was told. */
typedef struct AkDecision
{
	bool		allowed;
	AkCode		code;
	const AkKeyInfo *key;		/* NULL when the token named no key */
	AkUsageOutcome usage;		/* how the key's usage counts it */
	bool		anonymous;		/* no key, admitted or refused as such */
	bool		shadow_limited; /* a shadow limit would have refused it */
	AkLimitReport report;		/* the limits behind the answer, if any */
	AkLimit		ip_limit;		/* the per-address limit, report may point here */
	AkLimit		named_limit;	/* a throttle()'s limit, report may point here */
	AkLimit		quota_limits[2][AK_NUM_PERIODS];	/* the key's, its owner's */
	int64		retry_after_us; /* -1: no Retry-After */
	int64		now_us;
} AkDecision;

extern void ak_limiter_decide(const AkRequest *req, AkDecision *d);
extern void ak_limiter_admit(const AkKeyInfo *key, inet *client_ip, int64 cost,
							 int64 now_us, AkDecision *d);
extern void ak_limiter_consume(const pg_uuid_t *key_id, int64 cost,
							   bool refund_on_rollback, AkDecision *d);
extern void ak_limiter_throttle(text *name, int64 rate, const Interval *period,
								const int64 *burst, int64 cost, AkDecision *d);

extern void ak_limiter_debit_subject(AkCellKind kind, const uint8 *subject,
									 const AkLimit *limits, int n, int nenforced,
									 const char *policy, int64 cost,
									 AkDecision *d);

extern void ak_decision_headers(const AkDecision *d, AkHeaders *h);
extern void ak_decision_limit_columns(const AkDecision *d, Datum *values,
									  bool *nulls);

#endif							/* AK_LIMITER_H */
