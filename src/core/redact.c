/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  Finds what looks like a token, or a key's digest, in the text of a
 *	  log message, and masks it in place.
 *
 * PostgreSQL copies SQL text into its log before and around apikey's code:
 * log_statement, log_min_duration_statement, the statement of any error
 * (log_min_error_statement: an aborted transaction, a statement timeout, a
 * misspelled function, an argument that does not convert), auto_explain's
 * plans and parameters, and the postmaster's "Failed process was running"
 * after a backend crash.  apikey's log hook (tokenpath.c) sees every one of
 * these messages in every process, the postmaster included, and uses this
 * file to keep the tokens out.
 *
 * A token is recognized by its shape alone -- a prefix ending in a letter
 * or digit, "_", then 38 base62 characters not followed by another -- so a
 * mistyped token, whose checksum is wrong, is masked too; so is a token
 * cut short at the end of the text (the activity string of a crashed
 * backend is cut at track_activity_query_size), unless what is left of it
 * is a lower-case word, as in "max_concurrency".  The first 8 characters of
 * the body stay: with the prefix they are the display prefix, which is
 * public and says which key it was.  A static key has no shape and cannot
 * be recognized.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/redact.h"

#define AK_REDACT_BODY_LEN		38	/* random part and checksum */
#define AK_REDACT_KEEP			8	/* the body's part of the display prefix */
#define AK_REDACT_DIGEST_HEX	64	/* BLAKE2b-256 as hex */

static bool
ak_is_base62(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
ak_is_prefix_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

static bool
ak_is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * Whether s[0..n) is lower-case letters only: a word ("max_concurrency" at
 * the end of a message), not the start of a random body, which has
 * upper-case letters or digits but with odds of (26/62)^n.
 */
static bool
ak_is_lower_word(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return false;
	return true;
}

/*
 * The length of the token body that starts at s[i] (just after a "_"
 * preceded by a prefix character), or 0 if it is not one: 38 base62
 * characters and no more, or more than the display part of one cut short
 * by the end of the text.
 */
static size_t
ak_token_body_at(const char *s, size_t i)
{
	size_t		n = 0;

	if (i < 2 || s[i - 1] != '_' || !ak_is_prefix_char(s[i - 2]))
		return 0;
	while (s[i + n] != '\0' && ak_is_base62(s[i + n]) && n <= AK_REDACT_BODY_LEN)
		n++;
	if (n == AK_REDACT_BODY_LEN && !ak_is_base62(s[i + n]))
		return n;
	if (s[i + n] == '\0' && n > AK_REDACT_KEEP && n < AK_REDACT_BODY_LEN &&
		!ak_is_lower_word(s + i, n))
		return n;
	return 0;
}

/*
 * Finds the token bodies of text; masks each, past its display part, when
 * mask is true (text is then writable).  Returns whether there was one.
 * The scan goes from the end: a match looks two characters back, which an
 * earlier mask would have changed ("a_<body>_<body>" is two tokens), and
 * forward only to where the next match could start.
 */
static bool
ak_scan_tokens(char *text, bool mask)
{
	bool		found = false;

	for (size_t i = strlen(text); i-- > 0;)
	{
		size_t		n = ak_token_body_at(text, i);

		if (n == 0)
			continue;
		found = true;
		if (!mask)
			break;
		memset(text + i + AK_REDACT_KEEP, '*', n - AK_REDACT_KEEP);
	}
	return found;
}

/* Whether s holds something shaped like a token. */
bool
ak_text_has_token(const char *s)
{
	return s != NULL && ak_scan_tokens(unconstify(char *, s), false);
}

/*
 * Masks every token in s, in place, but for its display prefix; returns
 * whether there was one.
 */
bool
ak_redact_tokens(char *s)
{
	return s != NULL && ak_scan_tokens(s, true);
}

/*
 * Masks, in place, every bytea literal of 32 bytes (\x and 64 hex digits:
 * the form a key's digest takes in a plan or a parameter) in a text that
 * names apikey; returns whether there was one.  Other texts are left alone:
 * a 32-byte value of another application is none of apikey's business.
 */
bool
ak_redact_digests(char *s)
{
	bool		found = false;

	if (s == NULL || strstr(s, "apikey") == NULL)
		return false;
	for (char *p = s; (p = strstr(p, "\\x")) != NULL; p += 2)
	{
		size_t		n = 0;

		while (n <= AK_REDACT_DIGEST_HEX && ak_is_hex(p[2 + n]))
			n++;
		if (n != AK_REDACT_DIGEST_HEX)
			continue;
		memset(p + 2, '*', n);
		found = true;
	}
	return found;
}
