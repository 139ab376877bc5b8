/*-------------------------------------------------------------------------
 *
 * maintain.h
 *	  The worker's maintenance: expiry and retention (maintain.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_MAINTAIN_H
#define AK_MAINTAIN_H

extern void ak_worker_maintain(void);

#endif							/* AK_MAINTAIN_H */
