/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  The time apikey decides with, and the UTC periods quotas count in.
 *
 * Every decision -- refill, expiry, cooldown, quota period -- reads one
 * clock, ak_now_us(): the wall clock (not the transaction's start: a key
 * that expires during a long transaction stops working then), moved by
 * apikey.test_clock_offset in tests.
 *
 * Periods are numbered: days since 2000-01-01 (a date's own value) and
 * months as year * 12 + month - 1, both in UTC, whatever the time zone.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/clock.h"
#include "core/guc.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

const char *const ak_period_names[AK_NUM_PERIODS] = {
	[AK_DAY] = "day",
	[AK_MONTH] = "month",
};

int64
ak_now_us(void)
{
	return GetCurrentTimestamp() + (int64) ak_test_clock_offset * 1000;
}

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
ak_periods_at(int64 now_us, int32 *period)
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
