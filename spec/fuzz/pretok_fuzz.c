/* libFuzzer target for src/core/pretok.c: random bytes -> kl_utf8_sanitize
 * (output must be valid UTF-8, identical when the input was valid) -> each
 * pattern's pieces must be non-empty, contiguous and concatenate back to the
 * sanitized input exactly. Also runs kl_pretok on the raw bytes (invalid
 * UTF-8 is outside the contract but must not crash or lose bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pretok.h"

/* A second copy of the pretokenizer without its ASCII fast paths, under
 * other names: every split must be the same as the general code's. */
#define KL_PRETOK_NO_FAST 1
#define kl_pretok kl_pretok_ref
#define kl_utf8_valid kl_utf8_valid_ref
#define kl_utf8_sanitize kl_utf8_sanitize_ref
#define kl_unicode_class kl_unicode_class_ref
#include "pretok.c"
#undef kl_pretok
#undef kl_utf8_valid
#undef kl_utf8_sanitize
#undef kl_unicode_class

typedef struct {
  const char *p[4096];
  size_t len[4096];
  size_t n;
  int over;
} pieces;

static int collect(void *ud, const char *p, size_t len) {
  pieces *q = ud;
  if (q->n == 4096) {
    q->over = 1;
    return 1;
  }
  q->p[q->n] = p, q->len[q->n] = len, q->n++;
  return 0;
}

/* The fast and the reference splits of valid UTF-8 agree piece for piece. */
static void same_split(const char *s, size_t n) {
  static pieces a, b;
  for (int pat = KL_PAT_R50K; pat <= KL_PAT_O200K; pat++) {
    a.n = b.n = 0;
    a.over = b.over = 0;
    kl_pretok((kl_pat)pat, s, n, collect, &a);
    kl_pretok_ref((kl_pat)pat, s, n, collect, &b);
    if (a.over != b.over || a.n != b.n) abort();
    for (size_t i = 0; i < a.n; i++)
      if (a.p[i] != b.p[i] || a.len[i] != b.len[i]) abort();
  }
}

typedef struct {
  const char *at, *end;
} cursor;

static int check(void *ud, const char *p, size_t len) {
  cursor *c = ud;
  if (len == 0 || p != c->at || len > (size_t)(c->end - c->at)) abort();
  c->at += len;
  return 0;
}

static void split_all(const char *s, size_t n) {
  for (int pat = KL_PAT_R50K; pat <= KL_PAT_O200K; pat++) {
    cursor c = {s, s + n};
    if (kl_pretok((kl_pat)pat, s, n, check, &c) != 0 || c.at != s + n) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *out = malloc(3 * size + 1);
  if (!out) return 0;
  size_t m = kl_utf8_sanitize((const char *)data, size, out);
  int valid = kl_utf8_valid((const char *)data, size);
  if (!kl_utf8_valid(out, m)) abort();
  if (valid && (m != size || memcmp(out, data, size) != 0)) abort();
  if (!valid && m == size && memcmp(out, data, size) == 0) abort();
  split_all(out, m);
  same_split(out, m);
  split_all((const char *)data, size);
  free(out);
  return 0;
}
