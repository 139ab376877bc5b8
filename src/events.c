/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The queue of access events (failed verifications) and quota alerts,
 *	  from the backends that see them to the worker that writes them to
 *	  apikey.audit_log -- and, for alerts, sends NOTIFY apikey_quota.
 *
 * Neither a verification nor a request may wait for the audit log, and a
 * read-only transaction cannot write to it: the event goes into a bounded
 * queue in shared memory and the worker drains it every flush.  When the
 * queue is full the event is counted in apikey.stats.events_dropped and
 * the request goes on.  An event never holds a token: a display prefix
 * (the part of a token that key_list shows anyway) at most, and only of a
 * well-formed token.
 *
 * Locking protocol
 *	  None: the queue is Dmitry Vyukov's bounded queue, lock-free for any
 *	  number of producers (the backends) and here one consumer (the worker).
 *	  Each slot has a sequence number: a producer claims position pos when
 *	  the slot's sequence equals pos, by advancing head with a compare and
 *	  exchange; it copies its event in and publishes it by setting the
 *	  sequence to pos + 1, after a write barrier.  The worker takes the
 *	  event at tail when the sequence is tail + 1 (read barrier between),
 *	  then frees the slot for the next round by setting it to tail + size,
 *	  after a full barrier.  A slot whose sequence is behind pos means the
 *	  queue is full: the producer gives up at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "apikey.h"

#define AK_EVENT_QUEUE_SIZE		4096	/* a power of 2 */
#define AK_EVENT_METHOD_LEN		16
#define AK_EVENT_PATH_LEN		128

typedef enum AkEventKind
{
	AK_EVENT_DENIED = 1,
	AK_EVENT_QUOTA_ALERT
} AkEventKind;

typedef struct AkEvent
{
	TimestampTz at;
	uint8		kind;			/* AkEventKind */
	uint8		code;			/* denied: AkCode */
	uint8		period;			/* quota alert: AkPeriod */
	uint8		percent;		/* quota alert: the threshold */
	bool		has_key;
	bool		has_ip;
	int16		status;			/* denied: HTTP status */
	Oid			role;			/* denied: the role that asked */
	Oid			dboid;
	pg_uuid_t	key_id;
	int64		used;			/* quota alert */
	int64		quota;
	inet_struct ip;
	char		method[AK_EVENT_METHOD_LEN];
	char		path[AK_EVENT_PATH_LEN];
	char		display[AK_DISPLAY_MAX_LEN + 1];
} AkEvent;

typedef struct AkEventSlot
{
	pg_atomic_uint64 seq;
	AkEvent		event;
} AkEventSlot;

typedef struct AkEventQueue
{
	pg_atomic_uint64 head;		/* the next position to fill */
	char		pad[PG_CACHE_LINE_SIZE - sizeof(pg_atomic_uint64)];
	pg_atomic_uint64 tail;		/* the next position to drain: the worker's */
	pg_atomic_uint32 worker;	/* the worker's pgprocno, or INVALID_PGPROCNO */
	AkEventSlot slots[AK_EVENT_QUEUE_SIZE];
} AkEventQueue;

static AkEventQueue *ak_queue = NULL;


/* ---- shared memory ---- */

void
ak_events_shmem_request(void)
{
	RequestAddinShmemSpace(sizeof(AkEventQueue));
}

/* Caller holds AddinShmemInitLock. */
void
ak_events_shmem_startup(void)
{
	bool		found;

	ak_queue = ShmemInitStruct("apikey events", sizeof(AkEventQueue), &found);
	if (found)
		return;
	pg_atomic_init_u64(&ak_queue->head, 0);
	pg_atomic_init_u64(&ak_queue->tail, 0);
	pg_atomic_init_u32(&ak_queue->worker, INVALID_PGPROCNO);
	for (uint64 i = 0; i < AK_EVENT_QUEUE_SIZE; i++)
		pg_atomic_init_u64(&ak_queue->slots[i].seq, i);
}


/* ---- producers ---- */

/* Wakes the worker when a quarter of the queue has filled since it last could. */
static void
ak_events_maybe_wake(uint64 pos)
{
	uint32		worker;

	if ((pos + 1) % (AK_EVENT_QUEUE_SIZE / 4) != 0)
		return;
	worker = pg_atomic_read_u32(&ak_queue->worker);
	if (worker != INVALID_PGPROCNO)
		SetLatch(&ProcGlobal->allProcs[worker].procLatch);
}

/* Queues an event; false when the queue is full. */
static bool
ak_event_push(const AkEvent *event)
{
	uint64		pos = pg_atomic_read_u64(&ak_queue->head);
	AkEventSlot *slot;

	for (;;)
	{
		int64		lag;

		slot = &ak_queue->slots[pos % AK_EVENT_QUEUE_SIZE];
		lag = (int64) (pg_atomic_read_u64(&slot->seq) - pos);
		if (lag == 0)
		{
			if (pg_atomic_compare_exchange_u64(&ak_queue->head, &pos, pos + 1))
				break;
			/* another producer took pos; pos is now the new head */
		}
		else if (lag < 0)
			return false;
		else
			pos = pg_atomic_read_u64(&ak_queue->head);
	}
	slot->event = *event;
	pg_write_barrier();
	pg_atomic_write_u64(&slot->seq, pos + 1);
	ak_events_maybe_wake(pos);
	return true;
}

static void
ak_event_push_or_count(const AkEvent *event)
{
	if (!ak_event_push(event))
		ak_count(AK_EVENTS_DROPPED);
}

/* Copies a request setting of PostgREST's, cut at a character boundary. */
static void
ak_copy_setting(char *dst, int size, const char *name)
{
	const char *value = GetConfigOption(name, true, false);
	int			len;

	dst[0] = '\0';
	if (value == NULL)
		return;
	len = pg_mbcliplen(value, strlen(value), size - 1);
	memcpy(dst, value, len);
	dst[len] = '\0';
}

static void
ak_event_init(AkEvent *event, AkEventKind kind)
{
	memset(event, 0, sizeof(*event));
	event->at = GetCurrentTimestamp();
	event->kind = (uint8) kind;
	event->dboid = MyDatabaseId;
}

/*
 * A failed verification.  display is the display prefix of a well-formed
 * token, or NULL; key the key it named, if any.  Nothing is queued on a
 * standby, where no worker would drain it.
 */
void
ak_event_denied(AkCode code, const AkKeyInfo *key, const inet *client_ip,
				const char *display, size_t display_len)
{
	AkEvent		event;

	if (RecoveryInProgress())
		return;
	ak_event_init(&event, AK_EVENT_DENIED);
	event.code = (uint8) code;
	event.status = (int16) ak_code_status[code];
	event.role = GetOuterUserId();	/* the caller, even inside exchange() */
	if (key != NULL && key->stored)
	{
		event.has_key = true;
		event.key_id = key->id;
	}
	if (client_ip != NULL)
	{
		event.has_ip = true;
		memcpy(&event.ip, VARDATA_ANY(client_ip),
			   Min(sizeof(event.ip), VARSIZE_ANY_EXHDR(client_ip)));
	}
	ak_copy_setting(event.method, sizeof(event.method), "request.method");
	ak_copy_setting(event.path, sizeof(event.path), "request.path");
	if (display != NULL)
	{
		display_len = Min(display_len, AK_DISPLAY_MAX_LEN);
		memcpy(event.display, display, display_len);
		event.display[display_len] = '\0';
	}
	ak_event_push_or_count(&event);
}

/* A key's count crossed percent of its quota for a period. */
void
ak_event_quota_alert(const pg_uuid_t *key_id, AkPeriod period, int64 used,
					 int64 quota, int percent)
{
	AkEvent		event;

	if (RecoveryInProgress())
		return;					/* a standby's counts are its own: no worker writes them */
	ak_event_init(&event, AK_EVENT_QUOTA_ALERT);
	event.has_key = true;
	event.key_id = *key_id;
	event.period = (uint8) period;
	event.used = used;
	event.quota = quota;
	event.percent = (uint8) percent;
	ak_event_push_or_count(&event);
}


/* ---- the worker ---- */

static void
ak_events_detach_worker(int code, Datum arg)
{
	pg_atomic_write_u32(&ak_queue->worker, INVALID_PGPROCNO);
}

/* The worker announces itself, to be woken when the queue fills up. */
void
ak_events_attach_worker(void)
{
	pg_atomic_write_u32(&ak_queue->worker, (uint32) MyProc->pgprocno);
	before_shmem_exit(ak_events_detach_worker, (Datum) 0);
}

/*
 * The events the worker has taken from the queue and not written yet: at
 * most one queue's worth.  Beyond that, events wait in the queue, and
 * further ones are dropped there.
 */
static AkEvent *ak_backlog = NULL;
static int	ak_nbacklog = 0;

/*
 * Moves queued events of this database to the backlog, oldest first, and
 * returns the size of the backlog.  Events of other databases are dropped
 * and counted: the worker writes to one database only.
 */
int
ak_events_collect(void)
{
	uint64		pos = pg_atomic_read_u64(&ak_queue->tail);

	if (ak_backlog == NULL)
		ak_backlog = MemoryContextAlloc(TopMemoryContext,
										AK_EVENT_QUEUE_SIZE * sizeof(AkEvent));
	while (ak_nbacklog < AK_EVENT_QUEUE_SIZE)
	{
		AkEventSlot *slot = &ak_queue->slots[pos % AK_EVENT_QUEUE_SIZE];

		if (pg_atomic_read_u64(&slot->seq) != pos + 1)
			break;				/* empty, or still being written */
		pg_read_barrier();
		if (slot->event.dboid == MyDatabaseId)
			ak_backlog[ak_nbacklog++] = slot->event;
		else
			ak_count(AK_EVENTS_DROPPED);
		pg_memory_barrier();
		pg_atomic_write_u64(&slot->seq, pos + AK_EVENT_QUEUE_SIZE);
		pos++;
	}
	pg_atomic_write_u64(&ak_queue->tail, pos);
	return ak_nbacklog;
}

/* The backlog is in audit_log: forget it. */
void
ak_events_written(void)
{
	ak_nbacklog = 0;
}

static char *
ak_event_detail(const AkEvent *e)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (e->kind == AK_EVENT_DENIED)
	{
		appendStringInfoString(&buf, "{\"code\": ");
		escape_json(&buf, ak_code_names[e->code]);
		if (e->display[0] != '\0')
		{
			appendStringInfoString(&buf, ", \"prefix\": ");
			escape_json(&buf, e->display);
		}
	}
	else
		appendStringInfo(&buf, "{\"period\": \"%s\", \"used\": " INT64_FORMAT
						 ", \"quota\": " INT64_FORMAT ", \"percent\": %d",
						 ak_period_names[e->period], e->used, e->quota, e->percent);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

static Datum
ak_event_ip(const AkEvent *e)
{
	inet	   *ip = palloc0(sizeof(inet));

	memcpy(VARDATA(ip), &e->ip, sizeof(inet_struct));
	SET_VARSIZE(ip, VARHDRSZ + offsetof(inet_struct, ipaddr) +
				(e->ip.family == PGSQL_AF_INET ? 4 : 16));
	return InetPGetDatum(ip);
}

/*
 * Writes the backlog to audit_log in the caller's transaction, the denied
 * events with the role that asked as actor, and sends NOTIFY apikey_quota
 * for each quota alert (delivered when the transaction commits).
 */
void
ak_events_write(void)
{
	const AkEvent *events = ak_backlog;
	int			n = ak_nbacklog;
	static const char *sql =
		"WITH e AS ("
		"  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::uuid[],"
		"                       $4::oid[], $5::inet[], $6::text[], $7::text[],"
		"                       $8::int4[], $9::jsonb[]) WITH ORDINALITY"
		"    AS e(at, action, key_id, role, client_ip, method, path, status, detail, n)),"
		" ins AS ("
		"  INSERT INTO apikey.audit_log (at, action, key_id, owner, actor, client_ip,"
		"                                request_method, request_path, status, detail)"
		"  SELECT e.at, e.action, e.key_id, k.owner,"
		"         CASE WHEN e.role OPERATOR(pg_catalog.=) 0 THEN 'apikey worker'"
		"              ELSE pg_catalog.pg_get_userbyid(e.role)::text END,"
		"         e.client_ip, e.method, e.path, e.status, e.detail"
		"    FROM e LEFT JOIN apikey.keys AS k ON k.id OPERATOR(pg_catalog.=) e.key_id"
		"   ORDER BY e.n"
		"  RETURNING action, key_id, owner, detail)"
		" SELECT pg_catalog.pg_notify('apikey_quota',"
		"          (pg_catalog.jsonb_build_object('key_id', key_id, 'owner', owner)"
		"           OPERATOR(pg_catalog.||) detail)::text)"
		"   FROM ins WHERE action OPERATOR(pg_catalog.=) 'quota_alert'";
	static const Oid elemtypes[9] = {
		TIMESTAMPTZOID, TEXTOID, UUIDOID, OIDOID, INETOID, TEXTOID, TEXTOID,
		INT4OID, JSONBOID
	};
	Oid			types[9];
	Datum	   *values[9];
	bool	   *nulls[9];
	Datum		args[9];

	if (n == 0)
		return;
	for (int c = 0; c < 9; c++)
	{
		values[c] = palloc(n * sizeof(Datum));
		nulls[c] = palloc0(n * sizeof(bool));
	}
	for (int i = 0; i < n; i++)
	{
		const AkEvent *e = &events[i];
		bool		denied = e->kind == AK_EVENT_DENIED;

		values[0][i] = TimestampTzGetDatum(e->at);
		values[1][i] = CStringGetTextDatum(denied ? "denied" : "quota_alert");
		values[2][i] = UUIDPGetDatum(&e->key_id);
		nulls[2][i] = !e->has_key;
		values[3][i] = ObjectIdGetDatum(denied ? e->role : InvalidOid);
		values[4][i] = e->has_ip ? ak_event_ip(e) : (Datum) 0;
		nulls[4][i] = !e->has_ip;
		values[5][i] = CStringGetTextDatum(e->method);
		nulls[5][i] = e->method[0] == '\0';
		values[6][i] = CStringGetTextDatum(e->path);
		nulls[6][i] = e->path[0] == '\0';
		values[7][i] = Int32GetDatum(e->status);
		nulls[7][i] = !denied;
		values[8][i] = DirectFunctionCall1(jsonb_in, CStringGetDatum(ak_event_detail(e)));
	}
	for (int c = 0; c < 9; c++)
		args[c] = ak_array_datum(values[c], nulls[c], n, elemtypes[c], &types[c]);
	(void) ak_worker_execute(sql, 9, types, args, SPI_OK_SELECT);
}
