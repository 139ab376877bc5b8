/*-------------------------------------------------------------------------
 *
 * scope.c
 *	  The scope matcher (doc/apikey.md, "verify"): a key scope grants the
 *	  requested scope if it is equal, "*", or "<prefix>:*" and the request
 *	  starts with "<prefix>:" -- "orders:*" grants "orders:read", not
 *	  "orders".  A NULL or empty request requires nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/scope.h"

bool
ak_scope_granted(char *const *scopes, int nscopes, const char *scope, size_t len)
{
	if (scope == NULL || len == 0)
		return true;
	for (int i = 0; i < nscopes; i++)
	{
		const char *s = scopes[i];
		size_t		slen = strlen(s);

		if (slen == 1 && s[0] == '*')
			return true;
		if (slen == len && memcmp(s, scope, len) == 0)
			return true;
		if (slen >= 2 && s[slen - 1] == '*' && s[slen - 2] == ':' &&
			len > slen - 1 && memcmp(s, scope, slen - 1) == 0)
			return true;
	}
	return false;
}
