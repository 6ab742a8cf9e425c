/* SHA-256 as specified in FIPS 180-4, section 6.2. */
#include "sha256.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KL_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void block(uint32_t h[8], const unsigned char *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           (uint32_t)p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

#ifdef KL_SHA_NI
/* The x86 SHA extensions (Intel's reference sequence): ~5x the portable
 * code, which matters because every vocabulary load hashes 1-4 MB. */
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_ni(uint32_t h[8],
                                                                   const unsigned char *p,
                                                                   size_t nb) {
  const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);
  __m128i s1 = _mm_loadu_si128((const __m128i *)&h[4]);
  tmp = _mm_shuffle_epi32(tmp, 0xB1);          /* CDAB */
  s1 = _mm_shuffle_epi32(s1, 0x1B);            /* EFGH */
  __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);    /* ABEF */
  s1 = _mm_blend_epi16(s1, tmp, 0xF0);         /* CDGH */
  for (; nb; nb--, p += 64) {
    __m128i abef = s0, cdgh = s1, w[4];
    for (int i = 0; i < 16; i++) {
      __m128i m;
      if (i < 4) {
        m = w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), MASK);
      } else {
        __m128i t = _mm_alignr_epi8(w[(i - 1) & 3], w[(i - 2) & 3], 4);
        m = _mm_add_epi32(_mm_sha256msg1_epu32(w[i & 3], w[(i - 3) & 3]), t);
        m = w[i & 3] = _mm_sha256msg2_epu32(m, w[(i - 1) & 3]);
      }
      m = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&K[4 * i]));
      s1 = _mm_sha256rnds2_epu32(s1, s0, m);
      m = _mm_shuffle_epi32(m, 0x0E);
      s0 = _mm_sha256rnds2_epu32(s0, s1, m);
    }
    s0 = _mm_add_epi32(s0, abef);
    s1 = _mm_add_epi32(s1, cdgh);
  }
  tmp = _mm_shuffle_epi32(s0, 0x1B);           /* FEBA */
  s1 = _mm_shuffle_epi32(s1, 0xB1);            /* DCHG */
  s0 = _mm_blend_epi16(tmp, s1, 0xF0);         /* DCBA */
  s1 = _mm_alignr_epi8(s1, tmp, 8);            /* ABEF */
  _mm_storeu_si128((__m128i *)&h[0], s0);
  _mm_storeu_si128((__m128i *)&h[4], s1);
}
#endif

/* 0 unknown, 1 portable, 2 SHA-NI; 3 = portable forced by a test */
static atomic_int impl;

static int pick(void) {
  int m = atomic_load_explicit(&impl, memory_order_relaxed);
  if (m) return m;
  m = 1;
#ifdef KL_SHA_NI
  unsigned a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3) &&
      __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)))
    m = 2;
#endif
  atomic_store_explicit(&impl, m, memory_order_relaxed);
  return m;
}

int kl_sha256_accel(int enable) {
  if (!enable) atomic_store_explicit(&impl, 3, memory_order_relaxed);
  else atomic_store_explicit(&impl, 0, memory_order_relaxed);
  return pick() == 2;
}

static void blocks(uint32_t h[8], const unsigned char *p, size_t nb) {
#ifdef KL_SHA_NI
  if (pick() == 2) {
    blocks_ni(h, p, nb);
    return;
  }
#endif
  for (; nb; nb--, p += 64) block(h, p);
}

void kl_sha256_init(kl_sha256_ctx *c) {
  static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->h, H0, sizeof H0);
  c->len = 0;
  c->nblk = 0;
}

void kl_sha256_update(kl_sha256_ctx *c, const void *data, size_t n) {
  const unsigned char *p = data;
  c->len += n;
  if (c->nblk) {
    size_t take = 64 - c->nblk < n ? 64 - c->nblk : n;
    memcpy(c->blk + c->nblk, p, take);
    c->nblk += take; p += take; n -= take;
    if (c->nblk < 64) return;
    blocks(c->h, c->blk, 1);
    c->nblk = 0;
  }
  blocks(c->h, p, n / 64);
  p += n / 64 * 64;
  n %= 64;
  if (n) memcpy(c->blk, p, n);
  c->nblk = n;
}

void kl_sha256_final(kl_sha256_ctx *c, unsigned char out[32]) {
  uint64_t bits = c->len * 8;
  c->blk[c->nblk++] = 0x80;
  if (c->nblk > 56) {
    memset(c->blk + c->nblk, 0, 64 - c->nblk);
    blocks(c->h, c->blk, 1);
    c->nblk = 0;
  }
  memset(c->blk + c->nblk, 0, 56 - c->nblk);
  for (int i = 0; i < 8; i++) c->blk[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
  blocks(c->h, c->blk, 1);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (unsigned char)(c->h[i] >> 24);
    out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
    out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
    out[4 * i + 3] = (unsigned char)c->h[i];
  }
}

void kl_sha256(const void *p, size_t n, unsigned char out[32]) {
  kl_sha256_ctx c;
  kl_sha256_init(&c);
  kl_sha256_update(&c, p, n);
  kl_sha256_final(&c, out);
}

void kl_sha256_hex(const void *p, size_t n, char hex[65]) {
  static const char X[] = "0123456789abcdef";
  unsigned char d[32];
  kl_sha256(p, n, d);
  for (int i = 0; i < 32; i++) {
    hex[2 * i] = X[d[i] >> 4];
    hex[2 * i + 1] = X[d[i] & 15];
  }
  hex[64] = '\0';
}
