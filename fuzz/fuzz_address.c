/*
 * libFuzzer harness: the client address parser (src/core/address.c), fed
 * any bytes.  Checks that an accepted address is one: IPv4 has nothing
 * past its 4 bytes and is never IPv4-mapped IPv6; printed and parsed
 * again, it is the same address; an IPv4-mapped IPv6 address, or the
 * address with its host mask, parses as the same IPv4 address.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <stdint.h>

#include "core/address.h"
#include "stubs.h"

static const uint8_t zeros[16];

static void
check_round_trip(const AkAddress *a)
{
	char		text[INET6_ADDRSTRLEN + 8];
	AkAddress	again;

	FUZZ_CHECK(inet_ntop(a->ipv6 ? AF_INET6 : AF_INET, a->bytes, text, sizeof(text)) != NULL);
	FUZZ_CHECK(ak_address_parse(text, strlen(text), &again));
	FUZZ_CHECK(again.ipv6 == a->ipv6 && memcmp(again.bytes, a->bytes, 16) == 0);
	strcat(text, a->ipv6 ? "/128" : "/32");
	FUZZ_CHECK(ak_address_parse(text, strlen(text), &again));
	FUZZ_CHECK(again.ipv6 == a->ipv6 && memcmp(again.bytes, a->bytes, 16) == 0);
	if (!a->ipv6)
	{
		snprintf(text, sizeof(text), "::ffff:%u.%u.%u.%u",
				 a->bytes[0], a->bytes[1], a->bytes[2], a->bytes[3]);
		FUZZ_CHECK(ak_address_parse(text, strlen(text), &again));
		FUZZ_CHECK(!again.ipv6 && memcmp(again.bytes, a->bytes, 16) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	AkAddress	a;
	uint8_t		v4[4];
	int			bits;

	if (ak_address_parse((const char *) data, size, &a))
	{
		if (!a.ipv6)
			FUZZ_CHECK(memcmp(a.bytes + 4, zeros, 12) == 0);
		else
			FUZZ_CHECK(!ak_address_unmap(a.bytes, 128, v4, &bits));
		check_round_trip(&a);
	}
	/* any 16 bytes and mask length as a network */
	if (size >= 17)
	{
		bits = data[16] % 129;
		if (ak_address_unmap(data, bits, v4, &bits))
			FUZZ_CHECK(bits >= 0 && bits <= 32 && memcmp(v4, data + 12, 4) == 0);
	}
	fuzz_free_all();
	return 0;
}
