/* SHA-256 (FIPS 180-4), small and portable; used to check vocabulary files
 * against the hashes tiktoken pins before trusting them. */
#ifndef KEEL_SHA256_H
#define KEEL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t h[8];
  uint64_t len;          /* bytes hashed so far */
  unsigned char blk[64];
  size_t nblk;           /* bytes pending in blk */
} kl_sha256_ctx;

void kl_sha256_init(kl_sha256_ctx *c);
void kl_sha256_update(kl_sha256_ctx *c, const void *p, size_t n);
void kl_sha256_final(kl_sha256_ctx *c, unsigned char out[32]);
/* One shot; hex is 64 lowercase hex digits plus a NUL. */
void kl_sha256(const void *p, size_t n, unsigned char out[32]);
void kl_sha256_hex(const void *p, size_t n, char hex[65]);
/* The x86-64 SHA extensions are used when the CPU has them. For tests:
 * kl_sha256_accel(0) forces the portable code, kl_sha256_accel(1) restores
 * detection; returns 1 when the accelerated code is now in use. */
int kl_sha256_accel(int enable);

#endif
