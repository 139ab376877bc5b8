/*-------------------------------------------------------------------------
 *
 * keyinval.h
 *	  Which keys the current transaction changed, and the shared ring that
 *	  tells every backend once it commits (keyinval.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_KEYINVAL_H
#define AK_KEYINVAL_H

#include "core/secret.h"
#include "nodes/pg_list.h"

#define AK_INVAL_RING_SIZE	4096

typedef struct AkInvalMessage
{
	bool		flush_all;
	uint8		digest[AK_DIGEST_LEN];
} AkInvalMessage;

extern Size ak_inval_shmem_size(void);
extern void ak_inval_shmem_init(void);

/* the ring */
#include "port/atomics.h"

/* the ring's sequence number of the next message: the fast test, no lock */
extern pg_atomic_uint64 *ak_inval_next;

static inline uint64
ak_inval_ring_next(void)
{
	return pg_atomic_read_u64(ak_inval_next);
}

extern int	ak_inval_ring_read(uint64 from, uint64 *next, AkInvalMessage *out);

/* this transaction's changes */
typedef enum AkInvalNote
{
	AK_INVAL_ONE,				/* the digest is recorded */
	AK_INVAL_ALL,				/* from now on every key counts as changed */
	AK_INVAL_ALL_ALREADY		/* every key counted as changed before */
} AkInvalNote;

extern AkInvalNote ak_inval_note(Oid relid, const uint8 *digest);
extern bool ak_inval_changed(void);
extern const List *ak_inval_pending(bool *all);
extern void ak_inval_check_prepare(void);
extern uint64 ak_inval_ring_position(void);
extern void ak_inval_publish(void (*forget) (const uint8 *digest));
extern void ak_inval_forget(void);

#endif							/* AK_KEYINVAL_H */
