/*-------------------------------------------------------------------------
 *
 * counters.h
 *	  The live counters behind the apikey.stats view.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_COUNTERS_H
#define AK_COUNTERS_H

typedef enum AkCounter
{
	AK_REQUESTS,
	AK_VALID,
	AK_INVALID,
	AK_RATE_LIMITED,
	AK_QUOTA_EXCEEDED,
	AK_BLOCKED,
	AK_OVERLOADED,
	AK_CACHE_HITS,
	AK_CACHE_MISSES,
	AK_EVENTS_DROPPED,
	AK_USAGE_DROPPED,			/* not in the view: the worker logs it */
	AK_SHADOW_LIMITED,			/* requests a shadow limit would have refused */
	AK_ANONYMOUS,				/* requests without a key, admitted or not */
	AK_SHARED_KEY_HITS,			/* a backend's cache missed, the shared one hit */
	AK_SHARED_KEY_MISSES,		/* both missed */
	AK_NUM_COUNTERS
} AkCounter;

extern Size ak_counters_shmem_size(void);
extern void ak_counters_shmem_init(void);
extern void ak_count(AkCounter counter);
extern void ak_count_by(AkCounter counter, uint64 n);
extern uint64 ak_counter_total(AkCounter counter);

#endif							/* AK_COUNTERS_H */
