/*-------------------------------------------------------------------------
 *
 * input.c
 *	  pg_apikey: checking what the user gives before anything reaches the
 *	  server: durations, CIDRs, key references, rate limits, expiries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <arpa/inet.h>
#include <ctype.h>

#include "fe_utils/simple_list.h"
#include "pg_apikey.h"

#define MAX_DURATION	(100LL * 366 * 86400)	/* a century */

/* ---- scalars ---- */

bool
parse_duration(const char *s, long long *seconds)
{
	long long	total = 0;
	const char *p = s;

	if (*p == '\0')
		return false;
	while (*p)
	{
		long long	n = 0;
		long long	unit;

		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
		{
			n = n * 10 + (*p++ - '0');
			if (n > MAX_DURATION)
				return false;
		}
		switch (*p)
		{
			case '\0':
				/* a bare number is seconds, alone only */
				if (p != s + strspn(s, "0123456789"))
					return false;
				unit = 1;
				break;
			case 's':
				unit = 1;
				break;
			case 'm':
				unit = 60;
				break;
			case 'h':
				unit = 3600;
				break;
			case 'd':
				unit = 86400;
				break;
			case 'w':
				unit = 7 * 86400;
				break;
			default:
				return false;
		}
		if (*p)
			p++;
		total += n * unit;
		if (total > MAX_DURATION)
			return false;
	}
	*seconds = total;
	return true;
}

bool
looks_like_timestamp(const char *s)
{
	static const char shape[] = "dddd-dd-dd";

	for (int i = 0; shape[i]; i++)
	{
		if (shape[i] == 'd' ? !isdigit((unsigned char) s[i]) : s[i] != shape[i])
			return false;
	}
	return strlen(s) < 64;
}

bool
parse_int(const char *s, long long min, long long max, long long *out)
{
	long long	n = 0;

	if (*s == '\0')
		return false;
	for (const char *p = s; *p; p++)
	{
		if (!isdigit((unsigned char) *p))
			return false;
		if (n > (max - (*p - '0')) / 10)
			return false;		/* would pass max, or overflow */
		n = n * 10 + (*p - '0');
	}
	if (n < min)
		return false;
	*out = n;
	return true;
}

bool
valid_cidr(const char *s, const char **why)
{
	char		addr[64];
	const char *slash = strchr(s, '/');
	size_t		alen = slash ? (size_t) (slash - s) : strlen(s);
	int			family = memchr(s, ':', alen) ? AF_INET6 : AF_INET;
	int			maxbits = family == AF_INET6 ? 128 : 32;
	unsigned char bytes[16];
	long long	bits = maxbits;

	if (alen == 0 || alen >= sizeof(addr))
	{
		*why = "expected an IPv4 or IPv6 network such as 203.0.113.0/24 or 2001:db8::/32";
		return false;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(family, addr, bytes) != 1)
	{
		*why = "expected an IPv4 or IPv6 network such as 203.0.113.0/24 or 2001:db8::/32";
		return false;
	}
	if (slash && !parse_int(slash + 1, 0, maxbits, &bits))
	{
		*why = family == AF_INET6 ? "the prefix length must be a number from 0 to 128"
			: "the prefix length must be a number from 0 to 32";
		return false;
	}
	for (int i = 0; i < maxbits; i++)
	{
		if (i >= bits && (bytes[i / 8] & (0x80 >> (i % 8))))
		{
			*why = "it has bits set to the right of the mask (write the network address, e.g. 10.0.0.0/8)";
			return false;
		}
	}
	return true;
}

/* ---- key references ---- */

static bool
is_uuid(const char *s)
{
	size_t		n = strlen(s);

	if (n == 32)
		return strspn(s, "0123456789abcdefABCDEF") == 32;
	if (n != 36)
		return false;
	for (size_t i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!isxdigit((unsigned char) s[i]))
			return false;
	}
	return true;
}

static bool
is_base62(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isascii((unsigned char) s[i]) || !isalnum((unsigned char) s[i]))
			return false;
	return true;
}

/* [a-z][a-z0-9]{0,15} ( _ [a-z0-9]{1,16} ){0,2}, the token prefix */
static bool
is_token_prefix(const char *s, size_t n)
{
	size_t		i = 0;
	int			groups = 0;

	if (n == 0 || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (;;)
	{
		size_t		start;

		if (groups > 0)
			i++;				/* the '_' */
		start = i;
		while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			i++;
		if (i == start || i - start > 16)
			return false;
		if (i == n)
			return true;
		if (s[i] != '_' || ++groups > 2)
			return false;
	}
}

KeyRefKind
classify_key_ref(const char *s)
{
	const char *us = strrchr(s, '_');
	size_t		tail;

	if (is_uuid(s))
		return KEYREF_ID;
	if (us == NULL)
		return KEYREF_INVALID;
	tail = strlen(us + 1);
	if (!is_token_prefix(s, (size_t) (us - s)) || !is_base62(us + 1, tail))
		return KEYREF_INVALID;
	if (tail == 8)
		return KEYREF_PREFIX;
	if (tail == 38)
		return KEYREF_TOKEN;
	return KEYREF_INVALID;
}

const char *
key_ref_problem(KeyRefKind kind)
{
	if (kind == KEYREF_TOKEN)
		return "that is a whole token, not a display prefix: give the display prefix "
			"(the prefix and the first 8 characters after it) or the key id, "
			"and keep tokens off command lines";
	return "expected a key id (a UUID) or a display prefix such as ak_live_AbCd1234";
}

void
check_key_arg(const char *arg)
{
	KeyRefKind	kind = classify_key_ref(arg);

	if (kind != KEYREF_ID && kind != KEYREF_PREFIX)
		usage_error("invalid key argument: %s", key_ref_problem(kind));
}

/* ---- rate limits ---- */

bool
parse_rate_limit(const char *s, PQExpBuffer out, const char **why)
{
	const char *eq = strchr(s, '=');
	const char *slash;
	const char *colon;
	char	   *name;
	char	   *part;
	long long	limit,
				period,
				burst = -1;

	*why = "expected NAME=LIMIT/PERIOD[:BURST], e.g. minute=100/1m:20";
	if (eq == NULL || eq == s)
		return false;
	slash = strchr(eq, '/');
	if (slash == NULL)
		return false;
	colon = strchr(slash, ':');

	name = pnstrdup(s, (size_t) (eq - s));
	part = pnstrdup(eq + 1, (size_t) (slash - eq - 1));
	if (!parse_int(part, 1, 2147483647, &limit))
	{
		*why = "the LIMIT of a rate limit must be a whole number from 1 to 2147483647";
		goto bad;
	}
	pg_free(part);
	part = colon ? pnstrdup(slash + 1, (size_t) (colon - slash - 1)) : pg_strdup(slash + 1);
	if (!parse_duration(part, &period) || period <= 0)
	{
		*why = "the PERIOD of a rate limit must be a duration such as 1s, 1m, 1h or 1d";
		goto bad;
	}
	if (colon && !parse_int(colon + 1, 1, 2147483647, &burst))
	{
		*why = "the BURST of a rate limit must be a whole number from 1 to 2147483647";
		goto bad;
	}
	appendPQExpBufferStr(out, "{\"name\": ");
	json_escape(out, name);
	appendPQExpBuffer(out, ", \"limit\": %lld, \"period\": %lld", limit, period);
	if (burst > 0)
		appendPQExpBuffer(out, ", \"burst\": %lld", burst);
	appendPQExpBufferChar(out, '}');
	pg_free(name);
	pg_free(part);
	return true;

bad:
	pg_free(name);
	pg_free(part);
	return false;
}


/* ---- options of several commands ---- */

void
check_cidrs(const SimpleStringList *l, const char *option)
{
	for (SimpleStringListCell *cell = l->head; cell; cell = cell->next)
	{
		const char *why;

		if (!valid_cidr(cell->val, &why))
			usage_error("invalid CIDR \"%s\" in %s: %s", cell->val, option, why);
	}
}

void
parse_expires(const char *s, const char *option, char **interval, const char **timestamp)
{
	long long	secs;

	*interval = NULL;
	*timestamp = NULL;
	if (parse_duration(s, &secs))
		*interval = psprintf("%lld seconds", secs);
	else if (looks_like_timestamp(s))
		*timestamp = s;
	else
		usage_error("invalid %s \"%s\": expected a duration (30d, 12h, 1w) "
					"or a timestamp (2030-01-31, 2030-01-31T12:00:00Z)", option, s);
}
