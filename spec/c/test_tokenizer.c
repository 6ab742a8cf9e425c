/* C tests for the tokenizer around the BPE: encodings shared by every thread
 * (loaded once), special-token scanning at the edges, truncation, decoding,
 * SHA-1 (tiktoken's cache names). TAP output. Tests that need a vocabulary
 * SKIP when build/vocab is missing (`make vocab`). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "sha1.h"
#include "tap.h"
#include "tokenize.h"

static void test_sha1(void) {
  static const struct { const char *in, *hex; } v[] = {
    { "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
    { "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
    { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
    { "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
      "9b5ad71b2ce5302211f9c61530b329a4922fc6a4" },
    { "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
      "fb374d419588a4632f3f557e76b4b70aebbca790" },
  };
  char hex[41];
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    kl_sha1_hex(v[i].in, strlen(v[i].in), hex);
    ok(strcmp(hex, v[i].hex) == 0, "sha1(\"%.20s...\") = %s", v[i].in, hex);
  }
  /* lengths around the 55/56/64-byte padding boundaries against a
   * block-by-block reference is overkill; one million 'a' is the FIPS vector */
  char *m = malloc(1000000);
  memset(m, 'a', 1000000);
  kl_sha1_hex(m, 1000000, hex);
  free(m);
  ok(strcmp(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f") == 0, "sha1(a x 1e6)");
}

#define NTHREADS 8
static const kl_encoding *got[NTHREADS];
static void *getter(void *arg) {
  char err[512];
  got[(size_t)arg] = kl_encoding_get("o200k_base", err, sizeof err);
  return NULL;
}

static void test_shared(void) {
  pthread_t th[NTHREADS];
  for (size_t i = 0; i < NTHREADS; i++) pthread_create(&th[i], NULL, getter, (void *)i);
  for (size_t i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  int same = got[0] != NULL;
  for (size_t i = 1; i < NTHREADS; i++) same = same && got[i] == got[0];
  ok(same, "%d threads asking at once get one shared o200k_base", NTHREADS);
  char err[512];
  ok(kl_encoding_get("o200k_harmony", err, sizeof err)->vocab == got[0]->vocab,
     "o200k_harmony shares o200k_base's vocabulary");
  ok(kl_encoding_get("nope", err, sizeof err) == NULL && strstr(err, "unknown encoding 'nope'"),
     "unknown encoding: %s", err);
}

static size_t enc(kl_tokenizer *t, const char *s, const kl_sp_opts *o, int *rc) {
  size_t c;
  *rc = kl_tok_encode(t, s, strlen(s), o, 0, SIZE_MAX, &c);
  return c;
}

static void test_specials(const kl_encoding *e) {
  kl_tokenizer t;
  kl_tok_init(&t, e);
  kl_sp_opts all = { KL_SP_ALL, KL_SP_ALL, NULL, NULL };
  int rc;
  static const struct { const char *s; size_t nspecial; } cases[] = {
    { "<|endoftext", 0 }, { "<|", 0 }, { "<", 0 }, { "|>", 0 }, { "<||>", 0 }, { "<|endoftext|", 0 },
    { "<|<|endoftext|>", 1 }, { "<|endoftext|><|endoftext|>", 2 }, { "a<|endoftext|>", 1 },
    { "<|endoftext|>", 1 }, { "<|endofprompt|>x<|fim_suffix|>", 2 }, { "<|ENDOFTEXT|>", 0 },
    { "<| endoftext|>", 0 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t n = enc(&t, cases[i].s, &all, &rc), sp = 0;
    for (size_t k = 0; k < t.nout; k++) sp += kl_encoding_special_id(e, t.out[k]) != NULL;
    kl_buf b;
    kl_buf_init(&b, 1 << 20);
    int dec = kl_tok_decode(e, t.out, t.nout, &b, NULL);
    ok(rc == 0 && sp == cases[i].nspecial && n == t.nout && dec == 0 && b.len == strlen(cases[i].s) &&
           memcmp(kl_buf_cstr(&b), cases[i].s, b.len) == 0,
       "\"%s\": %zu special token(s), decodes back", cases[i].s, cases[i].nspecial);
    kl_buf_free(&b);
    size_t c;
    rc = kl_tok_encode(&t, cases[i].s, strlen(cases[i].s), &KL_SP_DEFAULT, 1, SIZE_MAX, &c);
    ok((rc == KL_TOK_DISALLOWED) == (cases[i].nspecial > 0), "\"%s\": default options %s", cases[i].s,
       cases[i].nspecial ? "refuse it" : "accept it");
  }
  /* the error names the leftmost disallowed token and its offset */
  const char *s = "ab <|fim_middle|> <|endoftext|>";
  size_t c;
  rc = kl_tok_encode(&t, s, strlen(s), &KL_SP_DEFAULT, 1, SIZE_MAX, &c);
  ok(rc == KL_TOK_DISALLOWED && strcmp(t.bad->text, "<|fim_middle|>") == 0 && t.bad_at == 3,
     "disallowed: first token, offset 3");
  /* a limit stops early, but a disallowed token anywhere is still an error */
  rc = kl_tok_encode(&t, s, strlen(s), &KL_SP_DEFAULT, 1, 0, &c);
  ok(rc == KL_TOK_DISALLOWED, "disallowed found past the limit too");
  kl_tok_free(&t);
}

static void test_truncate(const kl_encoding *e) {
  kl_tokenizer t;
  kl_tok_init(&t, e);
  const char *s = "Hello wonderful world of tokens, 日本語 and 👨‍👩‍👧 emoji!";
  size_t total;
  kl_tok_encode(&t, s, strlen(s), &KL_SP_ORDINARY, 1, SIZE_MAX, &total);
  int good = 1;
  for (size_t max = 0; max <= total + 1; max++) {
    const char *p;
    size_t len, cnt, check;
    int rc = kl_tok_truncate(&t, s, strlen(s), &KL_SP_ORDINARY, max, &p, &len, &cnt);
    kl_tok_encode(&t, p, len, &KL_SP_ORDINARY, 1, SIZE_MAX, &check);
    if (rc || p != s || cnt > max || check != cnt || (len < strlen(s) && ((unsigned char)s[len] & 0xc0) == 0x80))
      good = 0;
    if (max >= total && len != strlen(s)) good = 0;
  }
  ok(good, "truncate: every max from 0 to %zu gives a fitting prefix on a boundary", total + 1);
  kl_tok_free(&t);
}

static void test_decode_errors(const kl_encoding *e) {
  kl_buf b, small;
  kl_buf_init(&b, 1 << 10);
  kl_buf_init(&small, 4);
  uint32_t ids[] = { 15339, 1917 }, bad_ids[] = { 15339, 100256 };
  size_t bad = 0;
  ok(kl_tok_decode(e, bad_ids, 2, &b, &bad) == -1 && bad == 1, "decode: an id past the ranks is refused at its index");
  ok(kl_tok_decode(e, ids, 2, &small, &bad) == -1 && bad == 2, "decode: output cap reported as index n");
  kl_buf_free(&b);
  kl_buf_free(&small);
}

int main(void) {
  test_sha1();
  char err[2048];
  const kl_encoding *cl = kl_encoding_get("cl100k_base", err, sizeof err);
  if (!cl) {
    skip("tokenizer tests: %s", err);
    return tap_done();
  }
  test_shared();
  test_specials(cl);
  test_truncate(cl);
  test_decode_errors(cl);
  return tap_done();
}
