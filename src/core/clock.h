/*-------------------------------------------------------------------------
 *
 * clock.h
 *	  The time apikey decides with, and the UTC periods it counts in.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_CLOCK_H
#define AK_CLOCK_H

#include "datatype/timestamp.h"
#include "utils/date.h"

/* Quota periods */
typedef enum AkPeriod
{
	AK_DAY,
	AK_MONTH,
	AK_NUM_PERIODS
} AkPeriod;

extern const char *const ak_period_names[AK_NUM_PERIODS];

/*
 * The period of counters that never roll over (a key's uses): 9999-12-31
 * and December 9999, later than any current period, so that the counter
 * is never idle and its count never starts again.
 */
#define AK_USES_PERIOD_DAY		2921939
#define AK_USES_PERIOD_MONTH	(9999 * 12 + 11)

extern int64 ak_now_us(void);

extern void ak_periods_at(int64 now_us, int32 *period);
extern int64 ak_period_end_us(AkPeriod p, int32 period);
extern int64 ak_period_length_us(AkPeriod p, int32 period);
extern DateADT ak_period_first_day(AkPeriod p, int32 period);
extern int32 ak_period_of_date(AkPeriod p, DateADT date);

/* Hours since 2000-01-01 00:00 UTC: usage is counted per hour. */
static inline int64
ak_hour_of(TimestampTz t)
{
	return t / USECS_PER_HOUR - (t % USECS_PER_HOUR < 0);
}

#endif							/* AK_CLOCK_H */
