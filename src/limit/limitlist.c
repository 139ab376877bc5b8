/*-------------------------------------------------------------------------
 *
 * limitlist.c
 *	  Every limit that applies to a key, as it stands, for apikey.limits():
 *	  its rate limits (shadow ones too), its quotas, its concurrency limit
 *	  and its uses, then its owner's.  Nothing is debited; a quota counter
 *	  may be created, as a look by check(cost => 0) does.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "limit/buckets.h"
#include "limit/limitlist.h"
#include "limit/quota.h"
#include "limit/slots.h"

static void
ak_list_buckets(AkCellKind kind, const pg_uuid_t *subject, const AkLimit *limits,
				int n, const char *applies_to, int64 now_us, AkLimitRowFn fn,
				void *arg)
{
	AkLimitOutcome out[AK_MAX_LIMITS];

	if (n == 0)
		return;
	ak_bucket_peek(kind, (const uint8 *) subject->data, limits, n, now_us, out);
	for (int i = 0; i < n; i++)
	{
		AkLimitRow	row = {limits[i].name, "rate_limit", applies_to,
			limits[i].burst, out[i].remaining, now_us + out[i].full_in_us,
		limits[i].shadow};

		fn(&row, arg);
	}
}

static void
ak_list_quotas(const AkQuotaCharge *charge, const char *applies_to,
			   AkLimitRowFn fn, void *arg)
{
	static const char *const names[AK_NUM_PERIODS] = {"daily_quota", "monthly_quota"};

	for (int p = 0; p < AK_NUM_PERIODS; p++)
	{
		AkLimitRow	row = {names[p], "quota", applies_to, charge->req.quota[p],
			Max(charge->req.quota[p] - charge->out.used[p], 0),
			ak_period_end_us(p, charge->req.period[p]), false};

		if (charge->req.quota[p] >= 0)
			fn(&row, arg);
	}
}

static void
ak_list_concurrency(const pg_uuid_t *subject, int32 max, const char *applies_to,
					AkLimitRowFn fn, void *arg)
{
	AkLimitRow	row = {"max_concurrency", "concurrency", applies_to, max, 0, -1, false};

	if (max <= 0)
		return;
	row.remaining = Max(max - ak_slot_in_use((const uint8 *) subject->data), 0);
	fn(&row, arg);
}

/* The owner's limits, as the key's below. */
static void
ak_list_owner(const AkOwnerLimits *owner, int64 now_us, AkLimitRowFn fn, void *arg)
{
	AkQuotaCharge charge;

	ak_list_buckets(AK_CELL_OWNER_LIMIT, &owner->id, owner->limits, owner->nlimits,
					"owner", now_us, fn, arg);
	if (ak_owner_has_quota(owner) &&
		ak_owner_quota_debit(owner, 0, now_us, false, &charge) != AK_DEBIT_NO_ROOM)
		ak_list_quotas(&charge, "owner", fn, arg);
	ak_list_concurrency(&owner->id, owner->max_concurrency, "owner", fn, arg);
}

/* Calls fn for every limit of key at now_us. */
void
ak_key_limits_list(const AkKeyInfo *key, int64 now_us, AkLimitRowFn fn, void *arg)
{
	AkQuotaCharge charge;

	ak_list_buckets(AK_CELL_KEY_LIMIT, &key->lineage, key->limits, key->nlimits, "key",
					now_us, fn, arg);
	if (ak_key_has_quota(key) &&
		ak_quota_debit(key, 0, now_us, false, &charge) != AK_DEBIT_NO_ROOM)
		ak_list_quotas(&charge, "key", fn, arg);
	ak_list_concurrency(&key->lineage, key->max_concurrency, "key", fn, arg);
	if (key->max_uses >= 0 &&
		ak_uses_debit(key, 0, now_us, &charge) != AK_DEBIT_NO_ROOM)
	{
		AkLimitRow	row = {"max_uses", "uses", "key", key->max_uses,
		ak_uses_left(&charge), -1, false};

		fn(&row, arg);
	}
	if (key->owner_limits != NULL)
		ak_list_owner(key->owner_limits, now_us, fn, arg);
}
