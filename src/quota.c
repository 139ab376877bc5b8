/*-------------------------------------------------------------------------
 *
 * quota.c
 *	  Daily and monthly quotas (contract §6): the UTC periods they count
 *	  in, what a refusal reports, the 80% and 95% alerts, and the refund of
 *	  units debited by a transaction that rolls back.
 *
 * A key's counts live in a quota counter in the bucket table (bucket.c),
 * which takes the decision under the counter's spinlock.  The worker writes
 * counters that changed to the key's row (daily_usage, usage_day,
 * monthly_usage, usage_month) every apikey.flush_interval; a counter that
 * is created later -- after a crash, or for a key that was idle -- starts
 * from that row, so a crash loses at most one flush interval of counts and
 * a clean restart none (the counters are saved with the buckets).
 *
 * Periods are numbered: days since 2000-01-01 (a date's own value) and
 * months as year * 12 + month - 1, both in UTC, whatever the time zone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/datetime.h"
#include "utils/memutils.h"

#include "apikey.h"

const int	ak_alert_percent[AK_NUM_ALERTS] = {80, 95};

const char *const ak_period_names[AK_NUM_PERIODS] = {
	[AK_DAY] = "day",
	[AK_MONTH] = "month",
};

/* The names quotas have in headers: the columns that set them. */
static const char *const ak_quota_names[AK_NUM_PERIODS] = {
	[AK_DAY] = "daily_quota",
	[AK_MONTH] = "monthly_quota",
};


/* ---- periods ---- */

static int32
ak_month_of_julian(int julian)
{
	int			year,
				month,
				day;

	j2date(julian, &year, &month, &day);
	return year * 12 + month - 1;
}

/* The first day of a month, as a date. */
static DateADT
ak_month_first_day(int32 month)
{
	return date2j(month / 12, month % 12 + 1, 1) - POSTGRES_EPOCH_JDATE;
}

/*
 * The current day and month at now_us.  The month is a calendar
 * computation, done once a day per process.
 */
void
ak_quota_periods(int64 now_us, int32 *period)
{
	static int32 cached_day = PG_INT32_MIN;
	static int32 cached_month = 0;
	int32		day = (int32) (now_us / USECS_PER_DAY - (now_us % USECS_PER_DAY < 0));

	if (day != cached_day)
	{
		cached_month = ak_month_of_julian(day + POSTGRES_EPOCH_JDATE);
		cached_day = day;
	}
	period[AK_DAY] = day;
	period[AK_MONTH] = cached_month;
}

/* When a period ends: the next one's first microsecond. */
int64
ak_period_end_us(AkPeriod p, int32 period)
{
	if (p == AK_DAY)
		return (int64) (period + 1) * USECS_PER_DAY;
	return (int64) ak_month_first_day(period + 1) * USECS_PER_DAY;
}

int64
ak_period_length_us(AkPeriod p, int32 period)
{
	return ak_period_end_us(p, period) -
		(int64) ak_period_first_day(p, period) * USECS_PER_DAY;
}

/* The date a period is stored as: usage_day, or usage_month (its 1st). */
DateADT
ak_period_first_day(AkPeriod p, int32 period)
{
	return p == AK_DAY ? period : ak_month_first_day(period);
}

int32
ak_period_of_date(AkPeriod p, DateADT date)
{
	return p == AK_DAY ? date : ak_month_of_julian(date + POSTGRES_EPOCH_JDATE);
}


/* ---- the hot path ---- */

bool
ak_key_has_quota(const AkKeyInfo *key)
{
	return key->stored &&
		(key->quota[AK_DAY] >= 0 || key->quota[AK_MONTH] >= 0);
}

/*
 * Debits cost from a key's quotas, both or neither; the charge is what
 * ak_quota_undo, ak_quota_announce and ak_quota_report need later.
 */
AkDebit
ak_quota_debit(const AkKeyInfo *key, int64 cost, int64 now_us,
			   AkQuotaCharge *charge)
{
	AkQuotaRequest *req = &charge->req;
	AkDebit		result;

	charge->cost = cost;
	charge->now_us = now_us;
	ak_quota_periods(now_us, req->period);
	for (int p = 0; p < AK_NUM_PERIODS; p++)
	{
		req->quota[p] = key->quota[p];
		req->seed_period[p] = key->usage_period[p];
		req->seed_used[p] = key->usage[p];
	}
	result = ak_quota_counter_debit((const uint8 *) key->id.data, req, cost,
									now_us, &charge->out, key->quota_hint);
	if (result == AK_DEBIT_REJECTED)
		ak_count(AK_QUOTA_EXCEEDED);
	return result;
}

/* A later step refused the request: gives the units back, alerts unsent. */
void
ak_quota_undo(const AkKeyInfo *key, AkQuotaCharge *charge)
{
	ak_quota_counter_refund((const uint8 *) key->id.data, charge->req.period,
							charge->cost, charge->out.crossed, key->quota_hint);
	memset(charge->out.crossed, 0, sizeof(charge->out.crossed));
}

/*
 * The request was admitted: queues the alerts its debit crossed.  The
 * counter remembers which were sent, so each goes once per period.
 */
void
ak_quota_announce(const AkKeyInfo *key, const AkQuotaCharge *charge)
{
	for (int p = 0; p < AK_NUM_PERIODS; p++)
		for (int i = 0; i < AK_NUM_ALERTS; i++)
			if (charge->out.crossed[p] & (1 << i))
				ak_event_quota_alert(&key->id, (AkPeriod) p, charge->out.used[p],
									 charge->req.quota[p], ak_alert_percent[i]);
}

/*
 * Describes a refusal by quota as a limit, for the result columns and the
 * headers: the quota, what is left of it, and its rollover -- of the later
 * period when both refused, as that is when a retry can pass.
 */
void
ak_quota_report(const AkQuotaCharge *charge, AkLimit *limit,
				AkLimitReport *report, int64 *retry_after_us)
{
	AkPeriod	p = charge->out.refused[AK_MONTH] ? AK_MONTH : AK_DAY;
	int32		period = charge->req.period[p];
	int64		until = ak_period_end_us(p, period) - charge->now_us;
	AkLimitOutcome *o = &report->outcome[0];

	memset(limit, 0, sizeof(*limit));
	strlcpy(limit->name, ak_quota_names[p], sizeof(limit->name));
	limit->limit = charge->req.quota[p];
	limit->burst = charge->req.quota[p];
	limit->period_us = ak_period_length_us(p, period);

	report->nlimits = 1;
	report->limits = limit;
	report->policy = NULL;
	report->restrictive = 0;
	o->remaining = Max(charge->req.quota[p] - charge->out.used[p], 0);
	o->full_in_us = until;
	o->retry_in_us = until;
	*retry_after_us = until;
}


/* ---- refund on rollback ---- */

/* Units to give back if the (sub)transaction that debited them aborts. */
typedef struct AkRollbackRefund
{
	pg_uuid_t	key_id;
	bool		quota;			/* quota units were debited */
	int32		period[AK_NUM_PERIODS];
	int64		cost;
	TimestampTz charged_at;		/* the hour of usage_hourly they were billed to */
	SubTransactionId subid;
	AkBucket   *hint;
} AkRollbackRefund;

static AkRollbackRefund *ak_refunds = NULL;
static int	ak_nrefunds = 0;
static int	ak_refunds_size = 0;
static bool ak_refund_callbacks = false;

static void
ak_refund(const AkRollbackRefund *r)
{
	AkBucket   *hint = r->hint;

	if (r->quota)
		ak_quota_counter_refund((const uint8 *) r->key_id.data, r->period,
								r->cost, NULL, &hint);
	/* nor are they billed: the hour they were billed to drops by as much */
	ak_usage_charge(&r->key_id, -r->cost, r->charged_at);
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

static void
ak_refund_xact_callback(XactEvent event, void *arg)
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
			ak_nrefunds = 0;
			break;
		default:
			break;
	}
}

static void
ak_refund_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		ak_refund_aborted(mySubid);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		for (int i = 0; i < ak_nrefunds; i++)
			if (ak_refunds[i].subid == mySubid)
				ak_refunds[i].subid = parentSubid;
}

/*
 * consume(refund_on_rollback => true): the units of this charge come back
 * if the current (sub)transaction aborts, to the quota (charge, when one
 * was debited) and to the usage billed at charged_at.  The rate limits are
 * not refunded: they protect the server, which did the work all the same.
 */
void
ak_refund_on_rollback(const AkKeyInfo *key, const AkQuotaCharge *charge,
					  int64 cost, TimestampTz charged_at)
{
	AkRollbackRefund *r;

	if (!ak_refund_callbacks)
	{
		RegisterXactCallback(ak_refund_xact_callback, NULL);
		RegisterSubXactCallback(ak_refund_subxact_callback, NULL);
		ak_refund_callbacks = true;
	}
	if (ak_nrefunds == ak_refunds_size)
		ak_refunds = ak_array_grow(ak_refunds, &ak_refunds_size, sizeof(AkRollbackRefund));
	r = &ak_refunds[ak_nrefunds++];
	r->key_id = key->id;
	r->quota = charge != NULL;
	if (charge != NULL)
		memcpy(r->period, charge->req.period, sizeof(r->period));
	r->cost = cost;
	r->charged_at = charged_at;
	r->subid = GetCurrentSubTransactionId();
	r->hint = *key->quota_hint;
}
