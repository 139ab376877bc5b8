/*-------------------------------------------------------------------------
 *
 * buckets.c
 *	  Token buckets (limit/gcra.h) in the shared cell table (cells.c).
 *
 * The buckets of a subject's limits are debited together or not at all:
 * their spinlocks are all taken, in address order, before any state is
 * read, and released after every state is written (shmem/shash.h).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "limit/buckets.h"

/*
 * Fills keys[] (and hash[], if not NULL) for the n limits of a subject:
 * each limit's bucket is told apart by its tag, 0 for the single limit of
 * an address or a throttle() name.
 */
static void
ak_subject_keys(AkCellKind kind, const uint8 *subject, const AkLimit *limits,
				int n, AkCellKey *keys, uint32 *hash)
{
	if (n < 1)
		pg_unreachable();		/* a subject has at least one limit */
	for (int i = 0; i < n; i++)
	{
		ak_cell_key(&keys[i], kind, subject, limits[i].tag);
		if (hash)
			hash[i] = ak_cell_hash(&keys[i]);
	}
}

/*
 * The all-or-nothing step of a debit, on cells found by the caller: takes
 * their spinlocks and, when check, gives up (returning false, changing
 * nothing) unless each is live with its key.  *all tells whether every
 * limit admitted (and so was debited).
 */
static bool
ak_decide_all(AkCell **found, const AkCellKey *keys, const AkLimit *limits,
			  int n, int64 cost, int64 now_us, bool check,
			  AkGcraDecision *d, bool *all)
{
	if (!ak_cells_lock_all_if_hold(found, n, keys, check))
		return false;

	*all = true;
	for (int i = 0; i < n; i++)
	{
		ak_gcra_decide(&found[i]->u.gcra, &limits[i], cost, now_us, &d[i]);
		*all &= d[i].admit;
	}
	if (*all)
		for (int i = 0; i < n; i++)
			ak_gcra_take(&found[i]->u.gcra, &limits[i], &d[i]);

	ak_cells_unlock_all(found, n);
	return true;
}

/*
 * The debit through the table: finds (or creates) the cells under their
 * partition lock, and refreshes the caller's hints.
 */
static AkDebit
ak_bucket_debit_found(const AkCellKey *keys, const AkLimit *limits, int n,
					  int64 cost, int64 now_us, void **hints,
					  AkGcraDecision *d, bool *all)
{
	uint32		hash[AK_MAX_LIMITS];
	AkCell	   *found[AK_MAX_LIMITS];

	if (n < 1)
		pg_unreachable();		/* a subject has at least one limit */
	for (int i = 0; i < n; i++)
		hash[i] = ak_cell_hash(&keys[i]);
	if (!ak_cells_find(keys, hash, n, found, now_us, true))
		return AK_DEBIT_NO_ROOM;
	(void) ak_decide_all(found, keys, limits, n, cost, now_us, false, d, all);
	ak_cells_release(&keys[0], hash[0]);
	if (hints)
		memcpy(hints, found, n * sizeof(AkCell *));
	return AK_DEBIT_OK;
}

/*
 * Debits cost from every limit of a subject at once, or from none.  out[i]
 * describes limit i after the decision; when it is a rejection, out[i].
 * retry_in_us is how long until limit i alone would admit the request.
 *
 * hints, when not NULL, are the caller's memory of where these buckets are
 * (NULL entries: not known yet): tried first, with no partition lock, and
 * refreshed when they were stale.
 */
AkDebit
ak_bucket_debit(AkCellKind kind, const uint8 *subject, const AkLimit *limits,
				int n, int64 cost, int64 now_us, AkLimitOutcome *out,
				void **hints)
{
	AkCellKey	keys[AK_MAX_LIMITS];
	AkGcraDecision d[AK_MAX_LIMITS];
	bool		all = false;
	bool		hinted = hints != NULL;

	Assert(n >= 1 && n <= AK_MAX_LIMITS);
	if (n < 1)
		pg_unreachable();		/* a subject has at least one limit */
	ak_subject_keys(kind, subject, limits, n, keys, NULL);

	for (int i = 0; i < n && hinted; i++)
		hinted = (hints[i] != NULL);
	if ((!hinted ||
		 !ak_decide_all((AkCell **) hints, keys, limits, n, cost, now_us, true, d, &all)) &&
		ak_bucket_debit_found(keys, limits, n, cost, now_us, hints, d, &all) == AK_DEBIT_NO_ROOM)
		return AK_DEBIT_NO_ROOM;

	for (int i = 0; i < n; i++)
	{
		ak_gcra_outcome(&limits[i], &d[i], all, &out[i]);
		/* refused elsewhere: this limit would have admitted */
		if (!all && d[i].admit)
			out[i].retry_in_us = 0;
	}
	return all ? AK_DEBIT_OK : AK_DEBIT_REJECTED;
}

/*
 * Gives back cost to every limit of a subject, after a later step of the
 * same request refused it.  A bucket that is gone was full: nothing to give
 * back.
 */
void
ak_bucket_refund(AkCellKind kind, const uint8 *subject, const AkLimit *limits,
				 int n, int64 cost)
{
	AkCellKey	keys[AK_MAX_LIMITS];
	uint32		hash[AK_MAX_LIMITS];
	AkCell	   *found[AK_MAX_LIMITS];

	if (n < 1)
		return;
	ak_subject_keys(kind, subject, limits, n, keys, hash);
	(void) ak_cells_find(keys, hash, n, found, 0, false);
	for (int i = 0; i < n; i++)
	{
		AkGcra	   *g;
		int64		L = limits[i].limit;

		if (found[i] == NULL)
			continue;
		g = &found[i]->u.gcra;
		ak_cell_lock(found[i]);
		g->tat = ak_gcra_tat(g, L) - (int128) cost * limits[i].period_us;
		g->scale = L;
		ak_cell_unlock(found[i]);
	}
	ak_cells_release(&keys[0], hash[0]);
}

/* Describes the limits of a subject without debiting or creating anything. */
void
ak_bucket_peek(AkCellKind kind, const uint8 *subject, const AkLimit *limits,
			   int n, int64 now_us, AkLimitOutcome *out)
{
	AkCellKey	keys[AK_MAX_LIMITS];
	uint32		hash[AK_MAX_LIMITS];
	AkCell	   *found[AK_MAX_LIMITS];

	if (n < 1)
		return;
	ak_subject_keys(kind, subject, limits, n, keys, hash);
	(void) ak_cells_find(keys, hash, n, found, now_us, false);
	for (int i = 0; i < n; i++)
	{
		AkGcraDecision d;
		AkGcra		full = {.scale = 1};

		if (found[i] == NULL)
			ak_gcra_decide(&full, &limits[i], 0, now_us, &d);
		else
		{
			ak_cell_lock(found[i]);
			ak_gcra_decide(&found[i]->u.gcra, &limits[i], 0, now_us, &d);
			ak_cell_unlock(found[i]);
		}
		ak_gcra_outcome(&limits[i], &d, false, &out[i]);
	}
	ak_cells_release(&keys[0], hash[0]);
}
