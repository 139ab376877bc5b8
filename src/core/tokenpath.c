/*-------------------------------------------------------------------------
 *
 * tokenpath.c
 *	  Any message raised while a token is in hand -- ours, or PostgreSQL's
 *	  from deep inside an index scan -- is logged without its statement,
 *	  which may carry the token (log_min_error_statement).
 *
 * An ERROR leaves the token path for good, so the flag is cleared with it;
 * errors caught by an exception block clear it at (sub)transaction abort.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/tokenpath.h"
#include "utils/elog.h"

bool		ak_handling_token = false;

static emit_log_hook_type prev_emit_log_hook = NULL;

static void
ak_emit_log(ErrorData *edata)
{
	if (ak_handling_token)
	{
		edata->hide_stmt = true;
		if (edata->elevel >= ERROR)
			ak_handling_token = false;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
ak_tokenpath_install_hook(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = ak_emit_log;
}

void
ak_tokenpath_at_xact_end(XactEvent event)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		ak_handling_token = false;
}

void
ak_tokenpath_at_subxact_end(SubXactEvent event)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		ak_handling_token = false;
}
