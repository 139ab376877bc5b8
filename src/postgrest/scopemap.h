/*-------------------------------------------------------------------------
 *
 * scopemap.h
 *	  The scope a request needs, and whether it needs a key at all, from
 *	  apikey.scope_map (scopemap.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SCOPEMAP_H
#define AK_SCOPEMAP_H

/* What a request needs, from its matching rule. */
typedef struct AkEndpointRule
{
	text	   *scope;			/* NULL: no scope */
	bool		public;			/* no key needed */
	bool		require_signature;	/* signed with the key's secret */
} AkEndpointRule;

extern void ak_endpoint_rule(const char *method, const char *path,
							 AkEndpointRule *rule);
extern void ak_scope_map_changed(Oid relid);

#endif							/* AK_SCOPEMAP_H */
