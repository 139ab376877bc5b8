/*
 * libFuzzer harness: the token parser (src/auth/token.c) and the log
 * redactor that must recognize what it accepts (src/core/redact.c).
 * Checks, for any bytes:
 *	- a token the parser accepts has a valid prefix and the length of one;
 *	  the redactor finds it, and masks all of it but the display prefix;
 *	- after the redactor ran on any text, it finds no token left, and only
 *	  '*' were written;
 *	- a token generated with a prefix taken from the input is accepted, and
 *	  no longer once any one character of its body is changed.
 */
#include "postgres.h"

#include <stdint.h>

#include "auth/token.h"
#include "core/redact.h"
#include "stubs.h"

#define DISPLAY_BODY 8

static const char base62[] =
"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void
check_accepted(const char *tok, size_t len, size_t plen)
{
	char	   *copy = pnstrdup(tok, len);

	FUZZ_CHECK(plen + 1 + AK_BODY_LEN == len);
	FUZZ_CHECK(ak_prefix_is_valid(tok, plen));
	FUZZ_CHECK(ak_text_has_token(copy));
	FUZZ_CHECK(ak_redact_tokens(copy));
	FUZZ_CHECK(memcmp(copy, tok, plen + 1 + DISPLAY_BODY) == 0);
	for (size_t i = plen + 1 + DISPLAY_BODY; i < len; i++)
		FUZZ_CHECK(copy[i] == '*');
}

static void
check_redactor(const uint8_t *data, size_t size)
{
	char	   *text = pnstrdup((const char *) data, size);
	char	   *masked = pstrdup(text);
	size_t		n = strlen(text);

	ak_redact_tokens(masked);
	ak_redact_digests(masked);
	FUZZ_CHECK(strlen(masked) == n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(masked[i] == text[i] || masked[i] == '*');
	FUZZ_CHECK(!ak_text_has_token(masked));
}

static void
check_generated(const uint8_t *data, size_t size)
{
	size_t		plen = 0;
	char		tok[AK_PREFIX_MAX_LEN + 1 + AK_BODY_LEN + 1];
	size_t		len;
	size_t		got;
	size_t		at;
	char		was;

	while (plen < size && plen < AK_PREFIX_MAX_LEN && data[plen] != '|')
		plen++;
	if (plen == size || !ak_prefix_is_valid((const char *) data, plen))
		return;
	ak_token_generate((const char *) data, plen, tok);
	len = strlen(tok);
	FUZZ_CHECK(ak_token_is_well_formed(tok, len, &got) && got == plen);
	check_accepted(tok, len, plen);

	/* twice, joined by "_": both masked */
	{
		char	   *twice = psprintf("%s_%s", tok, tok);

		FUZZ_CHECK(ak_redact_tokens(twice));
		FUZZ_CHECK(strstr(twice, tok) == NULL);
		FUZZ_CHECK(!ak_text_has_token(twice));
	}

	/* one character of the body changed: refused */
	at = plen + 1 + (size > plen + 1 ? data[plen + 1] % AK_BODY_LEN : 0);
	was = tok[at];
	tok[at] = base62[(strchr(base62, was) - base62 + 1 + (size > plen + 2 ? data[plen + 2] % 61 : 0)) % 62];
	FUZZ_CHECK(tok[at] != was);
	FUZZ_CHECK(!ak_token_is_well_formed(tok, len, &got));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		plen = 0;

	if (ak_token_is_well_formed((const char *) data, size, &plen) &&
		memchr(data, '\0', size) == NULL)
		check_accepted((const char *) data, size, plen);
	check_redactor(data, size);
	check_generated(data, size);
	fuzz_free_all();
	return 0;
}
