/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  The append-only audit log (audit.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_AUDIT_H
#define AK_AUDIT_H

#include "utils/uuid.h"

extern void ak_audit(const char *action, const pg_uuid_t *key_id, text *owner,
					 const char *detail);
extern void ak_audit_rows(const char *action, int n, const pg_uuid_t *key_ids,
						  text *const *owners, char *const *details);
extern void ak_audit_purge_begin(void);
extern void ak_audit_purge_end(void);
extern bool ak_audit_change_allowed(bool is_delete);

#endif							/* AK_AUDIT_H */
