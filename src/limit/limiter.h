/*-------------------------------------------------------------------------
 *
 * limiter.h
 *	  check(), consume() and throttle(): the order of the steps, and what
 *	  a refusal gives back (limiter.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_LIMITER_H
#define AK_LIMITER_H

#include "auth/keyinfo.h"
#include "core/codes.h"
#include "limit/cells.h"
#include "limit/headers.h"

/* What a request was told. */
typedef struct AkDecision
{
	bool		allowed;
	AkCode		code;
	const AkKeyInfo *key;		/* NULL when the token named no key */
	AkUsageOutcome usage;		/* how the key's usage counts it */
	AkLimitReport report;		/* the limits behind the answer, if any */
	AkLimit		ip_limit;		/* the per-address limit, report may point here */
	AkLimit		named_limit;	/* a throttle()'s limit, report may point here */
	AkLimit		quota_limit;	/* a quota that refused, report may point here */
	int64		retry_after_us; /* -1: no Retry-After */
	int64		now_us;
} AkDecision;

extern void ak_limiter_decide(text *token, text *scope, inet *client_ip,
							  int64 cost, AkDecision *d);
extern void ak_limiter_admit(const AkKeyInfo *key, inet *client_ip, int64 cost,
							 int64 now_us, AkDecision *d);
extern void ak_limiter_consume(const pg_uuid_t *key_id, int64 cost,
							   bool refund_on_rollback, AkDecision *d);
extern void ak_limiter_throttle(text *name, int64 rate, const Interval *period,
								const int64 *burst, int64 cost, AkDecision *d);

extern void ak_limiter_debit_subject(AkCellKind kind, const uint8 *subject,
									 const AkLimit *limits, int n,
									 const char *policy, int64 cost,
									 AkDecision *d);

extern void ak_decision_headers(const AkDecision *d, AkHeaders *h);
extern void ak_decision_limit_columns(const AkDecision *d, Datum *values,
									  bool *nulls);

#endif							/* AK_LIMITER_H */
