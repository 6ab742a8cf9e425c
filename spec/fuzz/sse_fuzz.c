/* libFuzzer target for the SSE parser.
 *
 * Input: byte 0 picks max_event (small caps so TOO_LARGE is reached often),
 * the rest is the stream. The stream is parsed
 *   1. whole,
 *   2. by a deliberately naive second implementation of the WHATWG rules
 *      (byte-at-a-time over the whole input, no carry buffers),
 *   3. in chunks whose sizes come from a PRNG seeded by a hash of the input
 *      (zero-length chunks included), twice with different seeds,
 *   4. one byte at a time (short inputs),
 *   5. whole again with the callback aborting after k events,
 * and every run must give the same events, result code and pending flag.
 * Each event is also checked against the cap and the field invariants. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "sse_fuzz: check failed at line %d: %s\n", __LINE__, #cond); \
      abort();                                                                \
    }                                                                         \
  } while (0)

/* ---- a log of events, to compare runs byte for byte ---------------------- */

typedef struct {
  unsigned char *p;
  size_t len, cap;
} blob;

static void blob_add(blob *b, const void *src, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    unsigned char *np = realloc(b->p, cap);
    CHECK(np != NULL);
    b->p = np;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, src, n);
  b->len += n;
}

static void log_field(blob *b, const char *s, size_t n) {
  blob_add(b, &n, sizeof n);
  blob_add(b, s, n);
}

static void log_event(blob *b, const char *type, size_t tl, const char *data, size_t dl,
                      const char *id, size_t il, long retry) {
  log_field(b, type, tl);
  log_field(b, data, dl);
  log_field(b, id, il);
  blob_add(b, &retry, sizeof retry);
}

typedef struct {
  blob log;
  size_t max_event;
  size_t count;
  size_t abort_after; /* 0 = never */
} run;

static int on_event(void *ud, const kl_sse_event *ev) {
  run *r = ud;
  /* The cap and the shape of every event. */
  /* (the default type "message" is not buffered, so it is not counted) */
  int dflt = ev->type_len == 7 && memcmp(ev->type, "message", 7) == 0;
  CHECK(ev->data_len + ev->id_len + (dflt ? 0 : ev->type_len) <= r->max_event);
  CHECK(ev->type_len > 0);
  CHECK(ev->data[ev->data_len] == '\0' && ev->id[ev->id_len] == '\0');
  CHECK(!memchr(ev->type, '\n', ev->type_len) && !memchr(ev->type, '\r', ev->type_len));
  CHECK(!memchr(ev->id, '\n', ev->id_len) && !memchr(ev->id, '\r', ev->id_len));
  CHECK(!memchr(ev->id, '\0', ev->id_len));
  CHECK(!memchr(ev->data, '\r', ev->data_len));
  CHECK(ev->retry >= -1);
  log_event(&r->log, ev->type, ev->type_len, ev->data, ev->data_len, ev->id, ev->id_len, ev->retry);
  r->count++;
  return r->abort_after && r->count >= r->abort_after;
}

/* ---- the naive reference ------------------------------------------------- */

typedef struct {
  char *p;
  size_t len;
} str;

static void str_set(str *s, const char *src, size_t n) {
  free(s->p);
  s->p = malloc(n + 1);
  CHECK(s->p != NULL);
  memcpy(s->p, src, n);
  s->p[n] = '\0';
  s->len = n;
}

static void str_cat(str *s, const char *src, size_t n) {
  char *np = realloc(s->p, s->len + n + 1);
  CHECK(np != NULL);
  s->p = np;
  memcpy(s->p + s->len, src, n);
  s->len += n;
  s->p[s->len] = '\0';
}

/* Returns a KL_SSE_* code; logs events; *pending as kl_sse_pending would. */
static int reference(const unsigned char *in, size_t n, size_t max, blob *log, int *pending) {
  str data = {0}, type = {0}, id = {0};
  int have_data = 0, block = 0, rc = KL_SSE_OK;
  long retry = -1;
  size_t i = 0;
  *pending = 0;
  if (n >= 3 && in[0] == 0xEF && in[1] == 0xBB && in[2] == 0xBF) i = 3;
  /* A stream that so far is only a proper prefix of the BOM may still turn
   * out to be one: not a line yet, so no cap applies, but it is pending. */
  if ((n == 1 && in[0] == 0xEF) || (n == 2 && in[0] == 0xEF && in[1] == 0xBB)) {
    *pending = 1;
    return KL_SSE_OK;
  }
  while (i < n) {
    size_t start = i;
    while (i < n && in[i] != '\r' && in[i] != '\n') i++;
    size_t ll = i - start;
    if (ll > max) { rc = KL_SSE_TOO_LARGE; goto out; }
    if (i == n) { *pending = 1; break; } /* partial line at the end */
    if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n') i++;
    i++;
    const char *line = (const char *)in + start;

    if (ll == 0) { /* dispatch */
      if (have_data) {
        /* data holds lines joined with "\n" already (no trailing one) */
        const char *t = type.len ? type.p : "message";
        size_t tl = type.len ? type.len : 7;
        log_event(log, t, tl, data.p ? data.p : "", data.len, id.p ? id.p : "", id.len, retry);
      }
      str_set(&data, "", 0);
      str_set(&type, "", 0);
      have_data = 0;
      block = 0;
      retry = -1;
      continue;
    }
    if (line[0] == ':') continue;
    size_t c = 0;
    while (c < ll && line[c] != ':') c++;
    const char *v = c < ll ? line + c + 1 : line + ll;
    size_t vl = c < ll ? ll - c - 1 : 0;
    if (vl > 0 && v[0] == ' ') { v++; vl--; }
    size_t dl = have_data ? data.len : 0;
    if (c == 4 && memcmp(line, "data", 4) == 0) {
      size_t nd = have_data ? data.len + 1 + vl : vl;
      if (nd + type.len + id.len > max) { rc = KL_SSE_TOO_LARGE; goto out; }
      if (have_data) str_cat(&data, "\n", 1);
      str_cat(&data, v, vl);
      have_data = 1;
      block = 1;
    } else if (c == 5 && memcmp(line, "event", 5) == 0) {
      if (dl + vl + id.len > max) { rc = KL_SSE_TOO_LARGE; goto out; }
      str_set(&type, v, vl);
      block = 1;
    } else if (c == 2 && memcmp(line, "id", 2) == 0) {
      block = 1;
      if (memchr(v, '\0', vl)) continue;
      if (dl + type.len + vl > max) { rc = KL_SSE_TOO_LARGE; goto out; }
      str_set(&id, v, vl);
    } else if (c == 5 && memcmp(line, "retry", 5) == 0) {
      block = 1;
      size_t k = 0;
      while (k < vl && v[k] >= '0' && v[k] <= '9') k++;
      if (vl > 0 && k == vl) {
        /* saturating, like the parser */
        long r = 0;
        for (k = 0; k < vl; k++) {
          long d = v[k] - '0';
          r = (r > (LONG_MAX - d) / 10) ? LONG_MAX : r * 10 + d;
        }
        retry = r;
      }
    }
  }
  if (block) *pending = 1;
out:
  free(data.p);
  free(type.p);
  free(id.p);
  return rc;
}

/* ---- runs of the real parser -------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
  /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* mode 0: whole; 1: random chunks from seed; 2: one byte at a time. */
static int feed(const unsigned char *in, size_t n, size_t max, int mode, uint64_t seed,
                run *r, int *pending) {
  kl_sse p;
  kl_sse_init(&p, max);
  int rc = KL_SSE_OK;
  if (mode == 0) {
    rc = kl_sse_feed(&p, (const char *)in, n, on_event, r);
  } else {
    size_t at = 0;
    while (at < n && rc == KL_SSE_OK) {
      size_t len = 1;
      if (mode == 1) {
        uint64_t x = rng_next(&seed);
        switch (x & 3) {
        case 0: len = 0; break;
        case 1: len = (size_t)(x >> 8) % 4 + 1; break;
        case 2: len = (size_t)(x >> 8) % 64 + 1; break;
        default: len = (size_t)(x >> 8) % 1024 + 1; break;
        }
        if (len > n - at) len = n - at;
      }
      rc = kl_sse_feed(&p, (const char *)in + at, len, on_event, r);
      at += len;
    }
  }
  *pending = kl_sse_pending(&p);
  CHECK(p.events == r->count);
  kl_sse_free(&p);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  size_t max = (data[0] & 0x80) ? (size_t)1 << 20 : (size_t)(data[0] & 0x7f) + 1;
  const unsigned char *in = data + 1;
  size_t n = size - 1;

  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ull;

  run whole = {{0}, max, 0, 0};
  int whole_pending;
  int whole_rc = feed(in, n, max, 0, 0, &whole, &whole_pending);
  CHECK(whole_rc == KL_SSE_OK || whole_rc == KL_SSE_TOO_LARGE);

  blob ref = {0};
  int ref_pending;
  int ref_rc = reference(in, n, max, &ref, &ref_pending);
  CHECK(ref_rc == whole_rc);
  CHECK(ref.len == whole.log.len && (ref.len == 0 || memcmp(ref.p, whole.log.p, ref.len) == 0));
  if (whole_rc == KL_SSE_OK) CHECK(ref_pending == whole_pending);
  free(ref.p);

  for (int k = 0; k < 3; k++) {
    int mode = k < 2 ? 1 : 2;
    if (mode == 2 && n > 4096) break;
    run r = {{0}, max, 0, 0};
    int pend;
    int rc = feed(in, n, max, mode, h + (uint64_t)k, &r, &pend);
    CHECK(rc == whole_rc);
    CHECK(r.log.len == whole.log.len &&
          (r.log.len == 0 || memcmp(r.log.p, whole.log.p, r.log.len) == 0));
    if (rc == KL_SSE_OK) CHECK(pend == whole_pending);
    free(r.log.p);
  }

  if (whole.count > 0) {
    run r = {{0}, max, 0, (size_t)(h % whole.count) + 1};
    int pend;
    int rc = feed(in, n, max, 0, 0, &r, &pend);
    CHECK(rc == KL_SSE_ABORT && r.count == r.abort_after);
    CHECK(r.log.len <= whole.log.len && memcmp(r.log.p, whole.log.p, r.log.len) == 0);
    free(r.log.p);
  }
  free(whole.log.p);
  return 0;
}
