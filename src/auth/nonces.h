/*-------------------------------------------------------------------------
 *
 * nonces.h
 *	  The nonces of signed requests seen within the skew window, in
 *	  shared memory (nonces.c), kept across a clean restart
 *	  (noncefile.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_NONCES_H
#define AK_NONCES_H

#include "datatype/timestamp.h"
#include "shmem/shash.h"
#include "utils/uuid.h"

#define AK_NONCE_SALT_LEN	16
#define AK_NONCE_DIGEST_LEN 16

/* An entry's key: the key the request was signed for, the nonce's digest. */
typedef struct AkNonceKey
{
	uint8		key_id[UUID_LEN];
	uint8		nonce[AK_NONCE_DIGEST_LEN];
} AkNonceKey;

typedef struct AkNonce
{
	AkNonceKey	key;			/* hash key, must be first */
	AkShashEntry header;		/* spinlock and live flag */
	int64		expires_us;		/* the request's timestamp + the skew */
} AkNonce;

/* What the store shares besides its entries. */
typedef struct AkNoncesShared
{
	uint8		salt[AK_NONCE_SALT_LEN];	/* keys the nonce digests */
	int64		skew_us;		/* apikey.signature_max_skew when created */

	/*
	 * Nonces accepted before this time may have been forgotten (a crash, a
	 * start after an unclean stop); 0 if none was.  Written by the
	 * postmaster, and by the loader of the saved nonces (noncefile.c).
	 */
	TimestampTz forgotten_before;
} AkNoncesShared;

typedef enum AkNonceOutcome
{
	AK_NONCE_NEW,				/* remembered now: the request may go on */
	AK_NONCE_SEEN,				/* a replay */
	AK_NONCE_FULL,				/* no room for it: refuse */
	AK_NONCE_UNSURE				/* it may have been seen and forgotten: refuse */
} AkNonceOutcome;

extern AkShash ak_nonces;
extern AkNoncesShared *ak_nonces_shared;

extern void ak_nonces_request(void);
extern bool ak_nonces_attach(void);
extern void ak_nonce_key(AkNonceKey *key, const pg_uuid_t *key_id,
						 const char *nonce, size_t len);
extern bool ak_nonce_restore(const AkNonceKey *key, int64 expires_us);
extern AkNonceOutcome ak_nonce_remember(const pg_uuid_t *key_id, const char *nonce,
										size_t len, int64 ts_us, int64 now_us,
										int64 *retry_after_us);

/* noncefile.c */
extern void ak_nonces_persist_start(bool created);
extern bool ak_nonces_load(void);
extern void ak_nonces_dump(void);

#endif							/* AK_NONCES_H */
