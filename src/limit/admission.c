/*-------------------------------------------------------------------------
 *
 * admission.c
 *	  Verification as a request sees it (verify(), check(), exchange()):
 *	  the token's verification (auth/verify.c), then the abuse cooldowns --
 *	  a key or an address that failed too often answers BLOCKED -- and what
 *	  every verification leaves behind: the counters of apikey.stats, a
 *	  failure counted towards a cooldown, and an access event.
 *
 * Abuse: apikey.abuse_threshold failed verifications per client address
 * and, for well-formed tokens, per display prefix (someone guessing the
 * rest of a known key) within one minute start a cooldown of
 * apikey.abuse_cooldown.  Only an address's cooldown refuses a token that
 * verifies: the display prefix is public, so anyone could keep a key
 * BLOCKED by guessing at it.  A prefix in cooldown instead blocks, at
 * once, every address that fails on it again: guessers spread over many
 * addresses are stopped, the key's holder is not.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "auth/token.h"
#include "auth/verify.h"
#include "core/counters.h"
#include "core/guc.h"
#include "limit/abuse.h"
#include "limit/admission.h"
#include "limit/blocklist.h"
#include "usage/events.h"

StaticAssertDecl(AK_DISPLAY_MAX_LEN < AK_EVENT_DISPLAY_LEN,
				 "an access event holds a display prefix");

/*
 * Counts a failed verification per client address and, for well-formed
 * tokens, per display prefix.  display is NULL when the token was
 * malformed.  An address failing on a prefix already in cooldown is
 * blocked at once.
 */
static void
ak_abuse_count_failure(inet *client_ip, const char *display, size_t display_len,
					   int64 now_us)
{
	uint8		subject[AK_SUBJECT_ID_LEN];
	int64		cooldown_us = (int64) ak_abuse_cooldown * USECS_PER_SEC;
	bool		prefix_blocked = false;

	if (display != NULL)
	{
		ak_name_subject_id(display, display_len, subject);
		prefix_blocked = ak_abuse_blocked_until(AK_CELL_ABUSE_PREFIX, subject,
												now_us) > 0;
		ak_abuse_record(AK_CELL_ABUSE_PREFIX, subject, ak_abuse_threshold, cooldown_us, now_us);
	}
	if (client_ip != NULL)
	{
		ak_ip_subject_id(client_ip, subject);
		if (prefix_blocked)
			ak_abuse_block(AK_CELL_ABUSE_IP, subject, cooldown_us, now_us);
		else
			ak_abuse_record(AK_CELL_ABUSE_IP, subject, ak_abuse_threshold, cooldown_us, now_us);
	}
}

/*
 * The end of the cooldown of the client address, or 0.  Never the key's:
 * others' failures on its public display prefix do not refuse its holder.
 */
static int64
ak_abuse_cooldown_until(inet *client_ip, int64 now_us)
{
	uint8		subject[AK_SUBJECT_ID_LEN];

	if (client_ip == NULL)
		return 0;
	ak_ip_subject_id(client_ip, subject);
	return ak_abuse_blocked_until(AK_CELL_ABUSE_IP, subject, now_us);
}

/* What a failure is counted against: the key's display prefix, else the token's. */
static const char *
ak_failure_display(text *token, const AkKeyInfo *key, size_t prefix_len,
				   size_t *len)
{
	if (key != NULL)
	{
		*len = strlen(key->display_prefix);
		return key->display_prefix;
	}
	if (prefix_len > 0)
	{
		*len = prefix_len + 1 + AK_DISPLAY_BODY_LEN;
		return VARDATA_ANY(token);
	}
	*len = 0;
	return NULL;
}

/* Queues a held-back access event, with how the request was answered. */
void
ak_denial_queue(const AkDenial *denial, int status, const char *method,
				const char *path)
{
	ak_event_denied_as(denial->code, status,
					   denial->has_key ? &denial->key_id : NULL,
					   denial->has_ip ? &denial->ip : NULL,
					   denial->display_len > 0 ? denial->display : NULL,
					   denial->display_len, method, path);
}

/* Holds the access event of a failure back, in defer. */
static void
ak_denial_hold(AkDenial *defer, AkCode code, const AkKeyInfo *key,
			   inet *client_ip, const char *display, size_t display_len)
{
	defer->pending = true;
	defer->code = code;
	defer->has_key = key != NULL && key->stored;
	if (defer->has_key)
		defer->key_id = key->id;
	defer->has_ip = client_ip != NULL;
	if (defer->has_ip)
		memcpy(&defer->ip, client_ip, Min(VARSIZE_ANY(client_ip), sizeof(inet)));
	defer->display_len = display ? Min(display_len, AK_EVENT_DISPLAY_LEN - 1) : 0;
	if (defer->display_len > 0)
		memcpy(defer->display, display, defer->display_len);
}

/*
 * The end of a block or cooldown of this request's address or key: of
 * the key's owner's address blocks (blocks: there are blocks in force),
 * then the abuse cooldown of the address -- never its display prefix's,
 * which others may have guessed at (doc/security.md); 0 for none.
 */
static int64
ak_key_blocked_until(inet *client_ip, const AkKeyInfo *key, bool blocks,
					 int64 now_us)
{
	int64		until = 0;

	if (blocks && ak_blocklist_match_owner(key->owner, client_ip, &until))
		return until;
	if (ak_abuse_threshold > 0)
		return ak_abuse_cooldown_until(client_ip, now_us);
	return 0;
}

/*
 * Verifies a token at now_us, counts the outcome and queues an access event
 * for a failure -- or holds it back in defer, when not NULL; a key
 * verified VALID is one the caller has proved it holds, for consume()
 * (auth/identity.c).  *key is the key the token belongs to, when there is
 * one (also for most failures), else NULL; it is valid until the next
 * verification.  For BLOCKED, *blocked_until is the end of the block
 * (DT_NOEND: none).
 */
AkCode
ak_verify_request(text *token, text *scope, inet *client_ip, int64 now_us,
				  const AkKeyInfo **key, int64 *blocked_until, AkDenial *defer)
{
	size_t		prefix_len = 0;
	bool		blocks = client_ip != NULL && ak_blocklist_any(now_us);
	AkCode		code;

	*key = NULL;
	*blocked_until = 0;
	if (unlikely(blocks) && ak_blocklist_match(client_ip, blocked_until))
		code = AK_CODE_BLOCKED;
	else
	{
		code = ak_verify_token(token, scope, client_ip, now_us, key, &prefix_len);
		if ((blocks || ak_abuse_threshold > 0) &&
			!ak_code_is_401(code) && code != AK_CODE_DISABLED && *key != NULL &&
			(*blocked_until = ak_key_blocked_until(client_ip, *key, blocks, now_us)) > 0)
			code = AK_CODE_BLOCKED;
	}

	ak_count(AK_REQUESTS);
	ak_count(code == AK_CODE_VALID ? AK_VALID : AK_INVALID);
	if (code == AK_CODE_BLOCKED)
		ak_count(AK_BLOCKED);

	if (code == AK_CODE_VALID)
		ak_identity_note_verified(*key);
	else
	{
		size_t		display_len;
		const char *display = ak_failure_display(token, *key, prefix_len,
												 &display_len);

		if (ak_abuse_threshold > 0 && ak_code_is_401(code))
			ak_abuse_count_failure(client_ip, display, display_len, now_us);
		if (defer != NULL)
			ak_denial_hold(defer, code, *key, client_ip, display, display_len);
		else
			ak_event_denied(code, (*key != NULL && (*key)->stored) ? &(*key)->id : NULL,
							client_ip, display, display_len);
	}
	return code;
}
