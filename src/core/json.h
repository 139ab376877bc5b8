/*-------------------------------------------------------------------------
 *
 * json.h
 *	  Small JSON needs: one field of a request setting, one integer of a
 *	  jsonb value, and a JSON object built for an audit row (json.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_JSON_H
#define AK_JSON_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

extern char *ak_json_get_string(const char *json, const char *field);
extern bool ak_jsonb_integer(const JsonbValue *v, int64 min, int64 max,
							 int64 *out);

/* A JSON object built member by member; zero-initialize it. */
typedef struct AkJsonObject
{
	StringInfoData buf;
} AkJsonObject;

extern void ak_json_add_string(AkJsonObject *j, const char *key, const char *value);
extern void ak_json_add_raw(AkJsonObject *j, const char *key, const char *json);
extern char *ak_json_finish(AkJsonObject *j);

#endif							/* AK_JSON_H */
