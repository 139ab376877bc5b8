/*-------------------------------------------------------------------------
 *
 * xact.c
 *	  What happens when a transaction ends, in one place and one order, as
 *	  core's CommitTransaction calls its AtEOXact_* steps.  One callback is
 *	  registered, once, at module load; it calls each module's step in this
 *	  order:
 *
 *	  1. keys (auth/keycache.c): a transaction that changed keys cannot be
 *		 prepared; at commit its changes are published to every backend's
 *		 cache, and at commit or abort evicted from this one's;
 *	  2. refunds (limit/refund.c): at abort, the units consumed with
 *		 refund_on_rollback go back to quota and usage;
 *	  3. usage (usage/record.c): this transaction's requests are recorded,
 *		 with their duration;
 *	  4. held slots (limit/held.c): concurrency and in-flight slots are
 *		 released -- after usage, so that a request holds its slot for as
 *		 long as its recorded duration;
 *	  5. identity (auth/identity.c): the key verified by check_request()
 *		 stops being the caller, and the keys verified are forgotten;
 *	  6. token path (core/tokenpath.c): at abort, messages go back to being
 *		 logged with their statement;
 *	  7. launcher (worker/launcher.c): at commit, a CREATE EXTENSION asks
 *		 for a worker in this database;
 *	  8. address blocks (limit/blocklist.c): at commit of a transaction
 *		 that changed them, every backend is told to read them again.
 *
 *	  The steps are independent; the order is fixed so that it is the same
 *	  in every backend and can be reasoned about.  At the end of a
 *	  subtransaction: keys (evicted at abort), refunds (at abort; moved to
 *	  the parent at commit), token path (at abort), address blocks (read
 *	  again at abort).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/xact.h"
#include "auth/identity.h"
#include "auth/keycache.h"
#include "core/tokenpath.h"
#include "limit/blocklist.h"
#include "limit/held.h"
#include "limit/refund.h"
#include "usage/record.h"
#include "worker/launcher.h"
#include "xact.h"

static void
ak_xact_callback(XactEvent event, void *arg)
{
	ak_keycache_at_xact_end(event);
	ak_refund_at_xact_end(event);
	ak_usage_at_xact_end(event);
	ak_held_at_xact_end(event);
	ak_identity_at_xact_end(event);
	ak_tokenpath_at_xact_end(event);
	ak_launcher_at_xact_end(event);
	ak_blocklist_at_xact_end(event);
}

static void
ak_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	ak_keycache_at_subxact_end(event);
	ak_refund_at_subxact_end(event, mySubid, parentSubid);
	ak_tokenpath_at_subxact_end(event);
	ak_blocklist_at_subxact_end(event);
}

void
ak_xact_register_callbacks(void)
{
	RegisterXactCallback(ak_xact_callback, NULL);
	RegisterSubXactCallback(ak_subxact_callback, NULL);
}
