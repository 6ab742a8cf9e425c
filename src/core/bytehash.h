/* Hashing short byte strings (tokens, pieces), shared by the vocabulary's
 * table and the tokenizer's piece cache. */
#ifndef KEEL_BYTEHASH_H
#define KEEL_BYTEHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The first min(n, 8) bytes as a little-endian-order word, zero-padded,
 * read with at most two overlapping loads: a byte-wise copy to the stack and
 * a word read back costs a store-forwarding stall, a third of a lookup. */
static inline uint64_t kl_head8(const unsigned char *p, size_t n) {
  uint64_t w;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__ /* the shifts below assume it */
  w = 0;
  for (size_t i = 0; i < n && i < 8; i++) w |= (uint64_t)p[i] << (8 * i);
  return w;
#endif
  if (n >= 8) {
    memcpy(&w, p, 8);
    return w;
  }
  if (n >= 4) {
    uint32_t lo, hi;
    memcpy(&lo, p, 4);
    memcpy(&hi, p + n - 4, 4);
    return (uint64_t)lo | (uint64_t)hi << (8 * (n - 4));
  }
  if (n >= 2) {
    uint16_t lo, hi;
    memcpy(&lo, p, 2);
    memcpy(&hi, p + n - 2, 2);
    return (uint64_t)lo | (uint64_t)hi << (8 * (n - 2));
  }
  return n ? p[0] : 0;
}
/* Hash for short byte strings: 8-byte words, multiply-xorshift mixing. The
 * value is process-local (depends on endianness), never stored. */
static inline uint64_t kl_hash_bytes(const unsigned char *p, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  if (n) h = (h ^ kl_head8(p, n)) * 0x94d049bb133111ebull;
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ull;
  h ^= h >> 32;
  return h;
}

#endif
