/*-------------------------------------------------------------------------
 *
 * warn.h
 *	  The worker's warnings of keys about to expire, and the end of
 *	  expired address blocks (warn.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_WARN_H
#define AK_WARN_H

extern void ak_worker_warn_expiring(void);
extern void ak_worker_expire_blocks(void);

#endif							/* AK_WARN_H */
