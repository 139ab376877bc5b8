/*-------------------------------------------------------------------------
 *
 * flush_keys.c
 *	  The worker's "flush counters" task: the quota counters that changed,
 *	  upserted into apikey.quota_counters in one statement; and the "flush
 *	  last use" task: apikey.keys.last_used_at of the keys used, at most
 *	  once per apikey.usage_flush_interval, skipping rows an owner holds
 *	  locked.
 *
 * Nobody but the worker can lock a row of quota_counters (it grants no
 * UPDATE and no REFERENCES), so the counters' write never waits on an
 * application; keys' rows can be locked by their owners (update() in an
 * open transaction), so their last use is written with SKIP LOCKED and the
 * rows skipped are tried again at the next flush.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "worker/flush.h"

/* The columns of the counters' upsert, $1 to $5. */
enum
{
	Q_SUBJECT, Q_DAY, Q_DAY_USED, Q_MONTH, Q_MONTH_USED
};

static const Oid ak_counter_columns[] = {
	[Q_SUBJECT] = UUIDOID,
	[Q_DAY] = DATEOID,
	[Q_DAY_USED] = INT8OID,
	[Q_MONTH] = DATEOID,
	[Q_MONTH_USED] = INT8OID,
};

/* A period's date, or NULL for a period never counted. */
static void
ak_set_period(AkColumns *c, int col, int row, AkPeriod p, int32 period)
{
	if (period == PG_INT32_MIN)
		ak_column_set_null(c, col, row);
	else
		ak_column_set(c, col, row, DateADTGetDatum(ak_period_first_day(p, period)));
}

/*
 * One upsert of every counter collected: the counts are absolute, so a
 * write that is repeated after a failure is harmless.
 */
void
ak_write_counters(void *arg)
{
	static const char *sql =
		"INSERT INTO apikey.quota_counters AS q (subject, day, day_used, month, month_used)"
		" SELECT * FROM unnest($1::uuid[], $2::date[], $3::int8[], $4::date[], $5::int8[])"
		" ON CONFLICT (subject) DO UPDATE SET"
		"   day = excluded.day, day_used = excluded.day_used,"
		"   month = excluded.month, month_used = excluded.month_used";
	AkCountersWrite *w = arg;
	AkColumns	c;
	AkParams	p = {0};

	if (w->n == 0)
		return;
	ak_columns_init(&c, ak_counter_columns, lengthof(ak_counter_columns), w->n, false);
	for (int i = 0; i < w->n; i++)
	{
		const AkQuotaFlush *q = &w->counters[i];

		ak_column_set(&c, Q_SUBJECT, i, UUIDPGetDatum(&q->subject));
		ak_set_period(&c, Q_DAY, i, AK_DAY, q->counts.period[AK_DAY]);
		ak_column_set(&c, Q_DAY_USED, i, Int64GetDatum(q->counts.used[AK_DAY]));
		ak_set_period(&c, Q_MONTH, i, AK_MONTH, q->counts.period[AK_MONTH]);
		ak_column_set(&c, Q_MONTH_USED, i, Int64GetDatum(q->counts.used[AK_MONTH]));
	}
	ak_columns_params(&c, &p);
	(void) ak_spi_exec(sql, &p, SPI_OK_INSERT);
}

static const Oid ak_last_use_columns[] = {UUIDOID, TIMESTAMPTZOID};

/*
 * Writes the last use of the keys collected, skipping rows locked by
 * someone else; w->written[i] tells which were written.  A row whose
 * last_used_at is already as recent is left alone.
 */
void
ak_write_last_use(void *arg)
{
	static const char *sql =
		"WITH u AS (SELECT * FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at)),"
		" l AS (SELECT k.id, u.at FROM apikey.keys AS k JOIN u ON k.id OPERATOR(pg_catalog.=) u.id"
		"       WHERE k.last_used_at IS NULL OR k.last_used_at OPERATOR(pg_catalog.<) u.at"
		"       FOR UPDATE OF k SKIP LOCKED)"
		" UPDATE apikey.keys AS k SET last_used_at = l.at FROM l"
		" WHERE k.id OPERATOR(pg_catalog.=) l.id";
	static const char *skipped_sql =
		"SELECT u.i FROM unnest($1::uuid[], $2::timestamptz[]) WITH ORDINALITY AS u(id, at, i)"
		" JOIN apikey.keys AS k ON k.id OPERATOR(pg_catalog.=) u.id"
		" WHERE k.last_used_at IS NULL OR k.last_used_at OPERATOR(pg_catalog.<) u.at";
	AkLastUseWrite *w = arg;
	AkColumns	c;
	AkParams	p = {0};
	uint64		n;

	memset(w->written, true, w->n * sizeof(bool));
	if (w->n == 0)
		return;
	ak_columns_init(&c, ak_last_use_columns, lengthof(ak_last_use_columns), w->n, false);
	for (int i = 0; i < w->n; i++)
	{
		ak_column_set(&c, 0, i, UUIDPGetDatum(&w->ids[i]));
		ak_column_set(&c, 1, i, TimestampTzGetDatum(w->at[i]));
	}
	ak_columns_params(&c, &p);
	(void) ak_spi_exec(sql, &p, SPI_OK_UPDATE);

	/* what is still older than it should be was skipped: try it again */
	n = ak_spi_exec(skipped_sql, &p, SPI_OK_SELECT);
	for (uint64 r = 0; r < n; r++)
	{
		bool		isnull;
		int64		i = DatumGetInt64(ak_spi_value(r, 1, &isnull));

		w->written[i - 1] = false;
	}
}
