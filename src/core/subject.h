/*-------------------------------------------------------------------------
 *
 * subject.h
 *	  Subjects: what a shared-memory entry counts for -- a key id, a client
 *	  address, or a name -- as AK_SUBJECT_ID_LEN bytes (subject.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SUBJECT_H
#define AK_SUBJECT_H

#include <sys/socket.h>			/* AF_INET, for utils/inet.h */

#include "fmgr.h"
#include "utils/inet.h"

#define AK_SUBJECT_ID_LEN	16	/* a uuid's size */

extern inet *ak_parse_inet(const char *s, size_t len);
extern void ak_inet_unmap(inet *ip);
extern inet *ak_inet_arg(FunctionCallInfo fcinfo, int argno);
extern inet *ak_inet_arg_inet(FunctionCallInfo fcinfo, int argno);
extern void ak_ip_subject_id(const inet *ip, uint8 *id);
extern void ak_name_subject_id(const char *name, size_t len, uint8 *id);
extern void ak_named_subject_id(Oid dboid, Oid roleid, const char *name,
								size_t len, uint8 *id);

/*
 * The subject of a key's uses counter (max_uses): its id with the version
 * nibble set to 0xF, which no random (version 4) uuid has, so that it is
 * neither a key's nor an owner's.
 */
static inline void
ak_uses_subject(const void *key_id, void *subject)
{
	memcpy(subject, key_id, AK_SUBJECT_ID_LEN);
	((uint8 *) subject)[6] |= 0xF0;
}

#endif							/* AK_SUBJECT_H */
