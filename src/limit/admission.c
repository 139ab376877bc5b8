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

/*
 * Verifies a token at now_us, counts the outcome and queues an access event
 * for a failure; a key verified VALID is one the caller has proved it
 * holds, for consume() (auth/identity.c).  *key is the key the token belongs to, when there is one
 * (also for most failures), else NULL; it is valid until the next
 * verification.  For BLOCKED, *blocked_until is the end of the cooldown.
 */
AkCode
ak_verify_request(text *token, text *scope, inet *client_ip, int64 now_us,
				  const AkKeyInfo **key, int64 *blocked_until)
{
	size_t		prefix_len;
	AkCode		code = ak_verify_token(token, scope, client_ip, now_us, key,
									   &prefix_len);

	*blocked_until = 0;
	if (ak_abuse_threshold > 0 && !ak_code_is_401(code) && *key != NULL &&
		(*blocked_until = ak_abuse_cooldown_until(client_ip, now_us)) > 0)
		code = AK_CODE_BLOCKED;

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
		ak_event_denied(code, (*key != NULL && (*key)->stored) ? &(*key)->id : NULL,
						client_ip, display, display_len);
	}
	return code;
}
