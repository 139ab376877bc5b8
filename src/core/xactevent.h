/*-------------------------------------------------------------------------
 *
 * xactevent.h
 *	  What the modules' transaction-end steps share.  The dispatcher that
 *	  calls them, in a fixed order, is src/xact.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_XACTEVENT_H
#define AK_XACTEVENT_H

#include "access/xact.h"

/* Whether a transaction callback's event ends the transaction. */
static inline bool
ak_xact_ends(XactEvent event)
{
	return event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT;
}

#endif							/* AK_XACTEVENT_H */
