/*-------------------------------------------------------------------------
 *
 * events.c
 *	  Access events (failed verifications) and quota alerts, from the
 *	  backends that see them to the worker of their database, which writes
 *	  them to apikey.audit_log -- and, for alerts, sends NOTIFY apikey_quota.
 *
 * Neither a verification nor a request may wait for the audit log, and a
 * read-only transaction cannot write to it: an event goes into a shared
 * table that the worker drains every flush.  Failures are aggregated: one
 * entry, and one audit row with a count, per database, key, client address
 * (or, for a token that names no key and comes from no known address, its
 * display prefix), code and apikey.denied_audit_window -- so a flood of
 * made-up tokens from one address is one row a minute, not one per token.
 * A window's entry is written once the window is over.  Quota alerts are
 * written at the next flush.  When the table has no room left, an event
 * counts in its database's entry for the window and code with no key,
 * address or prefix; only when even that cannot be made is it counted in
 * apikey.stats.events_dropped.  An event never holds a token: a display
 * prefix (the part of a token that key_list shows anyway) at most, and only
 * of a well-formed token.
 *
 * Locking protocol
 *	  The table is a shash (shmem/shash.h), tranche "apikey events", and
 *	  follows its protocol: an entry's count and details are its spinlock's.
 *	  Entries are never idle: only the worker of their database removes
 *	  them, after copying them, in a scan that holds each partition's lock
 *	  exclusively.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/xlog.h"
#include "core/counters.h"
#include "core/guc.h"
#include "core/request.h"
#include "miscadmin.h"
#include "shmem/shash.h"
#include "usage/events.h"
#include "utils/timestamp.h"

#define AK_EVENT_PARTITIONS		16

typedef struct AkEventKey
{
	Oid			dboid;
	uint8		kind;			/* AkEventKind */
	uint8		code;			/* denied: AkCode */
	uint8		period;			/* quota alert: AkPeriod */
	uint8		percent;		/* quota alert: the threshold */
	bool		has_key;
	bool		has_ip;
	uint8		pad[6];
	int64		window;			/* denied: the window's start; alert: the
								 * period */
	pg_uuid_t	key_id;
	inet_struct ip;
	char		display[AK_EVENT_DISPLAY_LEN];	/* no key, no address: the
												 * prefix */
} AkEventKey;

typedef struct AkEventEntry
{
	AkEventKey	key;			/* hash key, must be first */
	AkShashEntry header;
	AkEvent		event;			/* the first event, and the count */
} AkEventEntry;

static void ak_event_entry_init(void *entry, const void *arg);
static bool ak_event_entry_retire(void *entry, int64 now_us);

static const AkShashSpec ak_events_spec = {
	.name = "apikey events",
	.mem_class = AK_MEM_OTHER,
	.keysize = sizeof(AkEventKey),
	.entrysize = sizeof(AkEventEntry),
	.header_offset = offsetof(AkEventEntry, header),
	.partitions = AK_EVENT_PARTITIONS,
	.init = ak_event_entry_init,
	.retire = ak_event_entry_retire,
};

static AkShash ak_events;


/* ---- shared memory ---- */

void
ak_events_request(void)
{
	ak_shash_request(&ak_events_spec);
}

/* Caller holds AddinShmemInitLock. */
void
ak_events_attach(void)
{
	ak_shash_attach(&ak_events, &ak_events_spec);
}

/* A new entry: the event that made it (arg), counted once. */
static void
ak_event_entry_init(void *entry, const void *arg)
{
	AkEventEntry *e = entry;

	e->event = *(const AkEvent *) arg;
	e->event.count = 0;
}

/* Only the worker removes entries, once written. */
static bool
ak_event_entry_retire(void *entry, int64 now_us)
{
	return false;
}


/* ---- producers ---- */

/* Counts event into the entry of key, made if missing; false if no room. */
static bool
ak_event_count(const AkEventKey *key, const AkEvent *event)
{
	uint32		hash = ak_shash_hash(&ak_events, key);
	void	   *found;
	AkEventEntry *e;

	if (!ak_shash_find(&ak_events, key, &hash, 1, &found, true, event, event->at))
		return false;
	e = found;
	ak_shash_lock(&e->header);
	e->event.count++;
	e->event.last_at = Max(e->event.last_at, event->at);
	ak_shash_unlock(&e->header);
	ak_shash_release(&ak_events, hash);
	return true;
}

static void
ak_event_init(AkEvent *event, AkEventKind kind)
{
	memset(event, 0, sizeof(*event));
	event->at = event->last_at = GetCurrentTimestamp();
	event->kind = (uint8) kind;
	event->dboid = MyDatabaseId;
}

/* The start of the window of apikey.denied_audit_window that t is in. */
static int64
ak_event_window(TimestampTz t)
{
	int64		w = (int64) ak_denied_audit_window * USECS_PER_SEC;

	return t - ((t % w) + w) % w;
}

static void
ak_event_denied_key(AkEventKey *key, const AkEvent *event)
{
	memset(key, 0, sizeof(*key));
	key->dboid = event->dboid;
	key->kind = event->kind;
	key->code = event->code;
	key->window = ak_event_window(event->at);
	key->has_key = event->has_key;
	key->key_id = event->key_id;
	key->has_ip = event->has_ip;
	key->ip = event->ip;
	if (!event->has_key && !event->has_ip)
		memcpy(key->display, event->display, sizeof(key->display));
}

/*
 * Counts a denied request in its entry; without room, in its database's
 * entry for the window and code alone: the event stripped of its key,
 * address and prefix, so the row written does not blame the first one
 * counted; without room for that either, as dropped.
 */
static void
ak_event_add_denied(const AkEvent *event)
{
	AkEventKey	key;
	AkEvent		anonymous;

	ak_event_denied_key(&key, event);
	if (ak_event_count(&key, event))
		return;
	anonymous = *event;
	anonymous.has_key = anonymous.has_ip = false;
	memset(&anonymous.key_id, 0, sizeof(anonymous.key_id));
	memset(&anonymous.ip, 0, sizeof(anonymous.ip));
	memset(anonymous.display, 0, sizeof(anonymous.display));
	ak_event_denied_key(&key, &anonymous);
	if (!ak_event_count(&key, &anonymous))
		ak_count(AK_EVENTS_DROPPED);
}

/*
 * A failed verification.  display is the display prefix of a well-formed
 * token, or NULL; key_id the key it named, if any.  Nothing is counted on
 * a standby, where no worker would write it.
 */
void
ak_event_denied(AkCode code, const pg_uuid_t *key_id, const inet *client_ip,
				const char *display, size_t display_len)
{
	ak_event_denied_as(code, ak_code_status(code), key_id, client_ip, display,
					   display_len, NULL, NULL);
}

/*
 * The same, with the HTTP status the client was sent and the request's
 * method and path, when an application reports them (finish()); NULL
 * method and path: PostgREST's request.method and request.path.
 */
void
ak_event_denied_as(AkCode code, int status, const pg_uuid_t *key_id,
				   const inet *client_ip, const char *display,
				   size_t display_len, const char *method, const char *path)
{
	AkEvent		event;

	if (RecoveryInProgress())
		return;
	ak_event_init(&event, AK_EVENT_DENIED);
	event.code = (uint8) code;
	event.status = (int16) status;
	event.role = GetOuterUserId();	/* the caller, even inside exchange() */
	event.session_role = GetSessionUserId();
	if (key_id != NULL)
	{
		event.has_key = true;
		event.key_id = *key_id;
	}
	if (client_ip != NULL)
	{
		event.has_ip = true;
		memcpy(&event.ip, VARDATA_ANY(client_ip),
			   Min(sizeof(event.ip), VARSIZE_ANY_EXHDR(client_ip)));
	}
	if (method != NULL)
		strlcpy(event.method, method, sizeof(event.method));
	else
		ak_request_copy(event.method, sizeof(event.method), "request.method");
	if (path != NULL)
		strlcpy(event.path, path, sizeof(event.path));
	else
		ak_request_copy(event.path, sizeof(event.path), "request.path");
	if (display != NULL)
	{
		display_len = Min(display_len, AK_EVENT_DISPLAY_LEN - 1);
		memcpy(event.display, display, display_len);
		event.display[display_len] = '\0';
	}
	ak_event_add_denied(&event);
}

/* A key's count crossed percent of its quota for a period. */
void
ak_event_quota_alert(const pg_uuid_t *key_id, AkPeriod period, int32 period_number,
					 int64 used, int64 quota, int percent)
{
	AkEvent		event;
	AkEventKey	key;

	if (RecoveryInProgress())
		return;					/* a standby's counts are its own: no worker writes them */
	ak_event_init(&event, AK_EVENT_QUOTA_ALERT);
	event.has_key = true;
	event.key_id = *key_id;
	event.period = (uint8) period;
	event.used = used;
	event.quota = quota;
	event.percent = (uint8) percent;

	memset(&key, 0, sizeof(key));
	key.dboid = event.dboid;
	key.kind = event.kind;
	key.period = event.period;
	key.percent = event.percent;
	key.window = period_number;
	key.has_key = true;
	key.key_id = *key_id;
	/* an alert is about its key: without room it is dropped, and counted */
	if (!ak_event_count(&key, &event))
		ak_count(AK_EVENTS_DROPPED);
}


/* ---- the worker of a database ---- */

typedef struct AkEventTake
{
	Oid			dboid;
	TimestampTz now;
	bool		all;
	AkEvent    *out;
	int			n;
	int			size;
} AkEventTake;

/* Whether an entry is the worker's to write now. */
static bool
ak_event_due(const AkEventEntry *e, const AkEventTake *t)
{
	if (e->key.dboid != t->dboid)
		return false;
	if (t->all || e->key.kind == AK_EVENT_QUOTA_ALERT)
		return true;
	return e->key.window + (int64) ak_denied_audit_window * USECS_PER_SEC <= t->now;
}

static bool
ak_event_take_visit(void *entry, void *arg)
{
	AkEventEntry *e = entry;
	AkEventTake *t = arg;

	if (!ak_event_due(e, t))
		return false;
	if (t->n == t->size)
		t->out = repalloc(t->out, (t->size *= 2) * sizeof(AkEvent));
	ak_shash_lock(&e->header);
	t->out[t->n++] = e->event;
	ak_shash_retire_locked(&e->header);
	ak_shash_unlock(&e->header);
	return true;
}

/*
 * Takes the entries of database dboid that are due -- every one with all,
 * as when the worker stops -- out of the table, into *out (palloc'd).
 */
int
ak_events_take(Oid dboid, bool all, AkEvent **out)
{
	AkEventTake t = {dboid, GetCurrentTimestamp(), all, NULL, 0, 64};

	t.out = palloc(t.size * sizeof(AkEvent));
	ak_shash_scan(&ak_events, LW_EXCLUSIVE, ak_event_take_visit, &t);
	*out = t.out;
	return t.n;
}
