/*-------------------------------------------------------------------------
 *
 * headers.h
 *	  The rate-limit headers of a decision (headers.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_HEADERS_H
#define AK_HEADERS_H

#include "limit/gcra.h"
#include "limit/headerset.h"

/* What the headers describe: limits after a decision. */
typedef struct AkLimitReport
{
	int			nlimits;
	const AkLimit *limits;
	const char *policy;			/* RateLimit-Policy, or NULL to build it */
	AkLimitOutcome outcome[AK_MAX_LIMITS];
	int			restrictive;	/* index of the limit with fewest tokens */
} AkLimitReport;

extern int	ak_most_restrictive(const AkLimitReport *report);
extern void ak_headers_build(AkHeaders *h, const AkLimitReport *report,
							 int64 now_us, int64 retry_after_us);
/* A PostgreSQL timestamp as Unix epoch seconds, rounded up. */
static inline int64
ak_unix_seconds_ceil(int64 pg_us)
{
	return ak_seconds_ceil(pg_us) +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

#endif							/* AK_HEADERS_H */
