/*-------------------------------------------------------------------------
 *
 * keys.h
 *	  Issuing, rotating, revoking and changing keys (keys.c, update.c,
 *	  introspect.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_KEYS_H
#define AK_KEYS_H

#include "auth/token.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* The arguments of issue(); NULL pointers are SQL NULLs. */
typedef struct AkIssueArgs
{
	text	   *owner;
	text	   *name;
	ArrayType  *scopes;
	text	   *tier;
	bool		has_expiry;
	TimestampTz expires_at;
	ArrayType  *allowed_ips;
	Jsonb	   *metadata;
	text	   *prefix;
	text	   *org;
	Jsonb	   *rate_limits;
	int64	   *max_uses;		/* NULL: uses not counted */
} AkIssueArgs;

/* A new key: its token exists here, and in the row returned, only. */
typedef struct AkNewKey
{
	pg_uuid_t	id;
	char		token[AK_PREFIX_MAX_LEN + 1 + AK_BODY_LEN + 1];
	char		display_prefix[AK_DISPLAY_MAX_LEN + 1];
	TimestampTz old_expires_at;	/* rotate(): when the old key stops */
} AkNewKey;

extern void ak_key_issue(const AkIssueArgs *args, AkNewKey *out);
extern void ak_key_validate_issue(const AkIssueArgs *args);
extern char *ak_key_issued_detail(const AkIssueArgs *args, const AkNewKey *key);
extern bytea *ak_new_token(const char *prefix, size_t prefix_len, AkNewKey *out);
extern void ak_key_rotate(Datum key_id, const Interval *grace, AkNewKey *out);
extern bool ak_key_revoke(Datum key_id, text *reason);
extern Datum ak_key_update(Datum key_id, Jsonb *changes);
extern bool ak_key_introspect(text *display_prefix, Datum *result);

/* for update.c and keys.c: the key a call is about, locked */
typedef struct AkLockedKey
{
	text	   *owner;
	char	   *display_prefix;
	char	   *status;
	ArrayType  *scopes;
	ArrayType  *allowed_ips;	/* NULL: any address */
	bool		has_expiry;
	TimestampTz expires_at;
} AkLockedKey;

extern void ak_lock_key(Datum key_id, AkLockedKey *key, const char *action);
extern char *ak_uuid_text(const pg_uuid_t *id);

#endif							/* AK_KEYS_H */
