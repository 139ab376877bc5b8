/*-------------------------------------------------------------------------
 *
 * leak.h
 *	  Leak reports: a token found where it should not be is revoked
 *	  (leak.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_LEAK_H
#define AK_LEAK_H

#include "fmgr.h"

extern const char *ak_report_leak(text *token, text *source);

#endif							/* AK_LEAK_H */
