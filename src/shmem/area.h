/*-------------------------------------------------------------------------
 *
 * area.h
 *	  apikey's dynamic shared memory: one DSA area that grows with the work,
 *	  up to apikey.shared_memory_budget, shared by classes of tables each
 *	  guaranteed a share of it (area.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_AREA_H
#define AK_AREA_H

#include "utils/dsa.h"

/* What the memory is for: each class is guaranteed a share of the budget. */
typedef enum AkMemClass
{
	AK_MEM_KEY,					/* keys' buckets and concurrency counters */
	AK_MEM_ADDRESS,				/* client addresses' buckets */
	AK_MEM_NAMED,				/* throttle() buckets */
	AK_MEM_COOLDOWN,			/* abuse cooldowns */
	AK_MEM_QUOTA,				/* quota counters */
	AK_MEM_USAGE,				/* usage not yet written */
	AK_MEM_KEYCACHE,			/* the shared cache of keys */
	AK_MEM_NONCE,				/* nonces of signed requests */
	AK_MEM_OTHER,				/* small tables: owners of names, queues */
	AK_MEM_NUM
} AkMemClass;

extern const char *const ak_mem_class_names[AK_MEM_NUM];

extern Size ak_area_shmem_size(void);
extern void ak_area_shmem_init(void);

extern dsa_area *ak_area(void);
extern void ak_area_on_attach(void (*callback) (void));
extern uint32 ak_area_attached(void);

extern dsa_pointer ak_area_allocate(AkMemClass class, Size size);
extern void ak_area_free(AkMemClass class, dsa_pointer dp, Size size);

typedef struct AkAreaUsage
{
	int64		budget;
	int64		total;
	int64		used[AK_MEM_NUM];
} AkAreaUsage;

extern void ak_area_usage(AkAreaUsage *usage);
extern int64 ak_area_share(AkMemClass class);
extern void ak_area_limit_to_budget(void);
extern bool ak_area_warning_due(AkMemClass *class);
extern int64 ak_area_class_ceiling(AkMemClass class);

#endif							/* AK_AREA_H */
