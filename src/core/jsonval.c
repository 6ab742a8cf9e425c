#include "jsonval.h"

#include "bytehash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

struct kl_arena_blk {
  kl_arena_blk *next;
  size_t size;
  max_align_t data[];
};

void kl_arena_init(kl_arena *a) { memset(a, 0, sizeof *a); }

void *kl_arena_alloc(kl_arena *a, size_t n) {
  n = (n + 7) & ~(size_t)7;
  if ((size_t)(a->end - a->p) < n || !a->p) {
    size_t size = a->head ? a->head->size * 2 : 4096;
    while (size < n) size *= 2;
    if (size > ((size_t)1 << 30) && n < ((size_t)1 << 30)) size = n < 65536 ? 65536 : n;
    kl_arena_blk *b = malloc(sizeof *b + size);
    if (!b) return NULL;
    b->next = a->head;
    b->size = size;
    a->head = b;
    a->p = (char *)b->data;
    a->end = a->p + size;
    a->total += size;
  }
  void *r = a->p;
  a->p += n;
  return r;
}

char *kl_arena_strdup(kl_arena *a, const char *s, size_t n) {
  char *d = kl_arena_alloc(a, n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, s, n);
  d[n] = 0;
  return d;
}

void kl_arena_reset(kl_arena *a) {
  /* keep the newest (largest) block: the next document of the same size
   * then needs no malloc at all */
  kl_arena_blk *keep = a->head;
  if (!keep) return;
  for (kl_arena_blk *b = keep->next, *n; b; b = n) {
    n = b->next;
    free(b);
  }
  keep->next = NULL;
  a->total = keep->size;
  a->p = (char *)keep->data;
  a->end = a->p + keep->size;
}

void kl_arena_free(kl_arena *a) {
  for (kl_arena_blk *b = a->head, *n; b; b = n) {
    n = b->next;
    free(b);
  }
  free(a->stk);
  memset(a, 0, sizeof *a);
}

/* ---- parse ---- */

static int grow_stack(kl_arena *a, size_t need) {
  size_t cap = a->stk_cap ? a->stk_cap : 256;
  while (cap < need) cap *= 2;
  void *s = realloc(a->stk, cap * sizeof(kl_jmember));
  if (!s) return -1;
  a->stk = s;
  a->stk_cap = cap;
  return 0;
}

/* Removes earlier duplicates of a key (the last one wins, as in the Lua
 * decoder), keeping document order. Hashing above a few members keeps a
 * hostile object with 100k keys linear. */
static uint32_t dedup(kl_jmember *m, uint32_t n) {
  if (n < 2) return n;
  unsigned char *dead = NULL;
  int any = 0;
  if (n <= 16) {
    for (uint32_t i = 0; i < n; i++)
      for (uint32_t j = i + 1; j < n; j++)
        if (m[i].klen == m[j].klen && memcmp(m[i].key, m[j].key, m[i].klen) == 0) {
          if (!dead && !(dead = calloc(n, 1))) return n;
          dead[i] = 1, any = 1;
          break;
        }
  } else {
    size_t cap = 32;
    while (cap < (size_t)n * 2) cap *= 2;
    uint32_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return n;
    memset(slot, 0xff, cap * sizeof *slot);
    for (uint32_t i = n; i-- > 0;) { /* from the end: the last one is kept */
      size_t s = kl_hash_bytes((const unsigned char *)m[i].key, m[i].klen) & (cap - 1);
      for (;; s = (s + 1) & (cap - 1)) {
        if (slot[s] == UINT32_MAX) { slot[s] = i; break; }
        kl_jmember *o = &m[slot[s]];
        if (o->klen == m[i].klen && memcmp(o->key, m[i].key, o->klen) == 0) {
          if (!dead && !(dead = calloc(n, 1))) { free(slot); return n; }
          dead[i] = 1, any = 1;
          break;
        }
      }
    }
    free(slot);
  }
  if (!any) { free(dead); return n; }
  uint32_t w = 0;
  for (uint32_t i = 0; i < n; i++)
    if (!dead[i]) m[w++] = m[i];
  free(dead);
  return w;
}

kl_jv *kl_jv_parse(kl_arena *a, kl_jd *jd, const char *text, size_t n, int max_depth) {
  struct { size_t start; int is_object; } frame[KL_JD_MAX_DEPTH + 1];
  int depth = 0;
  size_t sp = 0; /* stack entries in use */
  kl_jv *root = kl_arena_alloc(a, sizeof *root);
  if (!root) { kl_jd_fail(jd, KL_JD_E_NOMEM, 0); return NULL; }
  kl_jd_start(jd, text, n, max_depth);
  const char *key = NULL;
  uint32_t klen = 0;
  for (;;) {
    kl_jd_token t = kl_jd_next(jd);
    kl_jv v;
    memset(&v, 0, sizeof v);
    switch (t) {
    case KL_JD_ERROR: return NULL;
    case KL_JD_END: return root;
    case KL_JD_KEY:
      key = kl_arena_strdup(a, jd->str, jd->len);
      klen = (uint32_t)jd->len;
      if (!key) goto nomem;
      continue;
    case KL_JD_OBJECT:
    case KL_JD_ARRAY:
      frame[depth].start = sp;
      frame[depth].is_object = t == KL_JD_OBJECT;
      /* the container's own slot is pushed now and filled at its end */
      v.type = t == KL_JD_OBJECT ? KL_JV_OBJECT : KL_JV_ARRAY;
      break;
    case KL_JD_OBJECT_END:
    case KL_JD_ARRAY_END: {
      depth--;
      size_t start = frame[depth].start;
      kl_jmember *stk = a->stk;
      size_t cnt = sp - start - 1;
      kl_jv *self = &stk[start].val;
      if (cnt > UINT32_MAX) { kl_jd_fail(jd, KL_JD_E_NOMEM, 0); return NULL; }
      if (frame[depth].is_object) {
        cnt = dedup(stk + start + 1, (uint32_t)cnt);
        kl_jmember *m = cnt ? kl_arena_alloc(a, cnt * sizeof *m) : NULL;
        if (cnt && !m) goto nomem;
        if (cnt) memcpy(m, stk + start + 1, cnt * sizeof *m);
        self->u.mem = m;
      } else {
        kl_jv *it = cnt ? kl_arena_alloc(a, cnt * sizeof *it) : NULL;
        if (cnt && !it) goto nomem;
        for (size_t i = 0; i < cnt; i++) it[i] = stk[start + 1 + i].val;
        self->u.items = it;
      }
      self->len = (uint32_t)cnt;
      sp = start + 1;
      key = stk[start].key; /* the container's own key in its parent */
      klen = stk[start].klen;
      v = *self;
      sp--;
      goto place;
    }
    case KL_JD_STRING:
      v.type = KL_JV_STRING;
      if (jd->len > UINT32_MAX) { kl_jd_fail(jd, KL_JD_E_NOMEM, 0); return NULL; }
      v.len = (uint32_t)jd->len;
      if (!(v.u.s = kl_arena_strdup(a, jd->str, jd->len))) goto nomem;
      break;
    case KL_JD_INT:
    case KL_JD_DOUBLE:
      v.type = KL_JV_NUMBER;
      v.d = t == KL_JD_INT ? (double)jd->i : jd->d;
      v.is_int = t == KL_JD_INT || v.d == floor(v.d);
      v.len = (uint32_t)jd->raw_len;
      if (!(v.u.s = kl_arena_strdup(a, jd->raw, jd->raw_len))) goto nomem;
      break;
    case KL_JD_TRUE: v.type = KL_JV_TRUE; break;
    case KL_JD_FALSE: v.type = KL_JV_FALSE; break;
    case KL_JD_NULL: v.type = KL_JV_NULL; break;
    }
    if (t == KL_JD_OBJECT || t == KL_JD_ARRAY) {
      if (sp + 1 > a->stk_cap && grow_stack(a, sp + 1)) goto nomem;
      kl_jmember *stk = a->stk;
      stk[sp].key = key, stk[sp].klen = klen, stk[sp].val = v;
      sp++;
      depth++;
      key = NULL, klen = 0;
      continue;
    }
  place:
    if (depth == 0) { *root = v; continue; }
    if (sp + 1 > a->stk_cap && grow_stack(a, sp + 1)) goto nomem;
    {
      kl_jmember *stk = a->stk;
      stk[sp].key = key, stk[sp].klen = klen, stk[sp].val = v;
      sp++;
    }
    key = NULL, klen = 0;
  }
nomem:
  kl_jd_fail(jd, KL_JD_E_NOMEM, jd->err_at);
  (void)kl_jd_next(jd);
  return NULL;
}

const kl_jv *kl_jv_get(const kl_jv *obj, const char *key, size_t klen) {
  if (obj->type != KL_JV_OBJECT) return NULL;
  for (uint32_t i = 0; i < obj->len; i++)
    if (obj->u.mem[i].klen == klen && memcmp(obj->u.mem[i].key, key, klen) == 0) return &obj->u.mem[i].val;
  return NULL;
}

/* ---- numbers ---- */

/* A literal as sign, significant digits (no leading or trailing zeros) and
 * the power of ten of the last digit: value = digits * 10^exp. */
typedef struct {
  int neg;
  char *dig;
  size_t nd;
  long exp;
  char small[48];
} dec;

static int dec_parse(dec *x, const char *s, size_t n) {
  x->dig = n < sizeof x->small ? x->small : malloc(n + 1);
  if (!x->dig) return -1;
  x->neg = 0, x->nd = 0;
  size_t i = 0;
  long frac = 0, e = 0;
  if (i < n && s[i] == '-') x->neg = 1, i++;
  int seen_point = 0;
  for (; i < n && s[i] != 'e' && s[i] != 'E'; i++) {
    if (s[i] == '.') { seen_point = 1; continue; }
    if (x->nd == 0 && s[i] == '0') { if (seen_point) frac++; continue; }
    x->dig[x->nd++] = s[i];
    if (seen_point) frac++;
  }
  if (i < n) { /* exponent: clamp, a literal this far out is 0 or out of range anyway */
    i++;
    int eneg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    for (; i < n; i++)
      if (e < 100000000) e = e * 10 + (s[i] - '0');
    if (eneg) e = -e;
  }
  while (x->nd && x->dig[x->nd - 1] == '0') x->nd--, frac--;
  x->exp = e - frac;
  if (x->nd == 0) x->neg = 0, x->exp = 0;
  return 0;
}

static void dec_free(dec *x) {
  if (x->dig != x->small) free(x->dig);
}

static int dec_cmp(const dec *a, const dec *b) {
  if (a->nd == 0 || b->nd == 0 || a->neg != b->neg) {
    int sa = a->nd == 0 ? 0 : a->neg ? -1 : 1, sb = b->nd == 0 ? 0 : b->neg ? -1 : 1;
    return (sa > sb) - (sa < sb);
  }
  int sign = a->neg ? -1 : 1;
  long ma = (long)a->nd + a->exp, mb = (long)b->nd + b->exp; /* magnitude order */
  if (ma != mb) return ma > mb ? sign : -sign;
  size_t n = a->nd > b->nd ? a->nd : b->nd;
  for (size_t i = 0; i < n; i++) {
    char ca = i < a->nd ? a->dig[i] : '0', cb = i < b->nd ? b->dig[i] : '0';
    if (ca != cb) return ca > cb ? sign : -sign;
  }
  return 0;
}

/* Doubles decide unless they are equal and a literal may hold more than a
 * double does (past 15 significant digits). */
static int long_literal(const kl_jv *v) {
  size_t digits = 0;
  for (uint32_t i = 0; i < v->len && v->u.s[i] != 'e' && v->u.s[i] != 'E'; i++)
    digits += v->u.s[i] >= '0' && v->u.s[i] <= '9';
  return digits > 15;
}

int kl_jv_numcmp(const kl_jv *a, const kl_jv *b) {
  if (a->d != b->d) return a->d < b->d ? -1 : 1;
  if (!long_literal(a) && !long_literal(b)) return 0;
  dec x, y;
  if (dec_parse(&x, a->u.s, a->len)) return 0;
  if (dec_parse(&y, b->u.s, b->len)) { dec_free(&x); return 0; }
  int r = dec_cmp(&x, &y);
  dec_free(&x), dec_free(&y);
  return r;
}

int kl_jv_multiple_of(const kl_jv *xv, const kl_jv *mv) {
  if (xv->d == 0) return 1;
  dec x, m;
  if (dec_parse(&x, xv->u.s, xv->len)) goto by_double;
  if (dec_parse(&m, mv->u.s, mv->len)) { dec_free(&x); goto by_double; }
  int r = -1;
  if (x.nd == 0) r = 1;
  else if (m.nd > 0) {
    long e = x.exp < m.exp ? x.exp : m.exp;
    long xz = x.exp - e, mz = m.exp - e; /* zeros appended to each */
    if (m.nd + (size_t)mz <= 19 && xz <= 1000000) {
      uint64_t mod = 0;
      for (size_t i = 0; i < m.nd; i++) mod = mod * 10 + (uint64_t)(m.dig[i] - '0');
      for (long i = 0; i < mz; i++) mod *= 10;
      unsigned __int128 rem = 0;
      for (size_t i = 0; i < x.nd; i++) rem = (rem * 10 + (unsigned)(x.dig[i] - '0')) % mod;
      for (long i = 0; i < xz && rem; i++) rem = rem * 10 % mod;
      r = rem == 0;
    }
  }
  dec_free(&x), dec_free(&m);
  if (r >= 0) return r;
by_double:;
  double q = xv->d / mv->d;
  return isfinite(q) && q == floor(q);
}

/* ---- equality ---- */

int kl_jv_equal(const kl_jv *a, const kl_jv *b) {
  if (a->type != b->type) return 0;
  switch (a->type) {
  case KL_JV_NUMBER: return kl_jv_numcmp(a, b) == 0;
  case KL_JV_STRING: return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
  case KL_JV_ARRAY:
    if (a->len != b->len) return 0;
    for (uint32_t i = 0; i < a->len; i++)
      if (!kl_jv_equal(&a->u.items[i], &b->u.items[i])) return 0;
    return 1;
  case KL_JV_OBJECT:
    if (a->len != b->len) return 0;
    for (uint32_t i = 0; i < a->len; i++) {
      const kl_jmember *m = &a->u.mem[i];
      /* same position first: objects written by one program keep an order */
      const kl_jv *o = b->u.mem[i].klen == m->klen && memcmp(b->u.mem[i].key, m->key, m->klen) == 0
                           ? &b->u.mem[i].val : kl_jv_get(b, m->key, m->klen);
      if (!o || !kl_jv_equal(&m->val, o)) return 0;
    }
    return 1;
  default: return 1;
  }
}

static uint64_t mix(uint64_t h) {
  h ^= h >> 33, h *= 0xff51afd7ed558ccdull, h ^= h >> 33;
  return h;
}

uint64_t kl_jv_hash(const kl_jv *v) {
  uint64_t h = (uint64_t)v->type * 0x9e3779b97f4a7c15ull;
  switch (v->type) {
  case KL_JV_NUMBER: {
    double d = v->d == 0 ? 0 : v->d; /* -0 == 0 */
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return mix(h ^ bits);
  }
  case KL_JV_STRING: return mix(h ^ kl_hash_bytes((const unsigned char *)v->u.s, v->len));
  case KL_JV_ARRAY:
    for (uint32_t i = 0; i < v->len; i++) h = mix(h * 31 + kl_jv_hash(&v->u.items[i]));
    return h;
  case KL_JV_OBJECT: {
    uint64_t sum = 0; /* order-independent */
    for (uint32_t i = 0; i < v->len; i++) {
      uint64_t k = kl_hash_bytes((const unsigned char *)v->u.mem[i].key, v->u.mem[i].klen);
      sum += mix(k ^ kl_jv_hash(&v->u.mem[i].val));
    }
    return mix(h ^ sum);
  }
  default: return h;
  }
}

size_t kl_utf8_count(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
  return c;
}
