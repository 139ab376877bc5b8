/*-------------------------------------------------------------------------
 *
 * task.h
 *	  One task of the worker in a transaction of its own (task.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_TASK_H
#define AK_TASK_H

#include <signal.h>

#define AK_WORKER_NAME			"apikey worker"

/* Set by SIGTERM: the worker flushes once more and exits. */
extern volatile sig_atomic_t ak_worker_stop_requested;

extern bool ak_task_run(const char *what, void (*task) (void *), void *arg);
extern bool ak_extension_exists(void);

#endif							/* AK_TASK_H */
