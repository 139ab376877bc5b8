/*-------------------------------------------------------------------------
 *
 * apprequest.c
 *	  A request of an application outside PostgREST (doc/apikey.md,
 *	  "Applications outside PostgREST"): check() with an endpoint opens it,
 *	  finish(status, latency) closes it.  Until then it holds its slots
 *	  (in flight, concurrency) across transactions -- an autocommit client
 *	  ends check()'s transaction at once -- and its usage and the access
 *	  event of a refusal wait for the real HTTP status and duration.
 *
 * A backend has at most one open: a connection serves one request at a
 * time.  The next check() of the session, or its end, closes the last one
 * if finish() never did -- counted as apikey answered it, without a
 * duration -- so that a client that forgets finish() holds a slot no
 * longer than its connection's next request.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "limit/apprequest.h"
#include "limit/held.h"
#include "mb/pg_wchar.h"
#include "storage/ipc.h"
#include "usage/finished.h"
#include "usage/store.h"
#include "utils/timestamp.h"

typedef struct AkAppRequest
{
	bool		open;
	bool		has_key;		/* a key's usage is recorded */
	pg_uuid_t	key_id;
	AkCode		code;
	AkUsageOutcome outcome;
	int64		cost;
	TimestampTz start;
	char		path[AK_USAGE_PATH_LEN];
	char		method[AK_METHOD_LEN];
	AkDenial	denial;			/* the access event of a refusal */
} AkAppRequest;

static AkAppRequest ak_app;
static bool ak_app_exit_registered = false;

/* How an admitted request counts in usage, by the status it was answered. */
static AkUsageOutcome
ak_outcome_of_status(int status)
{
	switch (status)
	{
		case 401:
		case 403:
			return AK_USAGE_DENIED_AUTH;
		case 429:
		case 503:
			return AK_USAGE_RATE_LIMITED;
		default:
			return AK_USAGE_ALLOWED;
	}
}

/*
 * Closes the open request: its usage, its access event (status: how it
 * was answered, 0: as apikey said), and its slots.  duration_us < 0: not
 * known.
 */
static void
ak_app_close(int status, int64 duration_us)
{
	AkAppRequest *r = &ak_app;
	AkUsageOutcome outcome = r->outcome;

	r->open = false;
	if (status > 0 && outcome == AK_USAGE_ALLOWED)
		outcome = ak_outcome_of_status(status);
	if (r->has_key)
		ak_usage_finished(&r->key_id, outcome, r->cost, r->start, duration_us, r->path);
	if (r->denial.pending)
		ak_denial_queue(&r->denial, status > 0 ? status : ak_code_status(r->code),
						r->method, r->path);
	r->denial.pending = false;
	ak_held_release_finished();
}

static void
ak_app_close_at_exit(int code, Datum arg)
{
	if (ak_app.open)
		ak_app_close(0, -1);
}

/*
 * A new application request begins: the last one is closed if it is still
 * open.  Returns where its access event is held back.
 */
AkDenial *
ak_app_request_begin(void)
{
	if (!ak_app_exit_registered)
	{
		before_shmem_exit(ak_app_close_at_exit, (Datum) 0);
		ak_app_exit_registered = true;
	}
	if (ak_app.open)
		ak_app_close(0, -1);
	ak_app.denial.pending = false;
	return &ak_app.denial;
}

/* Copies a string, cut at a character boundary to fit size. */
static void
ak_copy_clipped(char *dst, int size, const char *src)
{
	int			len = src ? pg_mbcliplen(src, strlen(src), size - 1) : 0;

	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

/* check() decided the request: it stays open until finish(). */
void
ak_app_request_open(const AkDecision *d, const char *endpoint,
					const char *method, int64 cost)
{
	AkAppRequest *r = &ak_app;

	r->open = true;
	r->has_key = d->key != NULL && d->key->stored;
	if (r->has_key)
		r->key_id = d->key->id;
	r->code = d->code;
	r->outcome = d->usage;
	r->cost = cost;
	r->start = GetCurrentTimestamp();
	ak_copy_clipped(r->path, sizeof(r->path), endpoint);
	ak_copy_clipped(r->method, sizeof(r->method), method);
}

/*
 * finish(): the open request was answered with status, after latency_us
 * (< 0: the time since check()).  False when no request is open.
 */
bool
ak_app_request_finish(int status, int64 latency_us)
{
	if (!ak_app.open)
		return false;
	if (latency_us < 0)
		latency_us = GetCurrentTimestamp() - ak_app.start;
	ak_app_close(status, latency_us);
	return true;
}
