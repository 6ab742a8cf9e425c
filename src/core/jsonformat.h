/* JSON Schema `format` assertions (draft 7, 2019-09, 2020-12), for the
 * schema validator when formats assert.
 *
 *   date-time, date, time   RFC 3339 section 5.6: four-digit year, real
 *                           calendar days, 'T'/'Z' in either case, an offset
 *                           is required; second 60 only where the time,
 *                           shifted by its offset to UTC, is 23:59 (the
 *                           calendar of actual leap seconds is not checked).
 *   duration                RFC 3339 appendix A (as JSON Schema 2019-09+
 *                           cites it): PnW alone, or Y/M/D then T H/M/S with
 *                           no gaps ("P1Y2D" is invalid); integers only.
 *   email, idn-email        RFC 5321 Mailbox / RFC 6531: dot-atom or quoted
 *                           local part of at most 64 octets, then a hostname
 *                           or an [IPv4] / [IPv6:...] address literal; the
 *                           idn form allows any non-ASCII in the local part
 *                           and U-labels in the domain.
 *   hostname                RFC 1123 letters, digits, hyphens; labels of
 *                           1-63 and names of at most 253 octets; an "xn--"
 *                           label must be a valid A-label (as below).
 *   idn-hostname            labels split at '.', U+3002, U+FF0E, U+FF61;
 *                           U-labels and A-labels checked with the IDNA2008
 *                           rules of RFC 5891/5892/5893 listed below, length
 *                           limits applied to the A-label (Punycode) form.
 *   ipv4                    dotted quad, no leading zeros.
 *   ipv6                    RFC 4291 text form, embedded IPv4 allowed, zone
 *                           ids and prefixes rejected.
 *   uri, uri-reference      RFC 3986 grammar (structure only: a reg-name
 *                           host is not checked as a hostname).
 *   iri, iri-reference      RFC 3987: the above plus ucschar (and iprivate
 *                           in the query).
 *   uri-template            RFC 6570 level 4 syntax (with erratum 6937:
 *                           an apostrophe is a literal); the reserved
 *                           operators "=,!@|" are rejected.
 *   uuid                    RFC 4122 8-4-4-4-12 hex, any version/variant.
 *   regex                   ECMA-262 syntax: kl_regex_compile (jsregex.h)
 *                           must accept it, and groups starting "(?" must be
 *                           ECMA ones (no (?i), (?#...), (?P<n>...)).
 *   json-pointer            RFC 6901; relative-json-pointer: the draft cited
 *                           by these dialects (no index manipulation).
 *
 * IDNA2008 as checked: Punycode decodes and re-encodes to the same label;
 * no "--" in positions 3-4, no leading/trailing hyphen, no leading combining
 * mark; each code point's derived property (RFC 5892) as in the IANA tables
 * for Unicode 15.1 (unitab.h's classes plus a correction table; characters
 * added in Unicode 16 pass when they are letters, marks or digits); the
 * CONTEXTJ rules (virama; joining types of ArabicShaping.txt, with
 * "transparent" taken as "a mark") and all CONTEXTO rules; the Bidi rule of
 * RFC 5893 on every label when some label is right to left.
 * Not checked: that U-labels are in NFC; exact Bidi classes, which are
 * approximated by block (right-to-left blocks R, marks NSM, '0'-'9' and
 * U+06F0-06F9 EN, Arabic-Indic digits AN, the rest L). ASCII upper case is
 * accepted in labels, as DNS names compare case-insensitively. */
#ifndef KEEL_JSONFORMAT_H
#define KEEL_JSONFORMAT_H

#include <stddef.h>

/* 1 valid, 0 invalid, -1 format name not known. s is valid UTF-8 (n bytes). */
int kl_format_check(const char *name, size_t name_len, const char *s, size_t n);

#endif
