/*-------------------------------------------------------------------------
 *
 * flush_keys.c
 *	  The worker's "flush keys" task: the quota counts of the counters that
 *	  changed (daily_usage, usage_day, monthly_usage, usage_month) and the
 *	  last use of every key used, in one UPDATE of apikey.keys.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lib/qunique.h"
#include "utils/timestamp.h"
#include "worker/flush.h"

/* The columns of the statement, $1 to $6. */
enum
{
	K_ID, K_DAILY, K_DAY, K_MONTHLY, K_MONTH, K_LAST_USED
};

static const Oid ak_keys_columns[] = {
	[K_ID] = UUIDOID,
	[K_DAILY] = INT8OID,
	[K_DAY] = DATEOID,
	[K_MONTHLY] = INT8OID,
	[K_MONTH] = DATEOID,
	[K_LAST_USED] = TIMESTAMPTZOID,
};

static int
ak_uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(pg_uuid_t));
}

/* The union of both lists of keys, sorted, each key once. */
static int
ak_keys_written(const AkKeysWrite *w, pg_uuid_t **out)
{
	pg_uuid_t  *ids = palloc(Max(w->ncounters + w->nused, 1) * sizeof(pg_uuid_t));
	int			n = 0;

	for (int i = 0; i < w->ncounters; i++)
		ids[n++] = w->counters[i].key_id;
	for (int i = 0; i < w->nused; i++)
		ids[n++] = w->used_ids[i];
	qsort(ids, n, sizeof(pg_uuid_t), ak_uuid_cmp);
	*out = ids;
	return (int) qunique(ids, n, sizeof(pg_uuid_t), ak_uuid_cmp);
}

static int
ak_key_row(const pg_uuid_t *ids, int n, const pg_uuid_t *id)
{
	const pg_uuid_t *at = bsearch(id, ids, n, sizeof(pg_uuid_t), ak_uuid_cmp);

	return at - ids;
}

/*
 * One UPDATE for the quota counts and last use of every key that has
 * either; a key has at most one counter and one last use.  The rows are
 * locked in the join's order, not by id: a transaction that holds one of
 * them makes the task wait (lock_timeout) or lose a deadlock, and the
 * counts are written at the next flush.
 */
void
ak_write_keys(void *arg)
{
	static const char *sql =
		"UPDATE apikey.keys AS k SET"
		"  daily_usage = coalesce(u.daily, k.daily_usage),"
		"  usage_day = coalesce(u.day, k.usage_day),"
		"  monthly_usage = coalesce(u.monthly, k.monthly_usage),"
		"  usage_month = coalesce(u.month, k.usage_month),"
		"  last_used_at = GREATEST(k.last_used_at, u.last_used)"
		" FROM unnest($1::uuid[], $2::int8[], $3::date[], $4::int8[], $5::date[],"
		"             $6::timestamptz[]) AS u(id, daily, day, monthly, month, last_used)"
		" WHERE k.id OPERATOR(pg_catalog.=) u.id";
	AkKeysWrite *w = arg;
	pg_uuid_t  *ids;
	int			n = ak_keys_written(w, &ids);
	AkColumns	c;
	AkParams	p = {0};

	if (n == 0)
		return;
	ak_columns_init(&c, ak_keys_columns, lengthof(ak_keys_columns), n, true);
	for (int i = 0; i < n; i++)
		ak_column_set(&c, K_ID, i, UUIDPGetDatum(&ids[i]));
	for (int i = 0; i < w->ncounters; i++)
	{
		const AkQuotaFlush *q = &w->counters[i];
		int			j = ak_key_row(ids, n, &q->key_id);

		ak_column_set(&c, K_DAILY, j, Int64GetDatum(q->used[AK_DAY]));
		ak_column_set(&c, K_DAY, j, DateADTGetDatum(ak_period_first_day(AK_DAY, q->period[AK_DAY])));
		ak_column_set(&c, K_MONTHLY, j, Int64GetDatum(q->used[AK_MONTH]));
		ak_column_set(&c, K_MONTH, j, DateADTGetDatum(ak_period_first_day(AK_MONTH, q->period[AK_MONTH])));
	}
	for (int i = 0; i < w->nused; i++)
		ak_column_set(&c, K_LAST_USED, ak_key_row(ids, n, &w->used_ids[i]),
					  TimestampTzGetDatum(w->used_at[i]));
	ak_columns_params(&c, &p);
	(void) ak_spi_exec(sql, &p, SPI_OK_UPDATE);
}
