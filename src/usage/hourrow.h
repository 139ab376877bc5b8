/*-------------------------------------------------------------------------
 *
 * hourrow.h
 *	  A row of apikey.usage_hours -- a key's usage in one UTC hour -- as C
 *	  sees it, and the one way two are added up: by the worker as it
 *	  writes, and by the usage_hourly view as it reads (hourrow.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_HOURROW_H
#define AK_HOURROW_H

#include "access/tupdesc.h"
#include "usage/store.h"

/* Endpoints a row keeps, "(other)" included: the busiest, the rest folded. */
#define AK_MAX_ENDPOINTS	32
#define AK_OTHER_ENDPOINT	"(other)"

/* The columns of apikey.usage_hours, in order. */
enum
{
	AK_HR_KEY_ID, AK_HR_HOUR, AK_HR_REQUESTS, AK_HR_ALLOWED, AK_HR_RATE_LIMITED,
	AK_HR_QUOTA_EXCEEDED, AK_HR_DENIED_AUTH, AK_HR_COST_UNITS, AK_HR_AVG_MS,
	AK_HR_P95_MS, AK_HR_P99_MS, AK_HR_ENDPOINTS, AK_HR_LATENCY_HIST,
	AK_HR_NATTS
};

typedef struct AkEndpointCount
{
	char		path[AK_USAGE_PATH_LEN];
	int64		requests;
	int64		allowed;
	double		total_ms;
} AkEndpointCount;

typedef struct AkHourRow
{
	pg_uuid_t	key_id;
	TimestampTz hour;
	int64		requests;
	int64		allowed;
	int64		rate_limited;
	int64		quota_exceeded;
	int64		denied_auth;
	int64		cost_units;
	double		latency_ms;		/* the durations behind the histogram */
	int64		hist[AK_LATENCY_BUCKETS];
	int			nendpoints;
	int			endpoints_size;
	AkEndpointCount *endpoints;
} AkHourRow;

extern void ak_hour_row_init(AkHourRow *row, const pg_uuid_t *key_id, TimestampTz hour);
extern void ak_hour_row_add_counts(AkHourRow *row, const char *path,
								   const AkUsageCounts *counts);
extern void ak_hour_row_add(AkHourRow *row, const AkHourRow *other);
extern void ak_hour_row_decode(AkHourRow *row, const Datum *values, const bool *nulls);
extern void ak_hour_row_encode(AkHourRow *row, Datum *values, bool *nulls);
extern int	ak_hour_row_cmp(const void *a, const void *b);

/* Rows built from counts of shared memory, by key and hour. */
typedef struct AkHourRows AkHourRows;

extern AkHourRows *ak_hour_rows_create(void);
extern void ak_hour_rows_add(AkHourRows *rows, const AkUsageKey *key,
							 const char *path, const AkUsageCounts *counts);
extern AkHourRow *ak_hour_rows_sorted(AkHourRows *rows, int *n);
extern AkHourRow *ak_hour_rows_live(Oid dboid, int *n);

#endif							/* AK_HOURROW_H */
