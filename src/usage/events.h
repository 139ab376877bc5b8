/*-------------------------------------------------------------------------
 *
 * events.h
 *	  The queue of access events and quota alerts, from the backends that
 *	  see them to the worker that writes them to apikey.audit_log
 *	  (events.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_EVENTS_H
#define AK_EVENTS_H

#include "core/clock.h"
#include "core/codes.h"
#include "core/subject.h"
#include "utils/uuid.h"

#define AK_EVENT_METHOD_LEN		16
#define AK_EVENT_PATH_LEN		128
#define AK_EVENT_DISPLAY_LEN	64	/* a display prefix, and its NUL */

typedef enum AkEventKind
{
	AK_EVENT_DENIED = 1,
	AK_EVENT_QUOTA_ALERT
} AkEventKind;

typedef struct AkEvent
{
	TimestampTz at;				/* the first of the events counted */
	TimestampTz last_at;		/* and the last */
	int64		count;
	uint8		kind;			/* AkEventKind */
	uint8		code;			/* denied: AkCode */
	uint8		period;			/* quota alert: AkPeriod */
	uint8		percent;		/* quota alert: the threshold */
	bool		has_key;
	bool		has_ip;
	int16		status;			/* denied: HTTP status */
	Oid			role;			/* denied: the role that asked */
	Oid			session_role;	/* denied: its session's login role */
	Oid			dboid;
	pg_uuid_t	key_id;
	int64		used;			/* quota alert */
	int64		quota;
	inet_struct ip;
	char		method[AK_EVENT_METHOD_LEN];
	char		path[AK_EVENT_PATH_LEN];
	char		display[AK_EVENT_DISPLAY_LEN];
} AkEvent;

extern void ak_events_request(void);
extern void ak_events_attach(void);

/* producers: any backend */
extern void ak_event_denied(AkCode code, const pg_uuid_t *key_id,
							const inet *client_ip, const char *display,
							size_t display_len);
extern void ak_event_denied_as(AkCode code, int status, const pg_uuid_t *key_id,
							   const inet *client_ip, const char *display,
							   size_t display_len, const char *method,
							   const char *path);
extern void ak_event_quota_alert(const pg_uuid_t *key_id, AkPeriod period,
								 int32 period_number, int64 used, int64 quota,
								 int percent);

/* the worker of a database */
extern int	ak_events_take(Oid dboid, bool all, AkEvent **out);

#endif							/* AK_EVENTS_H */
