/*-------------------------------------------------------------------------
 *
 * flush_keys.c
 *	  The worker's "flush keys" task: the quota counts of the counters that
 *	  changed (daily_usage, usage_day, monthly_usage, usage_month), written
 *	  to every key of the counter's lineage, and the last use of every key
 *	  used, by id: one UPDATE of apikey.keys each.
 *
 * A quota counter belongs to a lineage (a rotation chain, limit/quota.c),
 * so its counts go to each key of the chain: whichever key of it seeds a
 * counter after a crash starts from the same counts.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "utils/timestamp.h"
#include "worker/flush.h"

/* The columns of the counts statement, $1 to $5. */
enum
{
	Q_LINEAGE, Q_DAILY, Q_DAY, Q_MONTHLY, Q_MONTH
};

static const Oid ak_counts_columns[] = {
	[Q_LINEAGE] = UUIDOID,
	[Q_DAILY] = INT8OID,
	[Q_DAY] = DATEOID,
	[Q_MONTHLY] = INT8OID,
	[Q_MONTH] = DATEOID,
};

/* The columns of the last-use statement, $1 and $2. */
enum
{
	L_ID, L_LAST_USED
};

static const Oid ak_last_used_columns[] = {
	[L_ID] = UUIDOID,
	[L_LAST_USED] = TIMESTAMPTZOID,
};

/*
 * The quota counts, to every key of each counter's lineage; a lineage has
 * at most one counter.
 */
static void
ak_write_counts(const AkKeysWrite *w)
{
	static const char *sql =
		"UPDATE apikey.keys AS k SET"
		"  daily_usage = u.daily, usage_day = u.day,"
		"  monthly_usage = u.monthly, usage_month = u.month"
		" FROM unnest($1::uuid[], $2::int8[], $3::date[], $4::int8[], $5::date[])"
		"   AS u(lineage, daily, day, monthly, month)"
		" WHERE k.lineage OPERATOR(pg_catalog.=) u.lineage";
	AkColumns	c;
	AkParams	p = {0};

	if (w->ncounters == 0)
		return;
	ak_columns_init(&c, ak_counts_columns, lengthof(ak_counts_columns), w->ncounters, false);
	for (int i = 0; i < w->ncounters; i++)
	{
		const AkQuotaFlush *q = &w->counters[i];

		ak_column_set(&c, Q_LINEAGE, i, UUIDPGetDatum(&q->lineage));
		ak_column_set(&c, Q_DAILY, i, Int64GetDatum(q->used[AK_DAY]));
		ak_column_set(&c, Q_DAY, i, DateADTGetDatum(ak_period_first_day(AK_DAY, q->period[AK_DAY])));
		ak_column_set(&c, Q_MONTHLY, i, Int64GetDatum(q->used[AK_MONTH]));
		ak_column_set(&c, Q_MONTH, i, DateADTGetDatum(ak_period_first_day(AK_MONTH, q->period[AK_MONTH])));
	}
	ak_columns_params(&c, &p);
	(void) ak_spi_exec(sql, &p, SPI_OK_UPDATE);
}

/* The last use of each key used, by id; a key has at most one. */
static void
ak_write_last_used(const AkKeysWrite *w)
{
	static const char *sql =
		"UPDATE apikey.keys AS k SET"
		"  last_used_at = GREATEST(k.last_used_at, u.last_used)"
		" FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, last_used)"
		" WHERE k.id OPERATOR(pg_catalog.=) u.id";
	AkColumns	c;
	AkParams	p = {0};

	if (w->nused == 0)
		return;
	ak_columns_init(&c, ak_last_used_columns, lengthof(ak_last_used_columns), w->nused, false);
	for (int i = 0; i < w->nused; i++)
	{
		ak_column_set(&c, L_ID, i, UUIDPGetDatum(&w->used_ids[i]));
		ak_column_set(&c, L_LAST_USED, i, TimestampTzGetDatum(w->used_at[i]));
	}
	ak_columns_params(&c, &p);
	(void) ak_spi_exec(sql, &p, SPI_OK_UPDATE);
}

/*
 * The quota counts of every lineage that has a changed counter, and the
 * last use of every key used.  The rows are locked in the joins' order,
 * not by id: a transaction that holds one of them makes the task wait
 * (lock_timeout) or lose a deadlock, and the counts are written at the
 * next flush.
 */
void
ak_write_keys(void *arg)
{
	AkKeysWrite *w = arg;

	ak_write_counts(w);
	ak_write_last_used(w);
}
