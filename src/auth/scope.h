/*-------------------------------------------------------------------------
 *
 * scope.h
 *	  Whether a key's scopes grant a requested scope (scope.c): a pure
 *	  function, so that a fuzzer can drive it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SCOPE_H
#define AK_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

extern bool ak_scope_granted(char *const *scopes, int nscopes,
							 const char *scope, size_t len);

#endif							/* AK_SCOPE_H */
