/*-------------------------------------------------------------------------
 *
 * scopemap.h
 *	  The scope a PostgREST request needs, from apikey.scope_map
 *	  (scopemap.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SCOPEMAP_H
#define AK_SCOPEMAP_H

extern text *ak_scope_for_request(const char *method, const char *path);
extern text *ak_route_for_request(const char *method, const char *path,
								  bool *require_signature);
extern void ak_scope_map_changed(Oid relid);

#endif							/* AK_SCOPEMAP_H */
