/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  What the management functions accept (validate.c).  Each check
 *	  raises 22023 (or 42501) before anything is written.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_VALIDATE_H
#define AK_VALIDATE_H

#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/jsonb.h"

/* the tier a caller who is not an admin may issue keys in */
#define AK_SELF_SERVICE_TIER	"free"

pg_noreturn extern void ak_bad_value(const char *what, const char *problem);
pg_noreturn extern void ak_bad_value_detail(const char *what, const char *problem,
											const char *detail);
extern void ak_validate_required(text *t, const char *what, const char *detail);
extern void ak_validate_text(text *t, const char *what, bool required);
extern void ak_validate_scopes(ArrayType *scopes);
extern void ak_validate_allowed_ips(ArrayType *ips);
extern void ak_validate_metadata(Jsonb *metadata);
extern void ak_validate_owner_key_count(text *owner, int64 adding);
extern void ak_validate_expires_at(TimestampTz expires_at);
extern void ak_validate_rate_limits(Jsonb *limits);
extern void ak_validate_prefix(text *prefix);
extern void ak_validate_tier(text *tier);
extern void ak_validate_jwt_role(text *role);
extern TimestampTz ak_grace_end(const Interval *grace);
extern void ak_require_admin_for(const char *setting);

#endif							/* AK_VALIDATE_H */
