/* URI references (RFC 3986): split and resolve against a base, for the
 * schema validator's $id and $ref. No normalisation beyond dot-segment
 * removal: JSON Schema compares identifiers as strings after resolution. */
#ifndef KEEL_URI_H
#define KEEL_URI_H

#include <stddef.h>

/* Resolves ref against base (RFC 3986 section 5.2.2, strict: a scheme in
 * ref makes it absolute). Returns a malloc'd NUL-terminated string, NULL
 * when memory ran out. A base without a scheme is treated as a path. */
char *kl_uri_resolve(const char *base, const char *ref);
/* Offset of the '#' in s (its length when there is none). */
size_t kl_uri_frag(const char *s);
/* Percent-decodes s[0..n) into out (room for n + 1 bytes); returns the
 * decoded length, or (size_t)-1 for a malformed escape. */
size_t kl_uri_unescape(const char *s, size_t n, char *out);

#endif
