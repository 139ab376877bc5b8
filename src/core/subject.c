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

#include "access/detoast.h"
#include "core/address.h"
#include "core/subject.h"
#include "fmgr.h"

static inet *
ak_inet_from_address(const AkAddress *a)
{
	inet	   *ip = palloc0(sizeof(inet));
	int			n = a->ipv6 ? 16 : 4;

	ip_family(ip) = a->ipv6 ? PGSQL_AF_INET6 : PGSQL_AF_INET;
	ip_bits(ip) = n * 8;
	memcpy(ip_addr(ip), a->bytes, n);
	SET_INET_VARSIZE(ip);
	return ip;
}

/*
 * A client address from untrusted text (an argument, a header), or NULL if
 * it is not one (core/address.c).  inet_in would raise an error, and take
 * a network for an address; this never does either.
 */
inet *
ak_parse_inet(const char *s, size_t len)
{
	AkAddress	a;

	if (len > AK_ADDRESS_MAX_TEXT || !ak_address_parse(s, len, &a))
		return NULL;
	return ak_inet_from_address(&a);
}

/*
 * A client_ip argument (text): the address, or NULL when the argument is
 * NULL or not one address -- then the request has no known address (no
 * address bucket or cooldown; IP_NOT_ALLOWED for a key with an allowlist).
 * A longer text is not even detoasted.
 */
inet *
ak_inet_arg(FunctionCallInfo fcinfo, int argno)
{
	Datum		d;
	text	   *t;

	if (PG_ARGISNULL(argno))
		return NULL;
	d = PG_GETARG_DATUM(argno);
	if (toast_raw_datum_size(d) - VARHDRSZ > AK_ADDRESS_MAX_TEXT)
		return NULL;
	t = DatumGetTextPP(d);
	return ak_parse_inet(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * A client_ip argument of type inet (the SQL declarations of 0.1.0, until
 * ALTER EXTENSION UPDATE): the address, IPv4-mapped IPv6 as IPv4, or NULL
 * -- for a network too, as for text.
 */
inet *
ak_inet_arg_inet(FunctionCallInfo fcinfo, int argno)
{
	inet	   *ip;

	if (PG_ARGISNULL(argno))
		return NULL;
	ip = (inet *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(argno));
	ak_inet_unmap(ip);
	if (ip_bits(ip) != (ip_family(ip) == PGSQL_AF_INET ? 32 : 128))
		return NULL;
	return ip;
}

/*
 * Makes an IPv4-mapped IPv6 address or network (::ffff:0:0/96 and within)
 * the same IPv4 one, in place: an allowlist entry ::ffff:10.0.0.0/104 is
 * 10.0.0.0/8.
 */
void
ak_inet_unmap(inet *ip)
{
	uint8		v4[4];
	int			bits;

	if (ip_family(ip) != PGSQL_AF_INET6 ||
		!ak_address_unmap(ip_addr(ip), ip_bits(ip), v4, &bits))
		return;
	ip_family(ip) = PGSQL_AF_INET;
	ip_bits(ip) = bits;
	memset(ip_addr(ip), 0, 16);
	memcpy(ip_addr(ip), v4, 4);
	SET_INET_VARSIZE(ip);
}

/*
 * The subject of a client address: IPv4 as IPv4-mapped IPv6, IPv6 by its
 * /64, which is what one client is usually given.  An IPv4-mapped IPv6
 * address is its IPv4 address, not one /64 shared by every IPv4 client.
 */
void
ak_ip_subject_id(const inet *ip, uint8 *id)
{
	uint8		v4[4];
	int			bits;

	memset(id, 0, AK_SUBJECT_ID_LEN);
	if (ip_family(ip) == PGSQL_AF_INET)
		memcpy(v4, ip_addr(ip), 4);
	else if (!ak_address_unmap(ip_addr(ip), 128, v4, &bits))
	{
		memcpy(id, ip_addr(ip), 8);
		return;
	}
	id[10] = id[11] = 0xff;
	memcpy(id + 12, v4, 4);
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
