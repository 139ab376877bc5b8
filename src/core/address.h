/*-------------------------------------------------------------------------
 *
 * address.h
 *	  Client addresses from untrusted text (address.c): pure functions,
 *	  with no allocation and no error, so that a fuzzer can drive them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_ADDRESS_H
#define AK_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* longest address text read: an IPv6 address with an IPv4 tail and /128 */
#define AK_ADDRESS_MAX_TEXT	64

typedef struct AkAddress
{
	bool		ipv6;			/* false: IPv4, in bytes[0..3] */
	uint8_t		bytes[16];
} AkAddress;

extern bool ak_address_parse(const char *s, size_t len, AkAddress *out);
extern bool ak_address_unmap(const uint8_t *v6, int bits, uint8_t *v4,
							 int *v4bits);

#endif							/* AK_ADDRESS_H */
