/*-------------------------------------------------------------------------
 *
 * abuse.c
 *	  Cooldowns after repeated failed verifications, per client address and
 *	  per display prefix: the failures are a token bucket of threshold
 *	  tokens refilled over a minute, in a cell (cells.c); the threshold-th
 *	  failure within a minute starts a cooldown.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "limit/abuse.h"

/*
 * Counts one failed verification of a subject (an address, a display
 * prefix): the threshold-th within a minute starts a cooldown.
 */
void
ak_abuse_record(AkCellKind kind, const uint8 *subject, int threshold,
				int64 cooldown_us, int64 now_us)
{
	AkLimit		window = {.name = "abuse", .limit = threshold,
	.period_us = 60 * USECS_PER_SEC, .burst = threshold};
	AkCellKey	key;
	uint32		hash;
	AkCell	   *c;
	AkGcraDecision d;
	int128		after;

	ak_cell_key(&key, kind, subject, 0);
	hash = ak_cell_hash(&key);
	if (!ak_cells_find(&key, &hash, 1, &c, now_us, true))
		return;					/* no room: better forget than refuse */
	ak_cell_lock(c);
	ak_gcra_decide(&c->u.gcra, &window, 1, now_us, &d);
	after = d.admit ? d.candidate : d.base;
	if (d.admit)
		ak_gcra_take(&c->u.gcra, &window, &d);
	/* less than one token left: the threshold-th failure */
	if (after + window.period_us - d.now > (int128) window.burst * window.period_us)
		c->u.gcra.until_us = now_us + cooldown_us;
	ak_cell_unlock(c);
	ak_cells_release(&key, hash);
}

/*
 * Starts (or extends) a subject's cooldown at once, whatever its count:
 * an address that guesses at a display prefix already in cooldown.
 */
void
ak_abuse_block(AkCellKind kind, const uint8 *subject, int64 cooldown_us,
			   int64 now_us)
{
	AkCellKey	key;
	uint32		hash;
	AkCell	   *c;

	ak_cell_key(&key, kind, subject, 0);
	hash = ak_cell_hash(&key);
	if (!ak_cells_find(&key, &hash, 1, &c, now_us, true))
		return;					/* no room: better forget than refuse */
	ak_cell_lock(c);
	c->u.gcra.until_us = Max(c->u.gcra.until_us, now_us + cooldown_us);
	ak_cell_unlock(c);
	ak_cells_release(&key, hash);
}

/* The end of a subject's cooldown, or 0 when it has none. */
int64
ak_abuse_blocked_until(AkCellKind kind, const uint8 *subject, int64 now_us)
{
	AkCellKey	key;
	uint32		hash;
	AkCell	   *c;
	int64		until = 0;

	ak_cell_key(&key, kind, subject, 0);
	hash = ak_cell_hash(&key);
	(void) ak_cells_find(&key, &hash, 1, &c, now_us, false);
	if (c != NULL)
	{
		ak_cell_lock(c);
		until = c->u.gcra.until_us;
		ak_cell_unlock(c);
	}
	ak_cells_release(&key, hash);
	return until > now_us ? until : 0;
}
