/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * TLS ClientHello server_name (RFC 8446 4.1.2, RFC 6066 3), read without
 * terminating TLS. Pure functions: no I/O, no allocation; every length field
 * is checked against its enclosing one and against the bytes there are.
 */
#ifndef CUTTHRU_TLS_H
#define CUTTHRU_TLS_H

#include <stddef.h>
#include <stdint.h>

#define TLS_SNI_MAX 253

/*
 * Looks at the first bytes a client sent. Returns 1 and the host name
 * (lower-cased, NUL-terminated, validated as a DNS name: labels 1-63 of
 * [a-z0-9-], not starting/ending with '-', total <= 253, no trailing dot) when
 * the ClientHello carries server_name; 0 when it is a complete ClientHello
 * without SNI; -EAGAIN when more bytes are needed; -EINVAL when it is not TLS
 * or malformed (including an invalid host name, or more than one host_name
 * entry, or more than one server_name extension); -E2BIG when the ClientHello
 * would exceed max_len bytes in total; -ENAMETOOLONG when a valid name does
 * not fit name_size (TLS_SNI_MAX + 1 always does). The ClientHello may span
 * several handshake records (record payloads of content type 22 are
 * reassembled in order; any other content type before it is complete ->
 * -EINVAL). Record version 0x0301..0x0304 major 3, record length 1..2^14;
 * handshake type 1; legacy_version 0x0301..0x0303; the last record must end
 * where the ClientHello ends. *hello_len gets the byte count of all records
 * making up the ClientHello when the return is >= 0.
 *
 * Bytes are judged in order: a prefix of any input returns either -EAGAIN or
 * what the whole input returns. name is "" unless the return is 1.
 */
int tls_client_hello_sni(const uint8_t *buf, size_t len, size_t max_len, char *name,
			 size_t name_size, size_t *hello_len);

/* 1 if name is a host name as tls_client_hello_sni returns them (lower case
 * only), else 0. */
int sni_name_valid(const char *name);

/*
 * 1 if pattern is one sni_match can match anything with: "*", a host name, or
 * "*." and a host name (letters in either case); else 0. For checking
 * configuration.
 */
int sni_pattern_valid(const char *pattern);

/*
 * Does the host name match the pattern? 1 if so, else 0. Case-insensitive.
 *   "*"             any valid host name;
 *   "example.org"   exactly that name;
 *   "*.example.org" one or more whole labels in front of ".example.org":
 *                   "a.example.org" and "a.b.example.org", never
 *                   "example.org" itself nor "aexample.org". (Broader than a
 *                   certificate wildcard, which covers exactly one label.)
 * An invalid pattern (see sni_pattern_valid) or name matches nothing.
 */
int sni_match(const char *pattern, const char *name);

#endif /* CUTTHRU_TLS_H */
