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

/* What the worker finds in its database (ak_extension_state). */
typedef enum AkExtensionState
{
	AK_EXTENSION_ABSENT,		/* not installed, or dropped: leave */
	AK_EXTENSION_OUTDATED,		/* another version's objects: wait */
	AK_EXTENSION_CURRENT		/* this library's version: serve */
} AkExtensionState;

extern AkExtensionState ak_extension_state(void);

#endif							/* AK_TASK_H */
