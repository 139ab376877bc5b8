/*-------------------------------------------------------------------------
 *
 * nonces.c
 *	  The nonces of signed requests, remembered for as long as the request
 *	  could be replayed: a request whose timestamp is ts is accepted while
 *	  the clock is within apikey.signature_max_skew of ts, so its nonce is
 *	  kept until ts + skew.  A nonce is remembered per key: two keys may
 *	  use the same one.
 *
 * The store never forgets a nonce that could still be replayed:
 *	  - full of nonces still in their window (apikey.max_nonces), it takes
 *		no more, and a request with a nonce is refused
 *		(NONCE_STORE_UNAVAILABLE) rather than admitted unchecked;
 *	  - across a clean restart it is saved and read back (noncefile.c);
 *	  - after a crash, or a start that follows an unclean stop, it may have
 *		forgotten nonces accepted before it was created: a request whose
 *		timestamp is that old (within one skew window of the creation) is
 *		refused the same way, until the clock has moved past it.
 *
 * Nonces are digested with BLAKE2b-128 keyed by a random salt drawn when
 * the store is created, so that clients cannot choose nonces that crowd
 * one bucket of the hash table.
 *
 * Locking protocol
 *	  The table is a shash (shmem/shash.h) of AK_NONCE_PARTITIONS
 *	  partitions, tranche "apikey nonces", and follows its protocol; an
 *	  entry's expires_us is its spinlock's.  AkNoncesShared is written by
 *	  the postmaster when it creates the shared memory, and by the process
 *	  that loads the saved nonces (noncefile.c) while every other process
 *	  that attaches waits for it; only read afterwards.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "auth/nonces.h"
#include "core/guc.h"
#include "storage/shmem.h"

#define AK_NONCE_PARTITIONS		16	/* a power of 2 */

/* What creating an entry needs: its expiry, and where to say it was new. */
typedef struct AkNonceInit
{
	int64		expires_us;
	bool	   *created;
} AkNonceInit;

static void ak_nonce_init(void *entry, const void *arg);
static bool ak_nonce_retire(void *entry, int64 now_us);

static const AkShashSpec ak_nonces_spec = {
	.name = "apikey nonces",
	.mem_class = AK_MEM_NONCE,
	.keysize = sizeof(AkNonceKey),
	.entrysize = sizeof(AkNonce),
	.header_offset = offsetof(AkNonce, header),
	.partitions = AK_NONCE_PARTITIONS,
	.hash = NULL,
	.max_entries = &ak_max_nonces,
	.init = ak_nonce_init,
	.retire = ak_nonce_retire,
};

AkShash		ak_nonces;
AkNoncesShared *ak_nonces_shared = NULL;


void
ak_nonces_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(AkNoncesShared)));
	ak_shash_request(&ak_nonces_spec);
}

/* Caller holds AddinShmemInitLock; true if the store was created. */
bool
ak_nonces_attach(void)
{
	bool		found;

	ak_nonces_shared = ShmemInitStruct("apikey nonces salt", sizeof(AkNoncesShared),
									   &found);
	if (!found)
	{
		randombytes_buf(ak_nonces_shared->salt, AK_NONCE_SALT_LEN);
		ak_nonces_shared->skew_us = (int64) ak_signature_max_skew * USECS_PER_SEC;
		ak_nonces_shared->forgotten_before = 0;
	}
	ak_shash_attach(&ak_nonces, &ak_nonces_spec);
	return !found;
}

static void
ak_nonce_init(void *entry, const void *arg)
{
	const AkNonceInit *init = arg;

	((AkNonce *) entry)->expires_us = init->expires_us;
	if (init->created)
		*init->created = true;
}

/* The sweep's test: a nonce whose request can no longer be replayed goes. */
static bool
ak_nonce_retire(void *entry, int64 now_us)
{
	AkNonce    *n = entry;
	bool		expired;

	ak_shash_lock(&n->header);
	expired = n->expires_us <= now_us;
	if (expired)
		ak_shash_retire_locked(&n->header);
	ak_shash_unlock(&n->header);
	return expired;
}

void
ak_nonce_key(AkNonceKey *key, const pg_uuid_t *key_id, const char *nonce, size_t len)
{
	memcpy(key->key_id, key_id->data, UUID_LEN);
	crypto_generichash(key->nonce, AK_NONCE_DIGEST_LEN, (const unsigned char *) nonce,
					   len, ak_nonces_shared->salt, AK_NONCE_SALT_LEN);
}

/*
 * Remembers the nonce of a request signed for key_id at ts_us (both on
 * apikey's clock, now_us being its reading), unless it was seen within the
 * window.  For AK_NONCE_FULL and AK_NONCE_UNSURE, *retry_after_us says
 * when a new request may succeed.
 */
AkNonceOutcome
ak_nonce_remember(const pg_uuid_t *key_id, const char *nonce, size_t len,
				  int64 ts_us, int64 now_us, int64 *retry_after_us)
{
	int64		skew_us = ak_nonces_shared->skew_us;
	TimestampTz forgotten;
	AkNonceKey	key;
	uint32		hash;
	AkNonce    *entry;
	bool		created = false;
	AkNonceInit init = {ts_us + skew_us, &created};
	AkNonceOutcome outcome = AK_NONCE_NEW;

	*retry_after_us = 0;
	(void) ak_area();			/* the saved nonces, and their salt, are loaded */
	forgotten = ak_nonces_shared->forgotten_before;
	if (forgotten != 0 && ts_us < forgotten + skew_us)
	{
		*retry_after_us = Max(forgotten + skew_us - now_us, USECS_PER_SEC);
		return AK_NONCE_UNSURE;
	}

	ak_nonce_key(&key, key_id, nonce, len);
	hash = ak_shash_hash(&ak_nonces, &key);
	if (!ak_shash_find(&ak_nonces, &key, &hash, 1, (void **) &entry, true, &init, now_us))
	{
		*retry_after_us = USECS_PER_SEC;
		return AK_NONCE_FULL;
	}
	if (!created)
	{
		ak_shash_lock(&entry->header);
		if (entry->expires_us > now_us)
			outcome = AK_NONCE_SEEN;
		else
			entry->expires_us = init.expires_us;	/* not yet swept: reuse */
		ak_shash_unlock(&entry->header);
	}
	ak_shash_release(&ak_nonces, hash);
	return outcome;
}

/*
 * Puts back a nonce saved at the last clean shutdown; false when the store
 * is full.  For the process that loads them, which others wait for.
 */
bool
ak_nonce_restore(const AkNonceKey *key, int64 expires_us)
{
	AkNonceInit init = {expires_us, NULL};
	uint32		hash = ak_shash_hash(&ak_nonces, key);
	void	   *entry;

	if (!ak_shash_find(&ak_nonces, key, &hash, 1, &entry, true, &init, 0))
		return false;
	ak_shash_release(&ak_nonces, hash);
	return true;
}
