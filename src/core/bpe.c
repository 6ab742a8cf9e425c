/* Byte-pair merge of one piece; see bpe.h. */
#include "bpe.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NONE UINT32_MAX

void kl_bpe_scratch_init(kl_bpe_scratch *s) { memset(s, 0, sizeof *s); }

static void arrays_free(kl_bpe_scratch *s) {
  if (s->mapped) munmap(s->a, s->region_len);
  else free(s->a);
  s->a = s->b = s->c = s->d = NULL;
  s->mapped = 0;
  s->cap = 0;
}

void kl_bpe_scratch_free(kl_bpe_scratch *s) {
  arrays_free(s);
  free(s->heap);
  free(s->memo_key);
  free(s->memo_val);
  memset(s, 0, sizeof *s);
}

/* Room for n+1 entries in each of a..d; old contents are not kept. Large
 * scratch (long pieces) is an anonymous mapping advised for huge pages:
 * first-touch 4 KiB faults cost more than the merge itself on a VM. */
#define MAP_MIN ((size_t)1 << 20)
static int reserve(kl_bpe_scratch *s, size_t n) {
  if (n + 1 <= s->cap) return 0;
  size_t cap = s->cap ? s->cap : 64;
  while (cap < n + 1) cap *= 2;
  size_t bytes = 4 * cap * sizeof(uint32_t);
  arrays_free(s);
  void *m = NULL;
  if (bytes >= MAP_MIN) {
    m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -1;
#ifdef MADV_HUGEPAGE
    madvise(m, bytes, MADV_HUGEPAGE);
#endif
    s->mapped = 1;
    s->region_len = bytes;
  } else if (!(m = malloc(bytes))) {
    return -1;
  }
  s->a = m;
  s->b = s->a + cap;
  s->c = s->b + cap;
  s->d = s->c + cap;
  s->cap = cap;
  return 0;
}

static inline uint32_t rank_of(const kl_vocab *v, const unsigned char *p, size_t n) {
  int32_t r = kl_vocab_rank(v, p, n);
  return r < 0 ? NONE : (uint32_t)r;
}

/* Emits the rank of every part [start[i], start[i+1]). */
static size_t emit(const kl_vocab *v, const unsigned char *p, const uint32_t *start, size_t nparts,
                   uint32_t *out) {
  for (size_t i = 0; i < nparts; i++) {
    uint32_t r = rank_of(v, p + start[i], start[i + 1] - start[i]);
    if (r == NONE) return SIZE_MAX; /* only a missing single byte can get here */
    out[i] = r;
  }
  return nparts;
}

/* Only pairs that are local minima (rank lower than the pair on their left,
 * not higher than the pair on their right) can be the global "lowest rank,
 * leftmost" pair, so only those go on the heap. After each merge the
 * status of the four pairs around it is re-checked and new minima pushed;
 * popped entries are checked again (alive, same rank, still a local
 * minimum), so stale entries are skipped. A run of one letter then keeps the
 * heap at a few entries (a left-to-right sweep), and ordinary text at about
 * a third of the pairs. */
static int memo_ready(kl_bpe_scratch *s, const kl_vocab *v) {
  if (!s->memo_key) {
    s->memo_key = calloc(KL_BPE_MEMO, sizeof *s->memo_key);
    s->memo_val = malloc(KL_BPE_MEMO * sizeof *s->memo_val);
    if (!s->memo_key || !s->memo_val) return -1;
    s->memo_vocab = kl_vocab_id(v);
  }
  if (s->memo_vocab != kl_vocab_id(v)) {
    memset(s->memo_key, 0, KL_BPE_MEMO * sizeof *s->memo_key);
    s->memo_vocab = kl_vocab_id(v);
  }
  return 0;
}

/* Rank of token L joined with token R, whose bytes are p[from..to): from
 * the memo, else from the vocabulary. */
static inline uint32_t memo_join(const kl_vocab *v, kl_bpe_scratch *s, const unsigned char *p, uint32_t l,
                                 uint32_t r, uint32_t from, uint32_t to) {
  uint64_t key = ((uint64_t)l << 32 | r) + 1;
  uint64_t hh = key * 0x9e3779b97f4a7c15ull;
  size_t slot = (size_t)(hh >> 52) & (KL_BPE_MEMO - 1);
  if (s->memo_key[slot] == key) return s->memo_val[slot];
  uint32_t rank = rank_of(v, p + from, to - from);
  s->memo_key[slot] = key;
  s->memo_val[slot] = rank;
  return rank;
}

/* Rank of the part at x (token tr[x]) joined with the part at y (token
 * tr[y], ending at e). */
static inline uint32_t join_rank(const kl_vocab *v, kl_bpe_scratch *s, const unsigned char *p,
                                 uint32_t x, uint32_t y, uint32_t e) {
  return memo_join(v, s, p, s->d[x], s->d[y], x, e);
}


/* The lowest of rk[0..k) and, in *at, its leftmost index (tiktoken's tie
 * rule); NONE when there is none. */
static inline uint32_t lowest(const uint32_t *rk, size_t k, size_t *at) {
  uint32_t best = NONE;
  *at = 0;
  for (size_t i = 0; i < k; i++)
    if (rk[i] < best) {
      best = rk[i];
      *at = i;
    }
  return best;
}

/* The same merge for short pieces, faster: each part's token is kept as it
 * is made (the merged pair's rank), so nothing is looked up again at the
 * end, and the rank of two parts joined comes from the (left token, right
 * token) memo before the vocabulary: a few common pairs make up most of
 * the merges, and a memo hit is one cached load where the vocabulary
 * lookup hashes the joined bytes and probes a table of several MB. On a
 * mixed 2 MB text the pieces that need merging were 5% of the pieces and
 * 40% of the time before this. */
static size_t short_merge(const kl_vocab *v, const unsigned char *p, size_t n, uint32_t *out,
                          kl_bpe_scratch *s) {
  if (memo_ready(s, v) != 0) return SIZE_MAX;
  uint32_t *st = s->a, *rk = s->b, *tr = s->d;
  size_t m = n; /* live parts */
  for (size_t i = 0; i < n; i++) {
    int32_t b = kl_vocab_byte_rank(v, p[i]);
    if (b < 0) return SIZE_MAX;
    st[i] = (uint32_t)i;
    tr[i] = (uint32_t)b;
    rk[i] = i + 1 < n ? kl_vocab_pair_rank(v, p[i], p[i + 1]) : NONE;
  }
  st[n] = (uint32_t)n;
  for (;;) {
    size_t bi;
    uint32_t best = lowest(rk, m - 1, &bi);
    if (best == NONE) break;
    tr[bi] = best;
    memmove(st + bi + 1, st + bi + 2, (m - bi - 1) * sizeof *st);
    memmove(tr + bi + 1, tr + bi + 2, (m - bi - 2) * sizeof *tr);
    memmove(rk + bi + 1, rk + bi + 2, (m - bi - 2) * sizeof *rk);
    m--;
    rk[bi] = bi + 1 < m ? memo_join(v, s, p, tr[bi], tr[bi + 1], st[bi], st[bi + 2]) : NONE;
    if (bi > 0) rk[bi - 1] = memo_join(v, s, p, tr[bi - 1], tr[bi], st[bi - 1], st[bi + 1]);
  }
  memcpy(out, tr, m * sizeof *out);
  return m;
}

/* tiktoken's _byte_pair_merge: parts[i] = (start, rank of the pair starting
 * there), with a sentinel part at n. */
static size_t simple(const kl_vocab *v, const unsigned char *p, size_t n, uint32_t *out,
                     kl_bpe_scratch *s) {
  uint32_t *st = s->a, *rk = s->b;
  size_t m = n + 1; /* parts including the end sentinel */
  for (size_t i = 0; i < n; i++) {
    st[i] = (uint32_t)i;
    rk[i] = i + 2 <= n ? kl_vocab_pair_rank(v, p[i], p[i + 1]) : NONE;
  }
  st[n] = (uint32_t)n;
  rk[n] = NONE;
  for (;;) {
    size_t bi;
    uint32_t best = lowest(rk, m - 1, &bi);
    if (best == NONE) break;
    /* merge parts bi and bi+1 */
    memmove(st + bi + 1, st + bi + 2, (m - bi - 2) * sizeof *st);
    memmove(rk + bi + 1, rk + bi + 2, (m - bi - 2) * sizeof *rk);
    m--;
    rk[bi] = bi + 2 < m ? rank_of(v, p + st[bi], st[bi + 2] - st[bi]) : NONE;
    if (bi > 0) rk[bi - 1] = rank_of(v, p + st[bi - 1], st[bi + 1] - st[bi - 1]);
  }
  return emit(v, p, st, m - 1, out);
}

/* ---- heap variant: nodes are byte positions; nx/pv link the live parts ---- */

static int heap_grow(kl_bpe_scratch *s, size_t need) {
  if (need <= s->hcap) return 0;
  size_t cap = s->hcap ? s->hcap : 64;
  while (cap < need) cap *= 2;
  uint64_t *h = realloc(s->heap, cap * sizeof *h);
  if (!h) return -1;
  s->heap = h;
  s->hcap = cap;
  return 0;
}

static inline void heap_push(uint64_t *h, size_t *n, uint64_t k) {
  size_t i = (*n)++;
  while (i) {
    size_t up = (i - 1) / 2;
    if (h[up] <= k) break;
    h[i] = h[up];
    i = up;
  }
  h[i] = k;
}

/* Places K at slot I of the heap h[0..len) and moves it down to its place. */
static inline void sift_down(uint64_t *h, size_t len, size_t i, uint64_t k) {
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= len) break;
    if (c + 1 < len && h[c + 1] < h[c]) c++;
    if (k <= h[c]) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = k;
}

static inline uint64_t heap_pop(uint64_t *h, size_t *n) {
  uint64_t top = h[0], k = h[--*n];
  if (*n) sift_down(h, *n, 0, k);
  return top;
}

static size_t heap_merge(const kl_vocab *v, const unsigned char *p, size_t n, uint32_t *out,
                         kl_bpe_scratch *s) {
  uint32_t *nx = s->a, *rk = s->b, *pv = s->c, *tr = s->d;
  if (memo_ready(s, v) != 0) return SIZE_MAX;
  /* At most every other pair is a local minimum. */
  if (heap_grow(s, n / 2 + 8) != 0) return SIZE_MAX;
  uint64_t *h = s->heap;
  size_t hn = 0;
  const uint32_t DEAD = NONE - 1;
  /* rk[i]: rank of the live part at i joined with the next one (NONE when
   * not a token or i is the last part); rk[n] = NONE; pv[i] == DEAD marks a
   * node absorbed into its left neighbour. */
  for (size_t i = 0; i + 1 < n; i++) rk[i] = kl_vocab_pair_rank(v, p[i], p[i + 1]);
  rk[n - 1] = NONE;
  rk[n] = NONE;
  for (size_t i = 0; i < n; i++) {
    nx[i] = (uint32_t)(i + 1);
    pv[i] = i ? (uint32_t)(i - 1) : NONE;
    int32_t b = kl_vocab_byte_rank(v, p[i]);
    if (b < 0) return SIZE_MAX;
    tr[i] = (uint32_t)b;
  }
  nx[n] = (uint32_t)n;
#define LOCAL_MIN(x) \
  (rk[x] != NONE && (pv[x] == NONE || rk[x] < rk[pv[x]]) && rk[x] <= rk[nx[x]])
  for (size_t i = 0; i < n; i++)
    if (LOCAL_MIN(i)) h[hn++] = (uint64_t)rk[i] << 32 | i;
  for (size_t i = hn / 2; i-- > 0;) sift_down(h, hn, i, h[i]); /* heapify */
  while (hn) {
    uint64_t k = heap_pop(h, &hn);
    uint32_t i = (uint32_t)k, r = (uint32_t)(k >> 32);
    if (pv[i] == DEAD || rk[i] != r || !LOCAL_MIN(i)) continue; /* stale */
    uint32_t j = nx[i], after = nx[j], l = pv[i];
    nx[i] = after;
    pv[j] = DEAD;
    tr[i] = r;
    if (after < n) pv[after] = i;
    rk[i] = after < n ? join_rank(v, s, p, i, after, nx[after]) : NONE;
    if (l != NONE) rk[l] = join_rank(v, s, p, l, i, after);
    uint32_t c[4] = {l != NONE ? pv[l] : NONE, l, i, after < n ? after : NONE};
    if (hn + 4 > s->hcap) {
      if (heap_grow(s, hn + 4) != 0) return SIZE_MAX;
      h = s->heap;
    }
    for (int t = 0; t < 4; t++)
      if (c[t] != NONE && LOCAL_MIN(c[t])) heap_push(h, &hn, (uint64_t)rk[c[t]] << 32 | c[t]);
  }
#undef LOCAL_MIN
  size_t m = 0;
  for (uint32_t i = 0; i < n; i = nx[i]) out[m++] = tr[i];
  return m;
}

static size_t encode(const kl_vocab *v, const unsigned char *p, size_t n, uint32_t *out,
                     kl_bpe_scratch *s, int allow_heap) {
  if (n == 0) return 0;
  if (n >= UINT32_MAX - 2) return SIZE_MAX;
  uint32_t whole = rank_of(v, p, n);
  if (whole != NONE) {
    out[0] = whole;
    return 1;
  }
  if (n == 1) return SIZE_MAX;
  if (reserve(s, n) != 0) return SIZE_MAX;
  if (!allow_heap) return simple(v, p, n, out, s);
  if (n >= KL_BPE_HEAP_MIN) return heap_merge(v, p, n, out, s);
  return short_merge(v, p, n, out, s);
}

size_t kl_bpe_encode_piece(const kl_vocab *v, const unsigned char *p, size_t n, uint32_t *out,
                           kl_bpe_scratch *s) {
  return encode(v, p, n, out, s, 1);
}

size_t kl_bpe_encode_piece_simple(const kl_vocab *v, const unsigned char *p, size_t n,
                                  uint32_t *out, kl_bpe_scratch *s) {
  return encode(v, p, n, out, s, 0);
}

int kl_bpe_decode(const kl_vocab *v, const uint32_t *ids, size_t n, kl_buf *out, size_t *bad) {
  for (size_t i = 0; i < n; i++) {
    size_t len;
    const unsigned char *b = kl_vocab_bytes(v, ids[i], &len);
    if (!b) {
      if (bad) *bad = i;
      return -1;
    }
    if (kl_buf_add(out, b, len) != 0) {
      if (bad) *bad = n;
      return -1;
    }
  }
  return 0;
}
