/*-------------------------------------------------------------------------
 *
 * subject.c
 *	  Subjects of shared-memory entries: a key is its id; a client address
 *	  and a name (a display prefix, a throttle() name) are mapped to the
 *	  same 16 bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "core/subject.h"
#include "utils/builtins.h"

/*
 * An IP address from untrusted text (a header), or NULL if it is not one.
 * inet_in would raise an error; this never does.
 */
inet *
ak_parse_inet(const char *s, size_t len)
{
	char		buf[64];
	unsigned char addr[16];

	while (len > 0 && isspace((unsigned char) *s))
		s++, len--;
	while (len > 0 && isspace((unsigned char) s[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return NULL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (pg_inet_net_pton(PGSQL_AF_INET, buf, addr, sizeof(addr)) < 0 &&
		pg_inet_net_pton(PGSQL_AF_INET6, buf, addr, sizeof(addr)) < 0)
		return NULL;
	return DatumGetInetPP(DirectFunctionCall1(inet_in, CStringGetDatum(buf)));
}

/*
 * The subject of a client address: IPv4 as IPv4-mapped IPv6, IPv6 by its
 * /64, which is what one client is usually given.
 */
void
ak_ip_subject_id(const inet *ip, uint8 *id)
{
	memset(id, 0, AK_SUBJECT_ID_LEN);
	if (ip_family(ip) == PGSQL_AF_INET)
	{
		id[10] = id[11] = 0xff;
		memcpy(id + 12, ip_addr(ip), 4);
	}
	else
		memcpy(id, ip_addr(ip), 8);
}

/* The subject of a name: BLAKE2b-128 of it. */
void
ak_name_subject_id(const char *name, size_t len, uint8 *id)
{
	crypto_generichash(id, AK_SUBJECT_ID_LEN, (const unsigned char *) name, len,
					   NULL, 0);
}

/*
 * The subject of a throttle() name in its namespace: a database and a role
 * (InvalidOid for a name shared by every role of the database).
 */
void
ak_named_subject_id(Oid dboid, Oid roleid, const char *name, size_t len,
					uint8 *id)
{
	crypto_generichash_state state;

	crypto_generichash_init(&state, NULL, 0, AK_SUBJECT_ID_LEN);
	crypto_generichash_update(&state, (const unsigned char *) &dboid, sizeof(dboid));
	crypto_generichash_update(&state, (const unsigned char *) &roleid, sizeof(roleid));
	crypto_generichash_update(&state, (const unsigned char *) name, len);
	crypto_generichash_final(&state, id, AK_SUBJECT_ID_LEN);
}
