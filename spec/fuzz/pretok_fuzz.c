/* libFuzzer target for src/core/pretok.c: random bytes -> kl_utf8_sanitize
 * (output must be valid UTF-8, identical when the input was valid) -> each
 * pattern's pieces must be non-empty, contiguous and concatenate back to the
 * sanitized input exactly. Also runs kl_pretok on the raw bytes (invalid
 * UTF-8 is outside the contract but must not crash or lose bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pretok.h"

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
  split_all((const char *)data, size);
  free(out);
  return 0;
}
