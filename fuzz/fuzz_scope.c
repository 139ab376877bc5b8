/*
 * libFuzzer harness: the scope matcher (src/auth/scope.c).  The input is
 * key scopes and a requested scope, separated by newlines (the last line
 * is the request).  Checked against a second, independent statement of the
 * rule (doc/apikey.md, "verify").
 */
#include "postgres.h"

#include <stdint.h>

#include "auth/scope.h"
#include "stubs.h"

#define MAX_SCOPES 64

/* The rule, said another way: "*", equal, or "p:*" and the request "p:x..." */
static bool
reference(char *const *scopes, int n, const char *req, size_t len)
{
	if (req == NULL || len == 0)
		return true;
	for (int i = 0; i < n; i++)
	{
		const char *s = scopes[i];
		size_t		slen = strlen(s);

		if (strcmp(s, "*") == 0)
			return true;
		if (slen == len && strncmp(s, req, len) == 0 && memchr(req, '\0', len) == NULL)
			return true;
		if (slen >= 2 && strcmp(s + slen - 2, ":*") == 0)
		{
			size_t		plen = slen - 1;	/* "p:" */

			if (len > plen && memcmp(req, s, plen) == 0)
				return true;
		}
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *copy = palloc(size + 1);
	char	   *scopes[MAX_SCOPES];
	int			n = 0;
	char	   *line = copy;
	char	   *req;
	size_t		len;
	bool		got;

	memcpy(copy, data, size);
	copy[size] = '\0';
	for (char *nl; (nl = strchr(line, '\n')) != NULL && n < MAX_SCOPES; line = nl + 1)
	{
		*nl = '\0';
		scopes[n++] = line;
	}
	req = line;
	len = strlen(req);

	got = ak_scope_granted(scopes, n, req, len);
	FUZZ_CHECK(got == reference(scopes, n, req, len));
	FUZZ_CHECK(ak_scope_granted(scopes, n, NULL, 0));
	for (int i = 0; i < n; i++)
		if (scopes[i][0] != '\0')
			FUZZ_CHECK(ak_scope_granted(scopes, n, scopes[i], strlen(scopes[i])));
	fuzz_free_all();
	return 0;
}
