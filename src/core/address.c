/*-------------------------------------------------------------------------
 *
 * address.c
 *	  A client address from untrusted text: an application's client_ip
 *	  argument, a proxy's X-Forwarded-For.  Never an error: text that is
 *	  not one address is no address.
 *
 * Accepted: an IPv4 address in dotted-quad form, an IPv6 address, either
 * with the host mask (/32, /128) that PostgreSQL's inet::text adds, with
 * white space around.  Not a network ("10.0.0.0/8": a caller could claim to
 * be a whole allowlisted network), not a port, not a zone ("fe80::1%eth0").
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what dual-stack sockets and
 * Node.js report for IPv4 clients) are IPv4: the same allowlist entries,
 * the same bucket and cooldown, the same audit rows as a.b.c.d.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <arpa/inet.h>

#include "core/address.h"

static const uint8_t ak_v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/*
 * Whether an IPv6 network of bits bits lies within ::ffff:0:0/96; if so,
 * *v4 and *v4bits are the same network as IPv4.
 */
bool
ak_address_unmap(const uint8_t *v6, int bits, uint8_t *v4, int *v4bits)
{
	if (bits < 96 || memcmp(v6, ak_v4_mapped_prefix, sizeof(ak_v4_mapped_prefix)) != 0)
		return false;
	memcpy(v4, v6 + 12, 4);
	*v4bits = bits - 96;
	return true;
}

/*
 * Removes a host mask: "/32" (then *family is AF_INET) or "/128" (AF_INET6);
 * without one, *family is 0.  False for any other mask.
 */
static bool
ak_strip_host_mask(char *buf, int *family)
{
	char	   *slash = strchr(buf, '/');

	*family = 0;
	if (slash == NULL)
		return true;
	if (strcmp(slash, "/32") == 0)
		*family = AF_INET;
	else if (strcmp(slash, "/128") == 0)
		*family = AF_INET6;
	else
		return false;
	*slash = '\0';
	return true;
}

/*
 * Parses one client address; false when s is not one.  *out is IPv4 for
 * an IPv4-mapped IPv6 address.
 */
bool
ak_address_parse(const char *s, size_t len, AkAddress *out)
{
	char		buf[AK_ADDRESS_MAX_TEXT];
	int			family;
	int			v4bits;

	while (len > 0 && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!ak_strip_host_mask(buf, &family))
		return false;

	memset(out, 0, sizeof(*out));
	if (family != AF_INET6 && inet_pton(AF_INET, buf, out->bytes) == 1)
		return true;
	if (family == AF_INET || inet_pton(AF_INET6, buf, out->bytes) != 1)
		return false;
	out->ipv6 = true;
	if (ak_address_unmap(out->bytes, 128, out->bytes, &v4bits))
	{
		out->ipv6 = false;
		memset(out->bytes + 4, 0, 12);
	}
	return true;
}
