/*-------------------------------------------------------------------------
 *
 * blocks.c
 *	  block(), unblock() and unblock_key() (doc/apikey.md, "Address
 *	  blocks"): the rows of apikey.address_blocks, each change audited, and
 *	  the abuse cooldowns admins lift.  A block of every request is the
 *	  admins'; an owner may block addresses from its own keys.  Every
 *	  backend reads the blocks again once the change commits
 *	  (limit/blocklist.c, through the table's trigger).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "catalog/pg_type_d.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lifecycle/audit.h"
#include "lifecycle/blocks.h"
#include "lifecycle/validate.h"
#include "limit/cooldowns.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define AK_MAX_BLOCK_US		(INT64CONST(366) * USECS_PER_DAY)

static char *
ak_cidr_text(inet *addresses)
{
	return DatumGetCString(DirectFunctionCall1(cidr_out, InetPGetDatum(addresses)));
}

/* Who may block for owner: admins for anyone (NULL: every request), owners for themselves. */
static void
ak_require_block_rights(text *owner)
{
	if (owner != NULL)
	{
		ak_require_owner_or_admin(owner, "block addresses for this owner");
		return;
	}
	if (!ak_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to block addresses for every request"),
				 errdetail("Only members of apikey_admin may block addresses for every key."),
				 errhint("Pass owner => your own owner to block addresses from your keys.")));
}

static void
ak_validate_block(inet *addresses, text *reason, const Interval *duration)
{
	int64		us;

	if (addresses == NULL)
		ak_bad_value_detail("addresses", "it must not be null",
							"Give an address or a network, such as 192.0.2.0/24.");
	ak_validate_required(reason, "reason",
						 "Say why the addresses are blocked: apikey.blocks and the audit log keep it.");
	if (duration == NULL)
		return;
	us = ak_interval_to_us(duration);
	if (us <= 0 || us > AK_MAX_BLOCK_US)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid duration: it must be more than 0 and at most 366 days"),
				 errdetail("Use NULL for a block until unblock().")));
}

/*
 * block(addresses, reason, duration, owner): a block of these addresses,
 * for every request or for owner's keys, until now + duration (NULL: until
 * unblock()).  Blocking the same addresses for the same owner again
 * replaces its reason and end.  Returns the row.
 */
Datum
ak_block(inet *addresses, text *reason, const Interval *duration, text *owner)
{
	AkParams	p = {0};
	AkJsonObject detail = {0};
	bool		isnull;
	Datum		row;

	ak_validate_block(addresses, reason, duration);
	if (owner != NULL)
		ak_validate_required(owner, "owner",
							 "Use NULL to block the addresses for every request.");
	ak_require_block_rights(owner);

	SPI_connect();
	ak_param(&p, CIDROID, InetPGetDatum(addresses), false);
	ak_param_ptr(&p, TEXTOID, owner);
	ak_param_ptr(&p, TEXTOID, reason);
	ak_param_ptr(&p, INTERVALOID, duration);
	ak_param(&p, TEXTOID, CStringGetTextDatum(ak_actor_name()), false);
	ak_spi_exec("INSERT INTO apikey.address_blocks AS b"
				" (addresses, owner, reason, expires_at, created_by)"
				" VALUES ($1, $2, $3, now() + $4, $5)"
				" ON CONFLICT ON CONSTRAINT address_blocks_addresses_owner_key"
				" DO UPDATE SET reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at,"
				"  created_by = EXCLUDED.created_by, created_at = now()"
				" RETURNING b", &p, AK_SPI_ANY);
	row = SPI_datumTransfer(ak_spi_value(0, 1, &isnull), false, -1);

	ak_json_add_string(&detail, "addresses", ak_cidr_text(addresses));
	ak_json_add_string(&detail, "reason", text_to_cstring(reason));
	ak_json_add_string(&detail, "duration", duration
					   ? DatumGetCString(DirectFunctionCall1(interval_out,
															 IntervalPGetDatum(duration)))
					   : NULL);
	ak_audit("blocked", NULL, owner, ak_json_finish(&detail));
	SPI_finish();
	return row;
}

/* Removes the blocks of exactly these addresses the caller manages. */
static int
ak_remove_blocks(inet *addresses)
{
	AkParams	p = {0};
	bool		admin = ak_caller_is_admin();
	text	   *me = admin ? NULL : ak_current_owner();
	text	  **owners;
	uint64		n;

	if (!admin && me == NULL)
		return 0;
	ak_param(&p, CIDROID, InetPGetDatum(addresses), false);
	ak_param(&p, BOOLOID, BoolGetDatum(admin), false);
	ak_param_ptr(&p, TEXTOID, me);
	n = ak_spi_exec("DELETE FROM apikey.address_blocks"
					" WHERE addresses = $1 AND ($2 OR owner = $3)"
					" RETURNING owner", &p, AK_SPI_ANY);
	owners = palloc(Max(n, 1) * sizeof(text *));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		owner = ak_spi_value(i, 1, &isnull);

		owners[i] = isnull ? NULL : DatumGetTextPCopy(owner);
	}
	/* each audit row is a statement of its own: after the results are read */
	for (uint64 i = 0; i < n; i++)
	{
		AkJsonObject detail = {0};

		ak_json_add_string(&detail, "addresses", ak_cidr_text(addresses));
		ak_audit("unblocked", NULL, owners[i], ak_json_finish(&detail));
	}
	return (int) n;
}

/*
 * unblock(addresses): removes the blocks of exactly these addresses that
 * the caller may manage -- an admin every one, an owner its own -- and,
 * for an admin, lifts the abuse cooldowns of the addresses within them.
 * Returns how many blocks and cooldowns ended.
 */
int
ak_unblock(inet *addresses)
{
	int			removed;
	int			lifted = 0;

	if (addresses == NULL)
		ak_bad_value_detail("addresses", "it must not be null",
							"Give the addresses of a block exactly as block() was given them.");
	SPI_connect();
	removed = ak_remove_blocks(addresses);
	if (ak_caller_is_admin())
		lifted = ak_cooldowns_lift_addresses(addresses, ak_now_us());
	if (lifted > 0)
	{
		AkJsonObject detail = {0};

		ak_json_add_string(&detail, "addresses", ak_cidr_text(addresses));
		ak_json_add_raw(&detail, "cooldowns", psprintf("%d", lifted));
		ak_audit("unblocked", NULL, NULL, ak_json_finish(&detail));
	}
	SPI_finish();
	return removed + lifted;
}

/*
 * unblock_key(display_prefix): lifts the abuse cooldown of a display
 * prefix (admins only); false when it had none in force.
 */
bool
ak_unblock_key(text *display_prefix)
{
	AkParams	p = {0};
	AkJsonObject detail = {0};
	bool		lifted;
	bool		isnull = true;
	Datum		key_id = (Datum) 0;
	Datum		owner = (Datum) 0;

	if (!ak_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to lift cooldowns"),
				 errdetail("Only members of apikey_admin may lift abuse cooldowns.")));
	ak_validate_required(display_prefix, "display_prefix",
						 "Give the display prefix of the key, as key_list shows it.");
	lifted = ak_cooldown_lift_prefix(VARDATA_ANY(display_prefix),
									 VARSIZE_ANY_EXHDR(display_prefix), ak_now_us());
	if (!lifted)
		return false;

	SPI_connect();
	ak_param_ptr(&p, TEXTOID, display_prefix);
	if (ak_spi_exec("SELECT id, owner FROM apikey.keys WHERE prefix = $1", &p, AK_SPI_ANY) == 1)
	{
		key_id = UUIDPGetDatum(memcpy(palloc(sizeof(pg_uuid_t)),
									  DatumGetUUIDP(ak_spi_value(0, 1, &isnull)),
									  sizeof(pg_uuid_t)));
		owner = PointerGetDatum(DatumGetTextPCopy(ak_spi_value(0, 2, &isnull)));
	}
	ak_json_add_string(&detail, "display_prefix", text_to_cstring(display_prefix));
	ak_json_add_raw(&detail, "cooldowns", "1");
	ak_audit("unblocked", isnull ? NULL : DatumGetUUIDP(key_id),
			 isnull ? NULL : DatumGetTextP(owner), ak_json_finish(&detail));
	SPI_finish();
	return true;
}
