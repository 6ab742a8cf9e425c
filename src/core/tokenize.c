/* tiktoken's Encoding.encode over the C pieces: special tokens, the
 * pretokenizer, whole-token lookups, the piece cache and the BPE merge. */
#include "tokenize.h"

#include <stdlib.h>
#include <string.h>

#include "bytehash.h"

const kl_sp_opts KL_SP_DEFAULT = { KL_SP_NONE, KL_SP_ALL, NULL, NULL };
const kl_sp_opts KL_SP_ORDINARY = { KL_SP_NONE, KL_SP_NONE, NULL, NULL };

/* ---- piece cache ------------------------------------------------------------ */
#define PC_SLOTS 32768 /* open addressing, load <= 1/2 */
#define PC_MAX 16384   /* entries before it is emptied */
#define PC_MAXLEN 64  /* longest piece cached */
#define PC_BYTES (PC_MAX * 16)
#define PC_TOKS (PC_MAX * 8)

typedef struct {
  uint32_t boff, toff;
  uint16_t blen, ntok;
} pc_entry;

struct kl_piece_cache {
  uint64_t hash[PC_SLOTS];
  uint32_t ref[PC_SLOTS]; /* entry index + 1; 0 = empty */
  pc_entry ent[PC_MAX];
  unsigned char bytes[PC_BYTES];
  uint32_t toks[PC_TOKS];
  uint32_t nent, nbytes, ntoks;
};

static void pc_clear(struct kl_piece_cache *c) {
  memset(c->ref, 0, sizeof c->ref);
  c->nent = c->nbytes = c->ntoks = 0;
}

static const pc_entry *pc_find(const struct kl_piece_cache *c, uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = h & (PC_SLOTS - 1);; i = (i + 1) & (PC_SLOTS - 1)) {
    uint32_t r = c->ref[i];
    if (!r) return NULL;
    const pc_entry *e = &c->ent[r - 1];
    if (c->hash[i] == h && e->blen == n && memcmp(c->bytes + e->boff, p, n) == 0) return e;
  }
}

static void pc_add(struct kl_piece_cache *c, uint64_t h, const unsigned char *p, size_t n, const uint32_t *ids,
                   size_t k) {
  if (c->nent == PC_MAX || c->nbytes + n > PC_BYTES || c->ntoks + k > PC_TOKS) pc_clear(c);
  size_t i = h & (PC_SLOTS - 1);
  while (c->ref[i]) i = (i + 1) & (PC_SLOTS - 1);
  pc_entry *e = &c->ent[c->nent];
  *e = (pc_entry){ c->nbytes, c->ntoks, (uint16_t)n, (uint16_t)k };
  memcpy(c->bytes + c->nbytes, p, n);
  memcpy(c->toks + c->ntoks, ids, k * sizeof *ids);
  c->nbytes += (uint32_t)n, c->ntoks += (uint32_t)k;
  c->hash[i] = h;
  c->ref[i] = ++c->nent;
}

/* ---- state ------------------------------------------------------------------ */
void kl_tok_init(kl_tokenizer *t, const kl_encoding *e) {
  memset(t, 0, sizeof *t);
  t->enc = e;
  kl_bpe_scratch_init(&t->bpe);
  t->cache_on = 1;
}

void kl_tok_free(kl_tokenizer *t) {
  kl_bpe_scratch_free(&t->bpe);
  free(t->out), free(t->text), free(t->cache);
  t->out = NULL, t->text = NULL, t->cache = NULL;
  t->capout = t->captext = 0;
}

void kl_tok_cache(kl_tokenizer *t, int on) { t->cache_on = on; }
void kl_tok_cache_clear(kl_tokenizer *t) {
  if (t->cache) pc_clear(t->cache);
}

static int reserve_out(kl_tokenizer *t, size_t more) {
  if (t->nout + more <= t->capout) return 0;
  size_t cap = t->capout ? t->capout : 256;
  while (cap < t->nout + more) {
    if (cap > SIZE_MAX / 8) return -1;
    cap *= 2;
  }
  uint32_t *o = realloc(t->out, cap * sizeof *o);
  if (!o) return -1;
  t->out = o, t->capout = cap;
  return 0;
}

/* ---- encoding ---------------------------------------------------------------- */
typedef struct {
  kl_tokenizer *t;
  const kl_vocab *v;
  int count_only, err;
  size_t limit, count;
} ectx;

static int on_piece(void *ud, const char *piece, size_t n) {
  ectx *c = ud;
  kl_tokenizer *t = c->t;
  const unsigned char *p = (const unsigned char *)piece;
  int32_t r = kl_vocab_rank(c->v, p, n);
  if (r >= 0) {
    c->count++;
    if (!c->count_only) {
      if (reserve_out(t, 1)) return c->err = KL_TOK_NOMEM;
      t->out[t->nout++] = (uint32_t)r;
    }
    return c->count > c->limit;
  }
  uint64_t h = 0;
  int cacheable = t->cache_on && n <= PC_MAXLEN;
  if (cacheable) {
    if (!t->cache) {
      if (!(t->cache = malloc(sizeof *t->cache))) return c->err = KL_TOK_NOMEM;
      pc_clear(t->cache);
    }
    h = kl_hash_bytes(p, n);
    const pc_entry *e = pc_find(t->cache, h, p, n);
    if (e) {
      t->cache_hits++;
      c->count += e->ntok;
      if (!c->count_only) {
        if (reserve_out(t, e->ntok)) return c->err = KL_TOK_NOMEM;
        memcpy(t->out + t->nout, t->cache->toks + e->toff, e->ntok * sizeof(uint32_t));
        t->nout += e->ntok;
      }
      return c->count > c->limit;
    }
    t->cache_misses++;
  }
  if (reserve_out(t, n)) return c->err = KL_TOK_NOMEM;
  size_t k = kl_bpe_encode_piece(c->v, p, n, t->out + t->nout, &t->bpe);
  if (k == SIZE_MAX) return c->err = KL_TOK_NOMEM;
  if (cacheable && k <= 0xffff) pc_add(t->cache, h, p, n, t->out + t->nout, k);
  c->count += k;
  if (!c->count_only) t->nout += k;
  return c->count > c->limit;
}

static int is_allowed(const kl_sp_opts *o, uint32_t i) {
  return o->allowed == KL_SP_ALL || (o->allowed == KL_SP_SET && o->allowed_set[i]);
}
static int is_disallowed(const kl_sp_opts *o, uint32_t i) {
  if (o->disallowed == KL_SP_ALL) return !is_allowed(o, i);
  return o->disallowed == KL_SP_SET && o->disallowed_set[i];
}

/* The next special token's text in S[from..n), or NULL. Specials are all
 * "<|...|>" with no "|>" inside, so at each "<|" only the text up to the
 * first "|>" can be one, and occurrences never overlap. */
static const kl_special *next_special(const kl_encoding *e, const char *s, size_t n, size_t from, size_t *at) {
  size_t i = from;
  while (i + 1 < n) {
    const char *lt = memchr(s + i, '<', n - i - 1);
    if (!lt) return NULL;
    size_t p = (size_t)(lt - s);
    if (s[p + 1] == '|') {
      size_t end = p + e->special_maxlen < n ? p + e->special_maxlen : n;
      for (size_t q = p + 2; q + 1 < end; q++) {
        if (s[q] == '|' && s[q + 1] == '>') {
          const kl_special *sp = kl_encoding_special(e, s + p, q + 2 - p);
          if (sp) {
            *at = p;
            return sp;
          }
          break;
        }
      }
    }
    i = p + 1;
  }
  return NULL;
}

static int encode_valid(kl_tokenizer *t, const char *s, size_t n, const kl_sp_opts *o, int count_only,
                        size_t limit, size_t *count) {
  const kl_encoding *e = t->enc;
  ectx c = { t, e->vocab, count_only, 0, limit, 0 };
  t->nout = 0;
  t->bad = NULL;
  *count = 0;
  if (!o) o = &KL_SP_DEFAULT;
  int want = e->nspecials && (o->allowed != KL_SP_NONE || o->disallowed != KL_SP_NONE);
  /* As tiktoken: any disallowed special anywhere is an error, whatever
   * LIMIT, so a count and a truncate of the same text agree. (Disallowed
   * "all" with allowed "all" leaves nothing to look for.) */
  if (want && (o->disallowed == KL_SP_SET || (o->disallowed == KL_SP_ALL && o->allowed != KL_SP_ALL))) {
    size_t at = 0;
    for (const kl_special *sp; (sp = next_special(e, s, n, at, &at)); at += sp->len) {
      if (is_disallowed(o, kl_encoding_special_index(e, sp))) {
        t->bad = sp, t->bad_at = at;
        return KL_TOK_DISALLOWED;
      }
    }
  }
  size_t seg = 0;
  if (want && o->allowed != KL_SP_NONE) {
    size_t at = 0;
    for (const kl_special *sp; (sp = next_special(e, s, n, at, &at));) {
      if (!is_allowed(o, kl_encoding_special_index(e, sp))) {
        at += 1;
        continue;
      }
      if (at > seg && kl_pretok(e->pat, s + seg, at - seg, on_piece, &c)) goto stop;
      c.count++;
      if (!count_only) {
        if (reserve_out(t, 1)) return KL_TOK_NOMEM;
        t->out[t->nout++] = sp->id;
      }
      seg = at = at + sp->len;
      if (c.count > limit) goto stop;
    }
  }
  if (seg < n) kl_pretok(e->pat, s + seg, n - seg, on_piece, &c);
stop:
  *count = c.count;
  return c.err;
}

static const char *sanitized(kl_tokenizer *t, const char *s, size_t *n) {
  if (kl_utf8_valid(s, *n)) return s;
  if (t->captext < 3 * *n + 1) {
    char *b = realloc(t->text, 3 * *n + 1);
    if (!b) return NULL;
    t->text = b, t->captext = 3 * *n + 1;
  }
  *n = kl_utf8_sanitize(s, *n, t->text);
  return t->text;
}

int kl_tok_encode(kl_tokenizer *t, const char *s, size_t n, const kl_sp_opts *o, int count_only, size_t limit,
                  size_t *count) {
  *count = 0;
  t->nout = 0;
  if (n > KL_TOK_MAX_TEXT) return KL_TOK_TOO_LARGE;
  s = sanitized(t, s, &n);
  if (!s) return KL_TOK_NOMEM;
  return encode_valid(t, s, n, o, count_only, limit, count);
}

const unsigned char *kl_tok_id_bytes(const kl_encoding *e, uint32_t id, size_t *n) {
  const unsigned char *b = kl_vocab_bytes(e->vocab, id, n);
  if (b) return b;
  const kl_special *sp = kl_encoding_special_id(e, id);
  *n = sp ? sp->len : 0;
  return sp ? (const unsigned char *)sp->text : NULL;
}

/* Bytes covered by the first K ids in t->out. */
static size_t bytes_of(const kl_tokenizer *t, size_t k) {
  size_t L = 0, len;
  for (size_t i = 0; i < k; i++) {
    kl_tok_id_bytes(t->enc, t->out[i], &len);
    L += len;
  }
  return L;
}

#define TRUNC_LOOKAHEAD 32

static size_t back_to_boundary(const char *s, size_t n, size_t L) {
  while (L > 0 && L < n && ((unsigned char)s[L] & 0xc0) == 0x80) L--;
  return L;
}

int kl_tok_truncate(kl_tokenizer *t, const char *s, size_t n, const kl_sp_opts *o, size_t max, const char **text,
                    size_t *len, size_t *count) {
  if (n > KL_TOK_MAX_TEXT) return KL_TOK_TOO_LARGE;
  s = sanitized(t, s, &n);
  if (!s) return KL_TOK_NOMEM;
  size_t c;
  int rc = encode_valid(t, s, n, o, 0, max, &c);
  if (rc) return rc;
  *text = s;
  if (c <= max) {
    *len = n, *count = c;
    return KL_TOK_OK;
  }
  size_t L = back_to_boundary(s, n, bytes_of(t, max));
  /* The ids of a prefix are not always a prefix of the ids (a piece can
   * split differently at the end of the text): check, and shorten. */
  for (;;) {
    if ((rc = encode_valid(t, s, L, o, 0, max, &c))) return rc;
    if (c <= max) break;
    L = back_to_boundary(s, n, bytes_of(t, max));
  }
  /* Counts are not monotone in the prefix length ("HTT" can take more
   * tokens than "HTTP"), so look on: the longest prefix that fits, up to
   * TRUNC_LOOKAHEAD code points past the last one that did. */
  size_t L2 = L, misses = 0;
  while (L2 < n && misses < TRUNC_LOOKAHEAD) {
    size_t c2;
    L2++;
    while (L2 < n && ((unsigned char)s[L2] & 0xc0) == 0x80) L2++;
    if ((rc = encode_valid(t, s, L2, o, 1, max, &c2))) return rc;
    if (c2 <= max) L = L2, c = c2, misses = 0;
    else misses++;
  }
  *len = L, *count = c;
  return KL_TOK_OK;
}

int kl_tok_decode(const kl_encoding *e, const uint32_t *ids, size_t n, kl_buf *out, size_t *bad) {
  for (size_t i = 0; i < n; i++) {
    size_t len;
    const unsigned char *b = kl_tok_id_bytes(e, ids[i], &len);
    if (!b) {
      if (bad) *bad = i;
      return -1;
    }
    if (kl_buf_add(out, b, len)) {
      if (bad) *bad = n;
      return -1;
    }
  }
  return 0;
}
