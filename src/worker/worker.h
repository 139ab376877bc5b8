/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The apikey worker (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_WORKER_H
#define AK_WORKER_H


PGDLLEXPORT extern void apikey_worker_main(Datum arg);

#endif							/* AK_WORKER_H */
