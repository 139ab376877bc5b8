/*-------------------------------------------------------------------------
 *
 * flush_counters.c
 *	  The worker's "flush counters" task: the quota counters that changed
 *	  and are not a key's -- an owner's quotas, a key's uses -- upserted
 *	  into apikey.quota_counters, where a counter created after a crash
 *	  starts from (auth/keyread.c).  A key's own counts go to its row
 *	  (flush_keys.c).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "worker/flush.h"

enum
{
	C_SUBJECT, C_DAY, C_DAILY, C_MONTH, C_MONTHLY
};

static const Oid ak_counter_columns[] = {
	[C_SUBJECT] = UUIDOID,
	[C_DAY] = DATEOID,
	[C_DAILY] = INT8OID,
	[C_MONTH] = DATEOID,
	[C_MONTHLY] = INT8OID,
};

/*
 * One upsert for every counter collected that no key has as its id.  A
 * subject appears once: the dirty list holds a counter at most once.
 */
void
ak_write_quota_counters(void *arg)
{
	static const char *sql =
		"INSERT INTO apikey.quota_counters AS q (subject, day, daily, month, monthly)"
		" SELECT u.subject, u.day, u.daily, u.month, u.monthly"
		"   FROM unnest($1::uuid[], $2::date[], $3::int8[], $4::date[], $5::int8[])"
		"        AS u(subject, day, daily, month, monthly)"
		"  WHERE NOT EXISTS (SELECT FROM apikey.keys AS k"
		"                     WHERE k.id OPERATOR(pg_catalog.=) u.subject)"
		"  ORDER BY u.subject"
		" ON CONFLICT (subject) DO UPDATE SET day = EXCLUDED.day, daily = EXCLUDED.daily,"
		"  month = EXCLUDED.month, monthly = EXCLUDED.monthly";
	AkKeysWrite *w = arg;
	AkColumns	c;
	AkParams	p = {0};

	if (w->ncounters == 0)
		return;
	ak_columns_init(&c, ak_counter_columns, lengthof(ak_counter_columns),
					w->ncounters, false);
	for (int i = 0; i < w->ncounters; i++)
	{
		const AkQuotaFlush *q = &w->counters[i];

		ak_column_set(&c, C_SUBJECT, i, UUIDPGetDatum(&q->key_id));
		ak_column_set(&c, C_DAY, i, DateADTGetDatum(ak_period_first_day(AK_DAY, q->period[AK_DAY])));
		ak_column_set(&c, C_DAILY, i, Int64GetDatum(q->used[AK_DAY]));
		ak_column_set(&c, C_MONTH, i, DateADTGetDatum(ak_period_first_day(AK_MONTH, q->period[AK_MONTH])));
		ak_column_set(&c, C_MONTHLY, i, Int64GetDatum(q->used[AK_MONTH]));
	}
	ak_columns_params(&c, &p);
	(void) ak_spi_exec(sql, &p, SPI_OK_INSERT);
}
