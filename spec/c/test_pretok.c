/* C unit tests of the tiktoken pretokenizers and UTF-8 repair
 * (src/core/pretok.c), TAP output.
 *
 * spec/fixtures/pretok/<pat>.txt come from OpenAI's implementation (npm
 * tiktoken@1.0.22) through scripts/gen_pretok_fixtures.mjs: one case per
 * line, hex of the input, TAB, comma-separated piece byte lengths.
 * sanitize.txt: hex of random bytes, TAB, hex of TextDecoder's repair.
 * Run from the repository root (or set KEEL_ROOT). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pretok.h"
#include "tap.h"


static FILE *open_fixture(const char *name) {
  char path[1024];
  const char *root = getenv("KEEL_ROOT");
  snprintf(path, sizeof path, "%s%sspec/fixtures/pretok/%s", root ? root : "", root ? "/" : "", name);
  FILE *f = fopen(path, "rb");
  if (!f) printf("# cannot open %s\n", path);
  return f;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes hex from p up to a TAB/newline/NUL into out; returns bytes or -1. */
static long unhex(const char *p, const char **end, char *out, size_t cap) {
  size_t n = 0;
  while (*p && *p != '\t' && *p != '\n') {
    int h = hexval(p[0]), l = p[1] ? hexval(p[1]) : -1;
    if (h < 0 || l < 0 || n >= cap) return -1;
    out[n++] = (char)(h * 16 + l);
    p += 2;
  }
  *end = p;
  return (long)n;
}

static void put_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) printf("%02x", (unsigned char)s[i]);
}

/* ---- collecting pieces ---- */
typedef struct {
  size_t len[4096];
  size_t n, total;
  const char *base, *expect_at;
  int bad; /* piece empty or not contiguous */
  int stop_after;
} pieces;

static int collect(void *ud, const char *p, size_t len) {
  pieces *c = ud;
  if (len == 0 || p != c->expect_at) c->bad = 1;
  c->expect_at = p + len;
  c->total += len;
  if (c->n < sizeof c->len / sizeof c->len[0]) c->len[c->n] = len;
  c->n++;
  if (c->stop_after && (int)c->n == c->stop_after) return 42;
  return 0;
}

static void check_fixture(const char *file, kl_pat pat) {
  FILE *f = open_fixture(file);
  if (!f) {
    ok(0, "%s: fixture present", file);
    return;
  }
  static char line[1 << 16], in[1 << 15];
  static pieces c;
  int cases = 0, bad = 0;
  while (fgets(line, sizeof line, f)) {
    const char *p;
    long n = unhex(line, &p, in, sizeof in);
    if (n < 0 || *p != '\t') {
      bad++;
      printf("# %s: bad line %d\n", file, cases + 1);
      continue;
    }
    p++;
    size_t want[4096], nw = 0;
    while (*p && *p != '\n') {
      char *e;
      want[nw++] = strtoul(p, &e, 10);
      p = *e == ',' ? e + 1 : e;
      if (nw == 4096) break;
    }
    memset(&c, 0, sizeof c);
    c.base = c.expect_at = in;
    int rc = kl_pretok(pat, in, (size_t)n, collect, &c);
    int same = rc == 0 && !c.bad && c.total == (size_t)n && c.n == nw;
    for (size_t i = 0; same && i < nw; i++) same = c.len[i] == want[i];
    cases++;
    if (!same) {
      if (++bad <= 15) {
        printf("# %s mismatch: input ", file);
        put_hex(in, (size_t)n);
        printf("\n#   want");
        for (size_t i = 0; i < nw; i++) printf(" %zu", want[i]);
        printf("\n#   got ");
        for (size_t i = 0; i < c.n && i < 4096; i++) printf(" %zu", c.len[i]);
        printf("\n");
      }
    }
  }
  fclose(f);
  ok(cases > 100 && bad == 0, "%s: %d cases, %d mismatches", file, cases, bad);
}

static void check_sanitize_fixture(void) {
  FILE *f = open_fixture("sanitize.txt");
  if (!f) {
    ok(0, "sanitize.txt: fixture present");
    return;
  }
  static char line[1 << 16], in[1 << 14], want[1 << 14], got[3 << 14];
  int cases = 0, bad = 0;
  while (fgets(line, sizeof line, f)) {
    const char *p;
    long n = unhex(line, &p, in, sizeof in);
    long m = n >= 0 && *p == '\t' ? unhex(p + 1, &p, want, sizeof want) : -1;
    cases++;
    if (m < 0) {
      bad++;
      continue;
    }
    size_t g = kl_utf8_sanitize(in, (size_t)n, got);
    int same = g == (size_t)m && memcmp(got, want, g) == 0 && kl_utf8_valid(got, g) &&
               kl_utf8_valid(in, (size_t)n) == (m == n && memcmp(in, want, (size_t)n) == 0);
    if (!same && ++bad <= 10) {
      printf("# sanitize mismatch: in ");
      put_hex(in, (size_t)n);
      printf(" want ");
      put_hex(want, (size_t)m);
      printf(" got ");
      put_hex(got, g);
      printf("\n");
    }
  }
  fclose(f);
  ok(cases > 100 && bad == 0, "sanitize.txt: %d cases, %d mismatches", cases, bad);
}

/* C-escapes control bytes so a TAP line stays one line. */
static const char *esc(const char *s, char *out, size_t cap) {
  size_t o = 0;
  for (; *s && o + 5 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '\n') o += (size_t)snprintf(out + o, cap - o, "\\n");
    else if (c == '\r') o += (size_t)snprintf(out + o, cap - o, "\\r");
    else if (c == '\t') o += (size_t)snprintf(out + o, cap - o, "\\t");
    else if (c < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    else out[o++] = (char)c;
  }
  out[o] = '\0';
  return out;
}

/* ---- a few pinned splits, readable without the fixtures ---- */
static void expect(kl_pat pat, const char *s, const char *want /* pieces joined by '|' */) {
  static pieces c;
  memset(&c, 0, sizeof c);
  c.expect_at = s;
  kl_pretok(pat, s, strlen(s), collect, &c);
  char got[512];
  size_t o = 0, at = 0;
  for (size_t i = 0; i < c.n && o + c.len[i] + 2 < sizeof got; i++) {
    if (i) got[o++] = '|';
    memcpy(got + o, s + at, c.len[i]);
    o += c.len[i];
    at += c.len[i];
  }
  got[o] = '\0';
  char e1[512], e2[512], e3[512];
  ok(strcmp(got, want) == 0 && !c.bad, "pat %d: \"%s\" -> \"%s\" (got \"%s\")", (int)pat,
     esc(s, e1, sizeof e1), esc(want, e2, sizeof e2), esc(got, e3, sizeof e3));
}

static int early(void *ud, const char *p, size_t len) {
  (void)p;
  (void)len;
  return ++*(int *)ud == 2 ? -7 : 0;
}

/* ---- linear time ---- */
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct {
  const char *expect_at;
  size_t n, total;
  int bad;
} counter;

static int count_cb(void *ud, const char *p, size_t len) {
  counter *c = ud;
  if (!len || p != c->expect_at) c->bad = 1;
  c->expect_at = p + len;
  c->total += len;
  c->n++;
  return 0;
}

static void timing(void) {
  enum { MB = 1 << 20 };
  const char *unit[] = {" ", "a", "\n", "7", "A", "'s", "\xcc\x81", " \n", "aA", "\xe3\x80\x80",
                        "! ", "Ab\xcc\x81", "\r\n ", "x'", "\xe6\x97\xa5"};
  const char *name[] = {"spaces", "a", "\\n", "digits", "A", "'s", "U+0301", "\" \\n\"", "aA",
                        "U+3000", "\"! \"", "Ab+U+0301", "\\r\\n ", "x'", "CJK"};
  char *buf = malloc(MB);
  if (!buf) return;
  for (size_t u = 0; u < sizeof unit / sizeof unit[0]; u++) {
    size_t ul = strlen(unit[u]), n = MB / ul * ul;
    for (size_t i = 0; i < n; i += ul) memcpy(buf + i, unit[u], ul);
    for (int pat = 0; pat < 3; pat++) {
      counter c = {buf, 0, 0, 0};
      double t0 = now_ms();
      kl_pretok((kl_pat)pat, buf, n, count_cb, &c);
      double dt = now_ms() - t0;
      ok(dt < 500 && c.total == n && !c.bad, "1 MB of %s, pat %d: %zu pieces in %.1f ms (< 500 under ASan)",
         name[u], pat, c.n, dt);
    }
  }
  free(buf);
}

int main(void) {
  check_fixture("r50k.txt", KL_PAT_R50K);
  check_fixture("cl100k.txt", KL_PAT_CL100K);
  check_fixture("o200k.txt", KL_PAT_O200K);
  check_sanitize_fixture();

  expect(KL_PAT_R50K, "abc  \n  ", "abc|  \n  ");
  expect(KL_PAT_CL100K, "abc  \n  ", "abc|  \n|  ");
  expect(KL_PAT_CL100K, "x'\xc5\xbf" "a", "x|'\xc5\xbf|a");
  expect(KL_PAT_O200K, "x'\xc5\xbf" "a", "x'\xc5\xbf|a");
  expect(KL_PAT_R50K, "x'\xc5\xbf" "a", "x|'|\xc5\xbf" "a");
  expect(KL_PAT_O200K, "HTTPServer'S parseJSON", "HTTPServer'S| parse|JSON");
  expect(KL_PAT_CL100K, "foo123456 !!!\n", "foo|123|456| !!!\n");
  expect(KL_PAT_O200K, "a/b//\n", "a|/b|//\n");
  expect(KL_PAT_CL100K, "  \t x", "  \t| x");
  expect(KL_PAT_O200K, "\xcc\x81" "abc", "\xcc\x81" "abc");

  int calls = 0;
  ok(kl_pretok(KL_PAT_CL100K, "a b c", 5, early, &calls) == -7 && calls == 2,
     "a nonzero callback return stops the split and is returned");
  ok(kl_pretok(KL_PAT_O200K, "", 0, early, &calls) == 0, "empty input: no pieces, 0");

  char out[16];
  ok(kl_utf8_sanitize("a\xed\xa0\x80" "b", 5, out) == 11 && memcmp(out, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b", 11) == 0,
     "surrogate ED A0 80: three U+FFFD");
  ok(kl_utf8_sanitize("\xf0\x9f\x98", 3, out) == 3 && memcmp(out, "\xef\xbf\xbd", 3) == 0,
     "truncated F0 9F 98: one U+FFFD");
  ok(!kl_utf8_valid("\xc0\xaf", 2) && kl_utf8_valid("\xf4\x8f\xbf\xbf", 4), "kl_utf8_valid");

  timing();

  return tap_done();
}
