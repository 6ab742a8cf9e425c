/* C unit tests of SHA-256 (src/core/sha256.c), .tiktoken loading
 * (src/core/vocab.c) and byte-pair merging (src/core/bpe.c), TAP output.
 *
 * The vocabulary tests need the .tiktoken files in build/vocab (`make vocab`; the
 * directory can be overridden with KEEL_VOCAB_DIR) and report SKIP without
 * them. Expected ids come from spec/fixtures/bpe/<enc>.txt, written by
 * scripts/gen_bpe_fixtures.mjs from npm tiktoken (OpenAI's Rust core). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpe.h"
#include "buf.h"
#include "sha256.h"
#include "vocab.h"
#include "tap.h"

/* The linear-time bound for a 1 MiB piece. The target is < 50 ms in an
 * optimised build (measured ~15 ms); these tests run under ASan+UBSan,
 * which costs about 4-5x, so the bound here is 250 ms. A quadratic merge
 * (tiktoken's) takes minutes on these inputs, so the bound still tells
 * the two apart. */
#define KL_TEST_LINEAR_MS 250



static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* ---- SHA-256 ---------------------------------------------------------------- */

static void test_sha256(void) {
  static const struct { const char *in; long repeat; const char *hex; } v[] = {
    {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
  for (int accel = 0; accel < 2; accel++) {
    int on = kl_sha256_accel(accel);
    if (accel && !on) {
      skip("sha256: CPU has no SHA extensions");
      continue;
    }
    const char *how = accel ? "SHA-NI" : "portable";
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
      size_t len = strlen(v[i].in) * (size_t)v[i].repeat;
      char *buf = malloc(len + 1);
      for (long r = 0; r < v[i].repeat; r++) memcpy(buf + (size_t)r * strlen(v[i].in), v[i].in, strlen(v[i].in));
      char hex[65];
      kl_sha256_hex(buf, len, hex);
      ok(strcmp(hex, v[i].hex) == 0, "sha256 %s: %zu bytes of \"%.8s...\"", how, len, v[i].in);
      /* the same through update() in uneven chunks */
      kl_sha256_ctx c;
      unsigned char d[32];
      kl_sha256_init(&c);
      size_t off = 0, step = 1;
      while (off < len) {
        size_t k = len - off < step ? len - off : step;
        kl_sha256_update(&c, buf + off, k);
        off += k;
        step = step * 3 % 257 + 1;
      }
      kl_sha256_final(&c, d);
      char hx2[65];
      for (int j = 0; j < 32; j++) snprintf(hx2 + 2 * j, 3, "%02x", d[j]);
      ok(strcmp(hx2, v[i].hex) == 0, "sha256 %s incremental: %zu bytes", how, len);
      free(buf);
    }
  }
  kl_sha256_accel(1);
}

/* ---- vocabulary parsing ---------------------------------------------------------- */

static kl_vocab *parse(const char *s, char *err, size_t errlen) {
  err[0] = 0;
  return kl_vocab_parse(s, strlen(s), err, errlen);
}

static void parse_err(const char *text, const char *want, const char *what) {
  char err[256];
  kl_vocab *v = parse(text, err, sizeof err);
  ok(v == NULL && strcmp(err, want) == 0, "parse error, %s: \"%s\" (want \"%s\")", what, err, want);
  kl_vocab_free(v);
}

static void test_vocab_parse(void) {
  char err[256];
  /* "a"=0, "b"=1, "ab"=3 (gap at 2), "abc"=4, CRLF line, no final LF */
  kl_vocab *v = parse("YQ== 0\nYg== 1\nYWI= 3\r\nYWJj 4", err, sizeof err);
  ok(v != NULL, "small vocab parses (%s)", err);
  if (v) {
    size_t n;
    const unsigned char *b;
    ok(kl_vocab_size(v) == 4 && kl_vocab_rank_end(v) == 5, "size 4, rank_end 5");
    ok(kl_vocab_rank(v, (const unsigned char *)"ab", 2) == 3, "rank(ab) = 3");
    ok(kl_vocab_rank(v, (const unsigned char *)"abc", 3) == 4, "rank(abc) = 4");
    ok(kl_vocab_rank(v, (const unsigned char *)"a", 1) == 0, "rank(a) = 0");
    ok(kl_vocab_rank(v, (const unsigned char *)"ba", 2) == -1, "rank(ba) = -1");
    ok(kl_vocab_rank(v, (const unsigned char *)"abcd", 4) == -1, "rank(abcd) = -1");
    ok(kl_vocab_rank(v, (const unsigned char *)"", 0) == -1, "rank of empty = -1");
    ok(kl_vocab_bytes(v, 2, &n) == NULL && n == 0, "rank 2 is a gap");
    ok(kl_vocab_bytes(v, 5, &n) == NULL, "rank 5 is past the end");
    ok(kl_vocab_bytes(v, 99999999, &n) == NULL, "huge rank is past the end");
    b = kl_vocab_bytes(v, 4, &n);
    ok(b && n == 3 && memcmp(b, "abc", 3) == 0, "bytes(4) = abc");
    ok(!kl_vocab_complete(v), "not complete (no all-256 single bytes)");
    /* BPE over an incomplete vocab: a byte without a rank fails cleanly */
    kl_bpe_scratch s;
    kl_bpe_scratch_init(&s);
    uint32_t out[8];
    ok(kl_bpe_encode_piece(v, (const unsigned char *)"abc", 3, out, &s) == 1 && out[0] == 4,
       "whole piece fast path: abc -> [4]");
    ok(kl_bpe_encode_piece(v, (const unsigned char *)"aab", 3, out, &s) == 2 && out[0] == 0 &&
           out[1] == 3, "aab -> [0 3]");
    ok(kl_bpe_encode_piece(v, (const unsigned char *)"abx", 3, out, &s) == SIZE_MAX,
       "a byte with no rank -> SIZE_MAX");
    ok(kl_bpe_encode_piece(v, (const unsigned char *)"", 0, out, &s) == 0, "empty piece -> 0");
    kl_bpe_scratch_free(&s);
    kl_vocab_free(v);
  }
  parse_err("", "1: empty vocabulary", "empty");
  parse_err("YQ== 0\nYg==1\n", "2: expected \"BASE64 RANK\"", "no space");
  parse_err("YQ== 0\nY*== 1\n", "2: bad base64 token", "bad base64 char");
  parse_err("YQ= 0\n", "1: bad base64 token", "base64 length not a multiple of 4");
  parse_err("YR== 0\n", "1: bad base64 token", "non-canonical padding bits");
  parse_err("YQ=a 0\n", "1: bad base64 token", "padding in the middle");
  parse_err(" 0\n", "1: bad base64 token", "empty token");
  parse_err("YQ== \n", "1: missing rank", "missing rank");
  parse_err("YQ== 1x\n", "1: bad rank", "bad rank");
  parse_err("YQ== -1\n", "1: bad rank", "negative rank");
  parse_err("YQ== 99999999999\n", "1: bad rank", "rank beyond 32 bits");
  parse_err("YQ== 5000\n", "1: rank 5000 out of range for 1 lines", "rank far past the line count");
  parse_err("YQ== 0\nYg== 0\n", "2: duplicate rank 0", "duplicate rank");
  parse_err("YQ== 0\nYQ== 1\n", "2: duplicate token (also rank 0)", "duplicate single byte");
  parse_err("YWI= 0\nYWI= 1\n", "2: duplicate token (also rank 0)", "duplicate pair");
  parse_err("YWJj 0\nYg== 1\nYWJj 2\n", "3: duplicate token (also rank 0)", "duplicate long token");
  parse_err("YQ== 0\n\nYg== 1\n", "2: expected \"BASE64 RANK\"", "blank line");

  /* kl_vocab_load: path in errors, sha256 check */
  char path[] = "/tmp/keel_test_bpe_XXXXXX";
  int fd = mkstemp(path);
  const char *bad = "YQ== 0\nnope\n";
  ok(fd >= 0 && write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad), "temp file written");
  if (fd >= 0) close(fd);
  char want[512];
  v = kl_vocab_load(path, NULL, err, sizeof err);
  snprintf(want, sizeof want, "%s:2: expected \"BASE64 RANK\"", path);
  ok(!v && strcmp(err, want) == 0, "load error names file:line: %s", err);
  char hex[65];
  kl_sha256_hex(bad, strlen(bad), hex);
  const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";
  v = kl_vocab_load(path, zero, err, sizeof err);
  snprintf(want, sizeof want, "%s: sha256 mismatch: expected %s got %s", path, zero, hex);
  ok(!v && strcmp(err, want) == 0, "sha256 mismatch message: %s", err);
  v = kl_vocab_load(path, "abc", err, sizeof err);
  ok(!v && strstr(err, "not 64 hex digits"), "malformed expected hash: %s", err);
  unlink(path);
  v = kl_vocab_load(path, NULL, err, sizeof err);
  ok(!v && strstr(err, "cannot open") && strstr(err, path), "missing file: %s", err);
}

/* ---- real vocabularies ------------------------------------------------------------- */

static const struct {
  const char *name, *sha;
  uint32_t size, rank_end;
} ENCS[] = {
  {"r50k_base", "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930", 50256, 50256},
  {"p50k_base", "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069", 50280, 50281},
  {"cl100k_base", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7", 100256, 100256},
  {"o200k_base", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d", 199998, 199998},
};

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, len = 0;
  char *b = malloc(cap);
  size_t r;
  while ((r = fread(b + len, 1, cap - len - 1, f)) > 0) {
    len += r;
    if (cap - len < 2) b = realloc(b, cap *= 2);
  }
  fclose(f);
  b[len] = 0;
  *n = len;
  return b;
}

static int hexv(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

static void test_fixtures(const kl_vocab *v, const char *name, kl_bpe_scratch *s) {
  char path[256];
  snprintf(path, sizeof path, "spec/fixtures/bpe/%s.txt", name);
  size_t n;
  char *text = slurp(path, &n);
  if (!text) {
    skip("%s: no fixture file %s", name, path);
    return;
  }
  int cases = 0, bad = 0, bad_simple = 0, bad_decode = 0;
  unsigned char *piece = malloc(n);
  uint32_t *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
  kl_buf dec;
  kl_buf_init(&dec, 1 << 24);
  for (char *line = text; *line;) {
    char *eol = strchr(line, '\n');
    if (eol) *eol = 0;
    if (*line && *line != '#') {
      char *tab = strchr(line, '\t');
      size_t pn = 0, wn = 0;
      for (char *h = line; tab && h + 1 < tab; h += 2) piece[pn++] = (unsigned char)(hexv(h[0]) << 4 | hexv(h[1]));
      for (char *q = tab ? tab + 1 : line + strlen(line); *q;) {
        char *e;
        want[wn++] = (uint32_t)strtoul(q, &e, 10);
        q = e;
        while (*q == ' ') q++;
      }
      cases++;
      size_t gn = kl_bpe_encode_piece(v, piece, pn, got, s);
      if (gn != wn || memcmp(got, want, wn * sizeof *got) != 0) {
        if (bad++ < 3)
          printf("# %s: piece of %zu bytes (%.40s...) got %zu ids, want %zu\n", name, pn, line, gn, wn);
      }
      gn = kl_bpe_encode_piece_simple(v, piece, pn, got, s);
      if (gn != wn || memcmp(got, want, wn * sizeof *got) != 0) bad_simple++;
      kl_buf_reset(&dec);
      if (kl_bpe_decode(v, want, wn, &dec, NULL) != 0 || dec.len != pn || memcmp(dec.data, piece, pn) != 0)
        bad_decode++;
    }
    if (!eol) break;
    line = eol + 1;
  }
  ok(cases > 100 && bad == 0, "%s: %d fixture pieces encode as npm tiktoken (%d differ)", name, cases, bad);
  ok(cases > 100 && bad_simple == 0, "%s: the O(n*m) reference scan agrees on them (%d differ)", name,
     bad_simple);
  ok(cases > 100 && bad_decode == 0, "%s: decoding the expected ids gives the piece back (%d differ)",
     name, bad_decode);
  kl_buf_free(&dec);
  free(piece);
  free(want);
  free(got);
  free(text);
}

static uint64_t rng = 88172645463325252ull;
static uint32_t xr(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)rng;
}

static void test_vocab_real(const char *dir) {
  kl_bpe_scratch s;
  kl_bpe_scratch_init(&s);
  for (size_t e = 0; e < sizeof ENCS / sizeof ENCS[0]; e++) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s.tiktoken", dir, ENCS[e].name);
    if (access(path, R_OK) != 0) {
      skip("%s: %s missing (run make vocab)", ENCS[e].name, path);
      continue;
    }
    double t0 = now_ms();
    kl_vocab *v = kl_vocab_load(path, ENCS[e].sha, err, sizeof err);
    double t1 = now_ms();
    ok(v != NULL, "%s: loads with the pinned sha256 (%.1f ms under ASan) %s", ENCS[e].name, t1 - t0,
       v ? "" : err);
    if (!v) continue;
    ok(kl_vocab_size(v) == ENCS[e].size && kl_vocab_rank_end(v) == ENCS[e].rank_end,
       "%s: %u tokens, ranks 0..%u", ENCS[e].name, kl_vocab_size(v), kl_vocab_rank_end(v) - 1);
    ok(kl_vocab_complete(v), "%s: all 256 single bytes are tokens", ENCS[e].name);
    uint32_t bad = 0, gaps = 0;
    for (uint32_t r = 0; r < kl_vocab_rank_end(v); r++) {
      size_t n;
      const unsigned char *b = kl_vocab_bytes(v, r, &n);
      if (!b) gaps++;
      else if (kl_vocab_rank(v, b, n) != (int32_t)r) bad++;
    }
    ok(bad == 0 && gaps == ENCS[e].rank_end - ENCS[e].size, "%s: rank -> bytes -> rank for every rank (%u gaps)",
       ENCS[e].name, gaps);

    test_fixtures(v, ENCS[e].name, &s);

    /* heap merge and the reference scan agree on random long pieces */
    unsigned char p[2048];
    uint32_t o1[2048], o2[2048];
    int diff = 0;
    for (int it = 0; it < 300; it++) {
      size_t n = 128 + xr() % 1500;
      const char *alpha[] = {"ab", "a b", "etaoin ", "\n ", "aeiou"};
      const char *al = alpha[xr() % 5];
      for (size_t i = 0; i < n; i++) p[i] = xr() % 5 == 0 ? (unsigned char)xr() : (unsigned char)al[xr() % strlen(al)];
      size_t n1 = kl_bpe_encode_piece(v, p, n, o1, &s), n2 = kl_bpe_encode_piece_simple(v, p, n, o2, &s);
      if (n1 != n2 || memcmp(o1, o2, n1 * sizeof *o1)) diff++;
    }
    ok(diff == 0, "%s: heap merge = tiktoken scan on 300 random pieces of 128..1627 bytes", ENCS[e].name);

    /* decode errors */
    kl_buf b;
    kl_buf_init(&b, 4);
    size_t badi = 99;
    uint32_t ids[3] = {0, ENCS[e].rank_end, 1};
    ok(kl_bpe_decode(v, ids, 3, &b, &badi) == -1 && badi == 1, "%s: decode of an unknown id fails at index 1",
       ENCS[e].name);
    uint32_t many[5] = {0, 0, 0, 0, 0};
    kl_buf_reset(&b);
    ok(kl_bpe_decode(v, many, 5, &b, &badi) == -1 && badi == 5, "%s: decode stops at the buffer cap",
       ENCS[e].name);
    kl_buf_free(&b);
    if (ENCS[e].rank_end != ENCS[e].size) {
      uint32_t gap = 50256;
      kl_buf_init(&b, 100);
      ok(kl_bpe_decode(v, &gap, 1, &b, &badi) == -1 && badi == 0, "%s: the gap rank 50256 does not decode",
         ENCS[e].name);
      kl_buf_free(&b);
    }

    /* linear time on 1 MiB pieces (a quadratic merge would take minutes) */
    if (!strcmp(ENCS[e].name, "cl100k_base") || !strcmp(ENCS[e].name, "o200k_base")) {
      size_t N = 1 << 20;
      unsigned char *big = malloc(N);
      uint32_t *out = malloc(N * sizeof *out);
      const char fills[] = {'a', ' ', '\n'};
      for (int k = 0; k < 3; k++) {
        memset(big, fills[k], N);
        double a = now_ms();
        size_t m = kl_bpe_encode_piece(v, big, N, out, &s);
        double t = now_ms() - a;
        /* periodicity: a run encodes as repeats of one token, plus a tail */
        int periodic = m != SIZE_MAX && m > 1;
        for (size_t i = 1; periodic && i + 1 < m; i++) periodic = out[i] == out[0];
        size_t tok0;
        kl_vocab_bytes(v, out[0], &tok0);
        ok(periodic && t < KL_TEST_LINEAR_MS,
           "%s: 1 MiB of 0x%02x -> %zu tokens (%zu-byte token repeated) in %.1f ms (< %d)", ENCS[e].name,
           fills[k], m, tok0, t, KL_TEST_LINEAR_MS);
      }
      free(big);
      free(out);
    }
    kl_vocab_free(v);
  }
  kl_bpe_scratch_free(&s);
}

int main(void) {
  const char *dir = getenv("KEEL_VOCAB_DIR");
  if (!dir || !*dir) dir = "build/vocab";
  test_sha256();
  test_vocab_parse();
  test_vocab_real(dir);
  return tap_done();
}
