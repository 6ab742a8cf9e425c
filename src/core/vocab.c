/* Loading a .tiktoken vocabulary; see vocab.h for format and layout. */
#include "vocab.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytehash.h"
#include "sha256.h"

typedef struct {
  uint32_t off, len;
} tok_ref;

/* A hash slot holds what settles most lookups without touching the arena:
 * 24 hash bits and the length (capped at 255) in tag, and the first 8
 * bytes of the token, so a token of <= 8 bytes (most pieces) is matched by
 * one 16-byte read. */
typedef struct {
  uint32_t tag, rank1; /* rank + 1; 0 = empty slot */
  uint64_t head;       /* first min(len, 8) bytes, zero-padded */
} vslot;

static inline uint32_t tag_of(uint64_t h, size_t n) {
  return (uint32_t)((h >> 32) & ~(uint64_t)0xff) | (uint32_t)(n < 255 ? n : 255);
}

struct kl_vocab {
  unsigned char *arena; /* token bytes, file order */
  size_t arena_len;
  tok_ref *by_rank;     /* [rank_end]; len 0 = gap */
  uint32_t rank_end, size;
  vslot *slots;         /* rank1 == 0: empty */
  uint64_t mask;
  int32_t byte[256];
  uint32_t pair[65536]; /* rank of 2-byte tokens, UINT32_MAX if none */
  int complete;
  uint64_t id;          /* unique per loaded vocabulary, never reused */
  void *region;         /* one mapping holding slots, by_rank and arena */
  size_t region_len;
};

/* The tables live in one anonymous mapping advised for transparent huge
 * pages: loading touches ~10 MB at random, and on a VM 4 KiB page faults
 * were a third of the load time. Untouched pages cost no RSS. */
#define HUGE_SZ ((size_t)2 << 20)
static void *region_alloc(size_t len, void **base, size_t *blen) {
  size_t want = (len + HUGE_SZ - 1) / HUGE_SZ * HUGE_SZ + HUGE_SZ;
  unsigned char *m = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return NULL;
  unsigned char *a = (unsigned char *)(((uintptr_t)m + HUGE_SZ - 1) & ~(uintptr_t)(HUGE_SZ - 1));
#ifdef MADV_HUGEPAGE
  madvise(a, len, MADV_HUGEPAGE);
#endif
  *base = m;
  *blen = want;
  return a;
}

int32_t kl_vocab_rank(const kl_vocab *v, const unsigned char *b, size_t n) {
  if (n == 1) return v->byte[b[0]];
  if (n == 2) return (int32_t)v->pair[b[0] << 8 | b[1]];
  if (n == 0 || n > UINT32_MAX) return -1;
  uint64_t h = kl_hash_bytes(b, n), head = kl_head8(b, n);
  uint32_t tag = tag_of(h, n);
  for (uint64_t i = h & v->mask;; i = (i + 1) & v->mask) {
    const vslot *s = &v->slots[i];
    if (!s->rank1) return -1;
    if (s->tag != tag || s->head != head) continue;
    uint32_t r = s->rank1 - 1;
    if (n <= 8) return (int32_t)r; /* same length, same bytes */
    const tok_ref *t = &v->by_rank[r];
    if (t->len == n && memcmp(v->arena + t->off + 8, b + 8, n - 8) == 0) return (int32_t)r;
  }
}

int32_t kl_vocab_byte_rank(const kl_vocab *v, unsigned char c) { return v->byte[c]; }

uint32_t kl_vocab_pair_rank(const kl_vocab *v, unsigned char a, unsigned char b) {
  return v->pair[a << 8 | b];
}

const unsigned char *kl_vocab_bytes(const kl_vocab *v, uint32_t rank, size_t *n) {
  if (rank >= v->rank_end || v->by_rank[rank].len == 0) {
    if (n) *n = 0;
    return NULL;
  }
  if (n) *n = v->by_rank[rank].len;
  return v->arena + v->by_rank[rank].off;
}

uint32_t kl_vocab_size(const kl_vocab *v) { return v->size; }
uint64_t kl_vocab_id(const kl_vocab *v) { return v->id; }
uint32_t kl_vocab_rank_end(const kl_vocab *v) { return v->rank_end; }
int kl_vocab_complete(const kl_vocab *v) { return v->complete; }

size_t kl_vocab_memsize(const kl_vocab *v) {
  return sizeof *v + v->region_len;
}

void kl_vocab_free(kl_vocab *v) {
  if (!v) return;
  if (v->region) munmap(v->region, v->region_len);
  free(v);
}

static void seterr(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* base64 value of each byte; 64 for '=', 255 when invalid. */
static const unsigned char B64[256] = {
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255, 255,  63,
   52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255,  64, 255, 255,
  255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
   15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255, 255,
  255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
   41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};
#define b64v(c) ((unsigned)B64[(unsigned char)(c)])

/* Decodes standard padded base64 [p, p+n) into out; returns length or -1. */
static long b64_decode(const unsigned char *p, size_t n, unsigned char *out) {
  if (n == 0 || n % 4) return -1;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    unsigned a = b64v(p[i]), b = b64v(p[i + 1]), c = b64v(p[i + 2]), d = b64v(p[i + 3]);
    if (a > 63 || b > 63 || c == 255 || d == 255) return -1;
    if (c == 64 || d == 64) {
      if (i + 4 != n) return -1;                 /* padding only at the end */
      if (c == 64 && d != 64) return -1;         /* "x=y" */
      if (c == 64) {
        if (b & 15) return -1;                   /* non-canonical bits */
        out[o++] = (unsigned char)(a << 2 | b >> 4);
      } else {
        if (c & 3) return -1;
        out[o++] = (unsigned char)(a << 2 | b >> 4);
        out[o++] = (unsigned char)(b << 4 | c >> 2);
      }
    } else {
      out[o++] = (unsigned char)(a << 2 | b >> 4);
      out[o++] = (unsigned char)(b << 4 | c >> 2);
      out[o++] = (unsigned char)(c << 6 | d);
    }
  }
  return (long)o;
}

/* Inserts token RANK (hash H) into the table; -1 (with the clashing rank in
 * *other) when the same bytes are already there. */
static int insert(kl_vocab *v, uint64_t h, uint32_t rank, uint32_t *other) {
  const tok_ref *e = &v->by_rank[rank];
  const unsigned char *b = v->arena + e->off;
  uint64_t j = h & v->mask, head = kl_head8(b, e->len);
  uint32_t tag = tag_of(h, e->len);
  for (; v->slots[j].rank1; j = (j + 1) & v->mask) {
    const vslot *s = &v->slots[j];
    if (s->tag != tag || s->head != head) continue;
    const tok_ref *t = &v->by_rank[s->rank1 - 1];
    if (t->len == e->len && memcmp(v->arena + t->off, b, e->len) == 0) {
      *other = s->rank1 - 1;
      return -1;
    }
  }
  v->slots[j] = (vslot){ tag, rank + 1, head };
  return 0;
}

/* Hash-table inserts are random accesses into a table of several MB; they
 * are queued for PENDING lines after the slot is prefetched, which hides
 * most of the cache-miss latency. */
#define PENDING 16

kl_vocab *kl_vocab_parse(const char *data, size_t n, char *err, size_t errlen) {
  const unsigned char *s = (const unsigned char *)data, *end = s + n;
  kl_vocab *v = NULL;
  size_t lines = 0;
  if (n > (size_t)UINT32_MAX) {
    seterr(err, errlen, "0: file too large");
    return NULL;
  }
  /* Count lines to size everything once. */
  for (const unsigned char *p = s; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) lines++;
  if (n && s[n - 1] != '\n') lines++;
  if (lines == 0) {
    seterr(err, errlen, "1: empty vocabulary");
    return NULL;
  }
  v = calloc(1, sizeof *v);
  if (!v) goto oom;
  /* Decoded tokens are at most 3/4 of the base64 text. The rank table is
   * sized for the largest rank allowed; calloc'd pages never touched (beyond
   * the largest rank) cost no RSS. */
  size_t rcap = 2 * lines + 1024;
  size_t cap = 16;
  while (cap < 2 * lines) cap <<= 1;
  size_t slots_len = cap * sizeof *v->slots, rank_len = rcap * sizeof *v->by_rank;
  unsigned char *mem = region_alloc(slots_len + rank_len + n / 4 * 3 + 4, &v->region,
                                    &v->region_len);
  if (!mem) goto oom;
  v->slots = (vslot *)mem;
  v->by_rank = (tok_ref *)(mem + slots_len);
  v->arena = mem + slots_len + rank_len;
  v->mask = cap - 1;
  for (int i = 0; i < 256; i++) v->byte[i] = -1;
  memset(v->pair, 0xff, sizeof v->pair);

  struct { uint64_t h; uint32_t rank; size_t line; } q[PENDING];
  size_t line = 0, ao = 0, nq = 0, ne = 0;
  uint32_t maxr = 0, other;
  for (const unsigned char *p = s; p < end;) {
    line++;
    const unsigned char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    const unsigned char *le = eol;
    if (le > p && le[-1] == '\r') le--;
    const unsigned char *sp = memchr(p, ' ', (size_t)(le - p));
    if (!sp) {
      seterr(err, errlen, "%zu: expected \"BASE64 RANK\"", line);
      goto fail;
    }
    long tl = b64_decode(p, (size_t)(sp - p), v->arena + ao);
    if (tl <= 0) {
      seterr(err, errlen, "%zu: bad base64 token", line);
      goto fail;
    }
    const unsigned char *d = sp + 1;
    if (d == le) {
      seterr(err, errlen, "%zu: missing rank", line);
      goto fail;
    }
    uint64_t r = 0;
    for (; d < le; d++) {
      if (*d < '0' || *d > '9' || r > 0xffffffffull) {
        seterr(err, errlen, "%zu: bad rank", line);
        goto fail;
      }
      r = r * 10 + (uint64_t)(*d - '0');
    }
    if (r >= rcap) {
      seterr(err, errlen, "%zu: rank %llu out of range for %zu lines", line, (unsigned long long)r,
             lines);
      goto fail;
    }
    tok_ref *t = &v->by_rank[r];
    if (t->len) {
      seterr(err, errlen, "%zu: duplicate rank %llu", line, (unsigned long long)r);
      goto fail;
    }
    t->off = (uint32_t)ao;
    t->len = (uint32_t)tl;
    const unsigned char *b = v->arena + ao;
    ao += (size_t)tl;
    ne++;
    if (r > maxr) maxr = (uint32_t)r;
    if (tl == 1) {
      if (v->byte[b[0]] >= 0) {
        seterr(err, errlen, "%zu: duplicate token (also rank %d)", line, v->byte[b[0]]);
        goto fail;
      }
      v->byte[b[0]] = (int32_t)r;
    } else if (tl == 2) {
      uint32_t *pr = &v->pair[b[0] << 8 | b[1]];
      if (*pr != UINT32_MAX) {
        seterr(err, errlen, "%zu: duplicate token (also rank %u)", line, *pr);
        goto fail;
      }
      *pr = (uint32_t)r;
    }
    uint64_t h = kl_hash_bytes(b, (size_t)tl);
    __builtin_prefetch(&v->slots[h & v->mask], 1);
    if (nq == PENDING) {
      nq = 0;
      for (size_t i = 0; i < PENDING; i++)
        if (insert(v, q[i].h, q[i].rank, &other) != 0) {
          line = q[i].line;
          goto dup;
        }
    }
    q[nq].h = h;
    q[nq].rank = (uint32_t)r;
    q[nq].line = line;
    nq++;
    p = eol < end ? eol + 1 : end;
  }
  for (size_t i = 0; i < nq; i++)
    if (insert(v, q[i].h, q[i].rank, &other) != 0) {
      line = q[i].line;
      goto dup;
    }

  v->arena_len = ao;
  v->size = (uint32_t)ne;
  v->rank_end = maxr + 1;
  static atomic_uint_fast64_t next_id = 1;
  v->id = (uint64_t)atomic_fetch_add(&next_id, 1);
  v->complete = 1;
  for (int i = 0; i < 256; i++)
    if (v->byte[i] < 0) v->complete = 0;
  return v;

dup:
  seterr(err, errlen, "%zu: duplicate token (also rank %u)", line, other);
  goto fail;
oom:
  seterr(err, errlen, "0: out of memory");
fail:
  kl_vocab_free(v);
  return NULL;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

kl_vocab *kl_vocab_load(const char *path, const char *sha256_hex, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > UINT32_MAX) {
    seterr(err, errlen, "%s: not a regular file of at most 4 GiB", path);
    close(fd);
    return NULL;
  }
  /* Mapped, not read: no copy and no heap pages for the text. */
  size_t n = (size_t)st.st_size;
  char *buf = NULL;
  if (n) {
    buf = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (buf == MAP_FAILED) {
      seterr(err, errlen, "%s: cannot map: %s", path, strerror(errno));
      close(fd);
      return NULL;
    }
  }
  close(fd);
  if (sha256_hex) {
    unsigned char want[32], d[32];
    int okhex = strlen(sha256_hex) == 64;
    for (int i = 0; okhex && i < 32; i++) {
      int hi = hexval(sha256_hex[2 * i]), lo = hexval(sha256_hex[2 * i + 1]);
      if (hi < 0 || lo < 0) okhex = 0;
      else want[i] = (unsigned char)(hi << 4 | lo);
    }
    if (!okhex) {
      seterr(err, errlen, "%s: expected sha256 is not 64 hex digits: %s", path, sha256_hex);
      if (buf) munmap(buf, n);
      return NULL;
    }
    kl_sha256(buf, n, d);
    if (memcmp(want, d, 32) != 0) {
      char gothex[65];
      kl_sha256_hex(buf, n, gothex);
      seterr(err, errlen, "%s: sha256 mismatch: expected %s got %s", path, sha256_hex, gothex);
      if (buf) munmap(buf, n);
      return NULL;
    }
  }
  char perr[200];
  kl_vocab *v = kl_vocab_parse(buf ? buf : "", n, perr, sizeof perr);
  if (buf) munmap(buf, n);
  if (!v) seterr(err, errlen, "%s:%s", path, perr);
  return v;
}
