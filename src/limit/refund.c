/*-------------------------------------------------------------------------
 *
 * refund.c
 *	  consume(refund_on_rollback => true): the units of a charge come back
 *	  if the (sub)transaction that consumed them aborts -- to the key's
 *	  quota and its owner's, when they were debited, and to the usage billed
 *	  for them.  The rate limits are not refunded: they protect the server,
 *	  which did the work all the same.  The debit pins the quota counters in
 *	  shared memory until the transaction ends (quotastore.c), so that the
 *	  refund at abort, which cannot read a table, finds them; a commit just
 *	  unpins them.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/util.h"
#include "limit/refund.h"
#include "usage/record.h"

/* Units to give back if the (sub)transaction that debited them aborts. */
typedef struct AkRollbackRefund
{
	pg_uuid_t	key_id;			/* billed in usage */
	int			ncounters;		/* quota counters debited and pinned: the
								 * key's, its owner's */
	int32		period[2][AK_NUM_PERIODS];
	void	   *counter[2];
	int64		cost;
	TimestampTz charged_at;		/* the hour of usage_hourly they were billed to */
	SubTransactionId subid;
} AkRollbackRefund;

static AkRollbackRefund *ak_refunds = NULL;
static int	ak_nrefunds = 0;
static int	ak_refunds_size = 0;

static void
ak_refund(const AkRollbackRefund *r)
{
	for (int i = 0; i < r->ncounters; i++)
		ak_quota_counter_unpin(r->counter[i], r->period[i], r->cost);
	/* nor are they billed: the hour they were billed to drops by as much */
	ak_usage_charge(&r->key_id, -r->cost, r->charged_at);
}

/* The transaction committed: its debits stay, their counters are unpinned. */
static void
ak_refunds_kept(void)
{
	for (int i = 0; i < ak_nrefunds; i++)
		for (int c = 0; c < ak_refunds[i].ncounters; c++)
			ak_quota_counter_unpin(ak_refunds[i].counter[c], ak_refunds[i].period[c], 0);
	ak_nrefunds = 0;
}

/* Refunds the entries of a subtransaction (all of them: InvalidSubTransactionId). */
static void
ak_refund_aborted(SubTransactionId subid)
{
	int			kept = 0;

	for (int i = 0; i < ak_nrefunds; i++)
	{
		if (subid == InvalidSubTransactionId || ak_refunds[i].subid == subid)
			ak_refund(&ak_refunds[i]);
		else
			ak_refunds[kept++] = ak_refunds[i];
	}
	ak_nrefunds = kept;
}

void
ak_refund_at_xact_end(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			ak_refund_aborted(InvalidSubTransactionId);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction's outcome is decided elsewhere: kept */
			ak_refunds_kept();
			break;
		default:
			break;
	}
}

void
ak_refund_at_subxact_end(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		ak_refund_aborted(mySubid);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		for (int i = 0; i < ak_nrefunds; i++)
			if (ak_refunds[i].subid == mySubid)
				ak_refunds[i].subid = parentSubid;
}

/* Remembers a quota counter's debit (pinned) in a refund. */
static void
ak_refund_add_counter(AkRollbackRefund *r, const AkQuotaCharge *charge)
{
	int			i;

	if (!charge->pinned)
		return;					/* nothing was taken (cost 0) */
	i = r->ncounters++;
	memcpy(r->period[i], charge->req.period, sizeof(r->period[i]));
	r->counter[i] = *charge->hint;
}

/*
 * Remembers a charge to give back if the current (sub)transaction aborts:
 * to the quotas (charge and owner_charge, when they were debited) and to
 * the usage billed at charged_at.
 */
void
ak_refund_on_rollback(const AkKeyInfo *key, const AkQuotaCharge *charge,
					  const AkQuotaCharge *owner_charge, int64 cost,
					  TimestampTz charged_at)
{
	AkRollbackRefund *r;

	if (ak_nrefunds == ak_refunds_size)
		ak_refunds = ak_array_grow(ak_refunds, &ak_refunds_size, sizeof(AkRollbackRefund));
	r = &ak_refunds[ak_nrefunds++];
	r->key_id = key->id;
	r->ncounters = 0;
	if (charge != NULL)
		ak_refund_add_counter(r, charge);
	if (owner_charge != NULL)
		ak_refund_add_counter(r, owner_charge);
	r->cost = cost;
	r->charged_at = charged_at;
	r->subid = GetCurrentSubTransactionId();
}
