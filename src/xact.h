/*-------------------------------------------------------------------------
 *
 * xact.h
 *	  The one transaction-end dispatcher (xact.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_XACT_DISPATCH_H
#define AK_XACT_DISPATCH_H

extern void ak_xact_register_callbacks(void);

#endif							/* AK_XACT_DISPATCH_H */
