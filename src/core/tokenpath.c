/*-------------------------------------------------------------------------
 *
 * tokenpath.c
 *	  Any message raised while a token is in hand -- ours, or PostgreSQL's
 *	  from deep inside an index scan -- is logged without its statement,
 *	  which may carry the token (log_min_error_statement).
 *
 * Beyond the token path, the hook also hides the statement of any message
 * whose statement holds a token, and masks tokens that messages quote
 * (redact.c): that reaches the errors PostgreSQL raises before apikey runs.
 *
 * An ERROR leaves the token path for good, so the flag is cleared with it;
 * errors caught by an exception block clear it at (sub)transaction abort.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/redact.h"
#include "core/tokenpath.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"

bool		ak_handling_token = false;

static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * Masks the tokens (and, in text about apikey, the digests) a message
 * quotes: the statement of log_statement and log_min_duration_statement,
 * auto_explain's plans, the postmaster's "Failed process was running".
 */
static void
ak_redact_message(ErrorData *edata)
{
	char	   *parts[] = {edata->message, edata->detail, edata->detail_log,
	edata->hint, edata->context, edata->internalquery};

	for (int i = 0; i < lengthof(parts); i++)
	{
		ak_redact_tokens(parts[i]);
		ak_redact_digests(parts[i]);
	}
}

/*
 * The log hook, in every process that loaded apikey (the postmaster and
 * every backend, as it is preloaded): messages raised on a token path, and
 * any message whose statement holds a token -- an error PostgreSQL raised
 * before apikey ran (an aborted transaction, a statement timeout, a
 * misspelled function, an argument that does not convert) -- are logged
 * without their statement; tokens quoted in a message are masked.
 */
static void
ak_emit_log(ErrorData *edata)
{
	if (ak_handling_token)
	{
		edata->hide_stmt = true;
		if (edata->elevel >= ERROR)
			ak_handling_token = false;
	}
	if (!edata->hide_stmt && ak_text_has_token(debug_query_string))
		edata->hide_stmt = true;
	ak_redact_message(edata);
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
