/*-------------------------------------------------------------------------
 *
 * persist.h
 *	  The limiter's cells across a clean restart (persist.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_PERSIST_H
#define AK_PERSIST_H

extern void ak_persist_request(void);
extern void ak_persist_shmem_init(void);
extern void ak_persist_on_attach(void);
extern void ak_persist_dump(void);
extern void ak_persist_forget(void);

#endif							/* AK_PERSIST_H */
