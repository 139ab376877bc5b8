/*-------------------------------------------------------------------------
 *
 * tokenpath.h
 *	  Code that holds a token keeps its statement out of the server log
 *	  (tokenpath.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_TOKENPATH_H
#define AK_TOKENPATH_H

#include "access/xact.h"

/*
 * Brackets the code of an entry point that holds a token: any message
 * raised in between is logged without its statement.
 */
extern bool ak_handling_token;
#define AK_TOKEN_PATH_BEGIN()	(ak_handling_token = true)
#define AK_TOKEN_PATH_END()		(ak_handling_token = false)

extern void ak_tokenpath_install_hook(void);
extern void ak_tokenpath_at_xact_end(XactEvent event);
extern void ak_tokenpath_at_subxact_end(SubXactEvent event);

#endif							/* AK_TOKENPATH_H */
