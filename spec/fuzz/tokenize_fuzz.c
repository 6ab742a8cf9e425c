/* libFuzzer target: the whole tokenizer on arbitrary bytes, with the real
 * vocabularies (build/vocab; `make vocab`). The first byte picks the
 * encoding, the special-token options, the piece cache and a truncation
 * limit; the rest is the text. Checks: no crash or leak; decode(encode(x))
 * is x with invalid UTF-8 replaced by U+FFFD (special tokens decode to
 * their text, so this holds with every option); count == #encode; the
 * ordinary ids equal the default ones when the default ones succeed; a
 * truncation fits, is a prefix on a code point boundary, and cannot keep
 * one more code point. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pretok.h"
#include "tokenize.h"

static const char *NAMES[] = { "cl100k_base", "o200k_base", "r50k_base", "p50k_edit" };
#define NENC 4
static kl_tokenizer toks[NENC];
static int ready;

static void setup(void) {
  char err[2048];
  for (int i = 0; i < NENC; i++) {
    const kl_encoding *e = kl_encoding_get(NAMES[i], err, sizeof err);
    if (!e) {
      fprintf(stderr, "tokenize_fuzz: %s\n", err);
      abort(); /* a fuzz run without vocabularies would prove nothing */
    }
    kl_tok_init(&toks[i], e);
  }
  ready = 1;
}

static __attribute__((destructor)) void teardown(void) {
  if (ready)
    for (int i = 0; i < NENC; i++) kl_tok_free(&toks[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ready) setup();
  if (size < 1) return 0;
  unsigned ctl = data[0];
  const char *s = (const char *)data + 1;
  size_t n = size - 1;
  kl_tokenizer *t = &toks[ctl % NENC];
  const kl_encoding *e = t->enc;
  kl_tok_cache(t, (ctl >> 2) & 1);
  kl_sp_opts all = { KL_SP_ALL, KL_SP_ALL, NULL, NULL };
  const kl_sp_opts *o = (ctl >> 3) & 1 ? &all : &KL_SP_ORDINARY;

  char *clean = malloc(3 * n + 1);
  size_t cn = kl_utf8_sanitize(s, n, clean);

  size_t count, count2;
  if (kl_tok_encode(t, s, n, o, 0, SIZE_MAX, &count) != KL_TOK_OK) abort();
  if (count != t->nout) abort();
  uint32_t *ids = malloc((count + 1) * sizeof *ids);
  memcpy(ids, t->out, count * sizeof *ids);
  kl_buf b;
  kl_buf_init(&b, 4 * n + 64);
  if (kl_tok_decode(e, ids, count, &b, NULL) != 0) abort();
  if (b.len != cn || memcmp(b.data ? b.data : "", clean, cn) != 0) abort();
  kl_buf_free(&b);
  if (kl_tok_encode(t, s, n, o, 1, SIZE_MAX, &count2) != KL_TOK_OK || count2 != count) abort();

  /* the default options: either an error naming a special that is there, or the ordinary ids */
  int rc = kl_tok_encode(t, s, n, &KL_SP_DEFAULT, 0, SIZE_MAX, &count2);
  if (rc == KL_TOK_DISALLOWED) {
    if (t->bad_at + t->bad->len > cn || memcmp(clean + t->bad_at, t->bad->text, t->bad->len) != 0) abort();
  } else if (o == &KL_SP_ORDINARY && (count2 != count || memcmp(t->out, ids, count * sizeof *ids) != 0)) {
    abort();
  }

  size_t max = ctl >> 4, len, c;
  const char *p;
  if (kl_tok_truncate(t, s, n, o, max, &p, &len, &c) != KL_TOK_OK) abort();
  if (c > max || len > cn || memcmp(p, clean, len) != 0) abort();
  if (len < cn) {
    if (((unsigned char)clean[len] & 0xc0) == 0x80) abort();
    size_t l2 = len + 1;
    while (l2 < cn && ((unsigned char)clean[l2] & 0xc0) == 0x80) l2++;
    char *copy = malloc(l2 + 1);
    memcpy(copy, clean, l2);
    if (kl_tok_encode(t, copy, l2, o, 1, SIZE_MAX, &count2) != KL_TOK_OK || count2 <= max) abort();
    free(copy);
  } else if (c != count) abort();
  free(ids);
  free(clean);
  return 0;
}
