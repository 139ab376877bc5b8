/*-------------------------------------------------------------------------
 *
 * cooldowns.c
 *	  The abuse cooldowns in force (abuse.c), as apikey.blocks lists them,
 *	  and lifting them: an admin who knows a cooldown is a mistake (a
 *	  misconfigured client behind a shared address, a key whose owner
 *	  mistyped it) ends it at once, and its count of failures with it.
 *
 * Both walk the cell table (cells.c) under every partition lock in shared
 * mode, and read or change a cooldown under its spinlock: for admins'
 * occasional calls, never on a request's path.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "limit/blocklist.h"
#include "limit/cells.h"
#include "limit/cooldowns.h"
#include "utils/builtins.h"

typedef struct AkCooldownScan
{
	int64		now_us;
	AkCooldown *items;
	int			n;
	int			size;
	const uint8 *lo;			/* lifting: the addresses, else NULL */
	const uint8 *hi;
} AkCooldownScan;

static bool
ak_is_cooldown_kind(uint8 kind)
{
	return kind == AK_CELL_ABUSE_IP || kind == AK_CELL_ABUSE_PREFIX;
}

/* Ends a cooldown and forgets its failures.  Caller holds its spinlock. */
static inline void
ak_cooldown_end(AkCell *c)
{
	c->u.gcra.until_us = 0;
	c->u.gcra.tat = 0;
	c->u.gcra.scale = 1;
}

static bool
ak_cooldown_collect(void *entry, void *arg)
{
	AkCell	   *c = entry;
	AkCooldownScan *scan = arg;
	AkCooldown	item;

	if (!ak_is_cooldown_kind(c->key.kind))
		return false;
	ak_cell_lock(c);
	item.until_us = c->header.live ? c->u.gcra.until_us : 0;
	ak_cell_unlock(c);
	if (item.until_us <= scan->now_us)
		return false;
	item.address = c->key.kind == AK_CELL_ABUSE_IP;
	memcpy(item.subject, c->key.id, AK_SUBJECT_ID_LEN);
	if (scan->n == scan->size)
	{
		scan->size *= 2;
		scan->items = repalloc(scan->items, scan->size * sizeof(AkCooldown));
	}
	scan->items[scan->n++] = item;
	return false;
}

/* The cooldowns in force at now_us, palloc'd in *out. */
int
ak_cooldowns_list(int64 now_us, AkCooldown **out)
{
	AkCooldownScan scan = {now_us, NULL, 0, 16, NULL, NULL};

	scan.items = palloc(scan.size * sizeof(AkCooldown));
	ak_shash_scan(&ak_cell_tables[AK_TABLE_COOLDOWN], LW_SHARED, ak_cooldown_collect, &scan);
	*out = scan.items;
	return scan.n;
}

/*
 * The address of a cooldown: an IPv4 address, or the /64 of an IPv6 one
 * (core/subject.c counts IPv6 clients by their /64).
 */
inet *
ak_cooldown_address(const AkCooldown *c)
{
	static const uint8 mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char		buf[64];
	const uint8 *a = c->subject;

	if (memcmp(a, mapped, sizeof(mapped)) == 0)
		snprintf(buf, sizeof(buf), "%u.%u.%u.%u/32", a[12], a[13], a[14], a[15]);
	else
		snprintf(buf, sizeof(buf), "%x:%x:%x:%x::/64",
				 (a[0] << 8) | a[1], (a[2] << 8) | a[3],
				 (a[4] << 8) | a[5], (a[6] << 8) | a[7]);
	return DatumGetInetPP(DirectFunctionCall1(cidr_in, CStringGetDatum(buf)));
}

static bool
ak_cooldown_lift_visit(void *entry, void *arg)
{
	AkCell	   *c = entry;
	AkCooldownScan *scan = arg;

	if (c->key.kind != AK_CELL_ABUSE_IP ||
		memcmp(c->key.id, scan->lo, AK_SUBJECT_ID_LEN) < 0 ||
		memcmp(c->key.id, scan->hi, AK_SUBJECT_ID_LEN) > 0)
		return false;
	ak_cell_lock(c);
	if (c->header.live && c->u.gcra.until_us > scan->now_us)
	{
		ak_cooldown_end(c);
		scan->n++;
	}
	ak_cell_unlock(c);
	return false;
}

/*
 * Lifts the cooldowns of the addresses in cidr; returns how many were in
 * force.  An IPv6 cooldown is its /64's: lifted when the /64 starts in
 * cidr.
 */
int
ak_cooldowns_lift_addresses(const inet *cidr, int64 now_us)
{
	uint8		lo[AK_SUBJECT_ID_LEN];
	uint8		hi[AK_SUBJECT_ID_LEN];
	AkCooldownScan scan = {now_us, NULL, 0, 0, lo, hi};

	ak_cidr_range(cidr, lo, hi);
	if (ip_family(cidr) != PGSQL_AF_INET)
		memset(lo + 8, 0, 8);	/* the /64 a cooldown is kept under */
	ak_shash_scan(&ak_cell_tables[AK_TABLE_COOLDOWN], LW_SHARED, ak_cooldown_lift_visit, &scan);
	return scan.n;
}

/* Lifts the cooldown of a display prefix; false when it had none. */
bool
ak_cooldown_lift_prefix(const char *display, size_t len, int64 now_us)
{
	AkCellKey	key;
	uint8		subject[AK_SUBJECT_ID_LEN];
	uint32		hash;
	AkCell	   *c;
	bool		lifted = false;

	ak_name_subject_id(display, len, subject);
	ak_cell_key(&key, AK_CELL_ABUSE_PREFIX, subject, 0);
	hash = ak_cell_hash(&key);
	(void) ak_cells_find(&key, &hash, 1, &c, now_us, false);
	if (c != NULL && ak_cell_lock_if_holds(c, &key))
	{
		lifted = c->u.gcra.until_us > now_us;
		ak_cooldown_end(c);
		ak_cell_unlock(c);
	}
	ak_cells_release(&key, hash);
	return lifted;
}
