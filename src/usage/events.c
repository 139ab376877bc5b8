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
 *	  sequence to pos + 1, after a write barrier.  The consumer takes the
 *	  event at tail when the sequence is tail + 1 (read barrier between),
 *	  then frees the slot for the next round by setting it to tail + size,
 *	  after a full barrier.  A slot whose sequence is behind pos means the
 *	  queue is full: the producer gives up at once.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/xlog.h"
#include "core/counters.h"
#include "core/request.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "usage/events.h"
#include "utils/timestamp.h"

typedef struct AkEventSlot
{
	pg_atomic_uint64 seq;
	AkEvent		event;
} AkEventSlot;

typedef struct AkEventQueue
{
	pg_atomic_uint64 head;		/* the next position to fill */
	char		pad[PG_CACHE_LINE_SIZE - sizeof(pg_atomic_uint64)];
	pg_atomic_uint64 tail;		/* the next position to drain: the consumer's */
	pg_atomic_uint32 consumer;	/* the consumer's proc number, or AK_NO_PROC */
	AkEventSlot slots[AK_EVENT_QUEUE_SIZE];
} AkEventQueue;

static AkEventQueue *ak_queue = NULL;


/* ---- shared memory ---- */

Size
ak_events_shmem_size(void)
{
	return sizeof(AkEventQueue);
}

/* Caller holds AddinShmemInitLock. */
void
ak_events_shmem_init(void)
{
	bool		found;

	ak_queue = ShmemInitStruct("apikey events", sizeof(AkEventQueue), &found);
	if (found)
		return;
	pg_atomic_init_u64(&ak_queue->head, 0);
	pg_atomic_init_u64(&ak_queue->tail, 0);
	pg_atomic_init_u32(&ak_queue->consumer, AK_NO_PROC);
	for (uint64 i = 0; i < AK_EVENT_QUEUE_SIZE; i++)
		pg_atomic_init_u64(&ak_queue->slots[i].seq, i);
}


/* ---- producers ---- */

/* Wakes the consumer when a quarter of the queue has filled since it last could. */
static void
ak_events_maybe_wake(uint64 pos)
{
	uint32		consumer;

	if ((pos + 1) % (AK_EVENT_QUEUE_SIZE / 4) != 0)
		return;
	consumer = pg_atomic_read_u32(&ak_queue->consumer);
	if (consumer != AK_NO_PROC)
		SetLatch(&AK_PROC_BY_NUMBER(consumer)->procLatch);
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
 * token, or NULL; key_id the key it named, if any.  Nothing is queued on a
 * standby, where no worker would drain it.
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


/* ---- the consumer ---- */

static void
ak_events_detach_consumer(int code, Datum arg)
{
	pg_atomic_write_u32(&ak_queue->consumer, AK_NO_PROC);
}

/* The consumer announces itself, to be woken when the queue fills up. */
void
ak_events_attach_consumer(void)
{
	pg_atomic_write_u32(&ak_queue->consumer, (uint32) AK_MY_PROC_NUMBER());
	before_shmem_exit(ak_events_detach_consumer, (Datum) 0);
}

/* Takes the oldest event, if one is published; the consumer only. */
bool
ak_event_take(AkEvent *event)
{
	uint64		pos = pg_atomic_read_u64(&ak_queue->tail);
	AkEventSlot *slot = &ak_queue->slots[pos % AK_EVENT_QUEUE_SIZE];

	if (pg_atomic_read_u64(&slot->seq) != pos + 1)
		return false;			/* empty, or still being written */
	pg_read_barrier();
	*event = slot->event;
	pg_memory_barrier();
	pg_atomic_write_u64(&slot->seq, pos + AK_EVENT_QUEUE_SIZE);
	pg_atomic_write_u64(&ak_queue->tail, pos + 1);
	return true;
}
