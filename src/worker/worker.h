/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The apikey worker (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_WORKER_H
#define AK_WORKER_H

extern void ak_worker_register(void);
extern Size ak_worker_shmem_size(void);
extern void ak_worker_shmem_init(void);

PGDLLEXPORT extern void apikey_worker_main(Datum arg);

#endif							/* AK_WORKER_H */
