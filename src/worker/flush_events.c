/*-------------------------------------------------------------------------
 *
 * flush_events.c
 *	  The worker's "flush events" task: access events and quota alerts from
 *	  the shared queue (usage/events.c) into apikey.audit_log, with
 *	  NOTIFY apikey_quota for each alert.
 *
 * Any role may LISTEN, so a notification says nothing but where to look:
 * the id of the alert's audit row, its period and its percent.  A listener
 * reads the rest -- the key, its owner, the count and the quota -- from
 * that row, which row-level security shows to the key's owner and to
 * admins only.
 *
 * The events the worker has taken from the queue and not written yet are
 * its backlog: at most one queue's worth.  Beyond that, events wait in the
 * queue, and further ones are dropped there.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "core/counters.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "usage/events.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "worker/flush.h"

/* Events taken from shared memory and not written yet: the worker's. */
static AkEvent *ak_backlog = NULL;
static int	ak_nbacklog = 0;
static int	ak_backlog_size = 0;

/*
 * Takes this database's events that are due (all of them when the worker
 * stops) into the backlog, which keeps what a failed write could not
 * write; returns the backlog's length.
 */
int
ak_events_collect(bool all)
{
	AkEvent    *taken;
	int			n = ak_events_take(MyDatabaseId, all, &taken);

	if (ak_nbacklog + n > ak_backlog_size)
	{
		int			size = Max(ak_nbacklog + n, 2 * ak_backlog_size);

		ak_backlog = ak_backlog == NULL ?
			MemoryContextAlloc(TopMemoryContext, Max(size, 1) * sizeof(AkEvent)) :
			repalloc(ak_backlog, size * sizeof(AkEvent));
		ak_backlog_size = size;
	}
	if (n > 0)					/* memcpy() takes no null pointer, even for 0 bytes */
		memcpy(ak_backlog + ak_nbacklog, taken, n * sizeof(AkEvent));
	ak_nbacklog += n;
	pfree(taken);
	return ak_nbacklog;
}

static int
ak_event_cmp(const void *a, const void *b)
{
	const AkEvent *x = a;
	const AkEvent *y = b;

	return x->at < y->at ? -1 : x->at > y->at;
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
		escape_json(&buf, ak_code_name((AkCode) e->code));
		if (e->display[0] != '\0')
		{
			appendStringInfoString(&buf, ", \"prefix\": ");
			escape_json(&buf, e->display);
		}
		appendStringInfo(&buf, ", \"count\": " INT64_FORMAT, e->count);
		if (e->count > 1)
			appendStringInfo(&buf, ", \"last_at\": \"%s\"", timestamptz_to_str(e->last_at));
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

/* The columns of the statement, $1 to $10. */
enum
{
	E_AT, E_ACTION, E_KEY_ID, E_ROLE, E_CLIENT_IP, E_METHOD, E_PATH, E_STATUS, E_DETAIL,
	E_SESSION_ROLE
};

static const Oid ak_event_columns[] = {
	[E_AT] = TIMESTAMPTZOID,
	[E_ACTION] = TEXTOID,
	[E_KEY_ID] = UUIDOID,
	[E_ROLE] = OIDOID,
	[E_CLIENT_IP] = INETOID,
	[E_METHOD] = TEXTOID,
	[E_PATH] = TEXTOID,
	[E_STATUS] = INT4OID,
	[E_DETAIL] = JSONBOID,
	[E_SESSION_ROLE] = OIDOID,
};

static void
ak_event_row(AkColumns *c, int i, const AkEvent *e)
{
	bool		denied = e->kind == AK_EVENT_DENIED;

	ak_column_set(c, E_AT, i, TimestampTzGetDatum(e->at));
	ak_column_set(c, E_ACTION, i, CStringGetTextDatum(denied ? "denied" : "quota_alert"));
	if (e->has_key)
		ak_column_set(c, E_KEY_ID, i, UUIDPGetDatum(&e->key_id));
	ak_column_set(c, E_ROLE, i, ObjectIdGetDatum(denied ? e->role : InvalidOid));
	ak_column_set(c, E_SESSION_ROLE, i,
				  ObjectIdGetDatum(denied ? e->session_role : InvalidOid));
	if (e->has_ip)
		ak_column_set(c, E_CLIENT_IP, i, ak_event_ip(e));
	if (e->method[0] != '\0')
		ak_column_set(c, E_METHOD, i, CStringGetTextDatum(e->method));
	if (e->path[0] != '\0')
		ak_column_set(c, E_PATH, i, CStringGetTextDatum(e->path));
	if (denied)
		ak_column_set(c, E_STATUS, i, Int32GetDatum(e->status));
	ak_column_set(c, E_DETAIL, i,
				  DirectFunctionCall1(jsonb_in, CStringGetDatum(ak_event_detail(e))));
}

/*
 * Writes the backlog to audit_log in the caller's transaction, the denied
 * events with the role that asked and its session's role as actor, and
 * sends NOTIFY apikey_quota for each quota alert (delivered when the
 * transaction commits): {"audit_id", "period", "percent"}, nothing a
 * listener of another owner could use.
 */
void
ak_write_events(void *arg)
{
	static const char *sql =
		"WITH e AS ("
		"  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::uuid[],"
		"                       $4::oid[], $5::inet[], $6::text[], $7::text[],"
		"                       $8::int4[], $9::jsonb[], $10::oid[]) WITH ORDINALITY"
		"    AS e(at, action, key_id, role, client_ip, method, path, status, detail,"
		"         session_role, n)),"
		" ins AS ("
		"  INSERT INTO apikey.audit_log (at, action, key_id, owner, actor, client_ip,"
		"                                request_method, request_path, status, detail,"
		"                                session_role)"
		"  SELECT e.at, e.action, e.key_id, k.owner,"
		"         CASE WHEN e.role OPERATOR(pg_catalog.=) 0 THEN 'apikey worker'"
		"              ELSE pg_catalog.pg_get_userbyid(e.role)::text END,"
		"         e.client_ip, e.method, e.path, e.status, e.detail,"
		"         CASE WHEN e.session_role OPERATOR(pg_catalog.<>) 0"
		"              THEN pg_catalog.pg_get_userbyid(e.session_role)::text END"
		"    FROM e LEFT JOIN apikey.keys AS k ON k.id OPERATOR(pg_catalog.=) e.key_id"
		"   ORDER BY e.n"
		"  RETURNING id, action, detail)"
		" SELECT pg_catalog.pg_notify('apikey_quota',"
		"          pg_catalog.jsonb_build_object('audit_id', id,"
		"            'period', detail OPERATOR(pg_catalog.->) 'period',"
		"            'percent', detail OPERATOR(pg_catalog.->) 'percent')::text)"
		"   FROM ins WHERE action OPERATOR(pg_catalog.=) 'quota_alert'";
	AkColumns	c;
	AkParams	p = {0};

	if (ak_nbacklog == 0)
		return;
	/* in the order they happened: the shared table has none */
	qsort(ak_backlog, ak_nbacklog, sizeof(AkEvent), ak_event_cmp);
	ak_columns_init(&c, ak_event_columns, lengthof(ak_event_columns), ak_nbacklog, true);
	for (int i = 0; i < ak_nbacklog; i++)
		ak_event_row(&c, i, &ak_backlog[i]);
	ak_columns_params(&c, &p);
	(void) ak_spi_exec(sql, &p, SPI_OK_SELECT);
}
