/*-------------------------------------------------------------------------
 *
 * redact.h
 *	  Tokens and digests found in the text of a log message (redact.c):
 *	  pure functions, with no allocation and no error, so that a fuzzer can
 *	  drive them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_REDACT_H
#define AK_REDACT_H

#include <stdbool.h>

extern bool ak_text_has_token(const char *s);
extern bool ak_redact_tokens(char *s);
extern bool ak_redact_digests(char *s);

#endif							/* AK_REDACT_H */
