/* SHA-1, only to name files the way tiktoken names its download cache
 * (sha1 of the URL); never used for integrity (that is sha256.h). */
#ifndef KEEL_SHA1_H
#define KEEL_SHA1_H

#include <stddef.h>

/* hex: 40 lowercase hex digits plus a NUL. */
void kl_sha1_hex(const void *p, size_t n, char hex[41]);

#endif
