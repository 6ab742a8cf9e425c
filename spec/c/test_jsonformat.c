/* C tests of the `format` checks (src/core/jsonformat.c), TAP output.
 *
 * The JSON Schema Test Suite's optional/format files for draft 2020-12,
 * 2019-09 and 7 are the cases: every test group whose schema is just
 * {"format": F} (a "$schema" beside it is fine) is run through
 * kl_format_check, strings for their expected validity and other JSON
 * values as always valid (formats ignore them). One TAP line per file with
 * its pass count; each failure is printed as a diagnostic. The suite is
 * found at $KEEL_SCHEMA_SUITE, else ../shared/data/json-schema-test-suite
 * from the repository root (the cwd of spec/run); without it those tests
 * SKIP. A short table of edge cases the suite does not cover follows. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonformat.h"
#include "jsonval.h"
#include "tap.h"

/* Cases the checks are known to get wrong, each with the reason. A known
 * failure that starts passing is reported (so the entry can go) but does
 * not fail the run. */
static const struct {
  const char *format, *data, *why;
} KNOWN[] = {
  {"regex", "[]",
   "jsregex.c turns ECMA's empty class into \"[\\]\", which PCRE2 reads as unterminated (fix there: "
   "PCRE2_ALLOW_EMPTY_CLASS instead of escaping the ']')"},
  {"regex", "[^]", "as \"[]\": jsregex.c escapes the ']' of ECMA's negated empty class"},
  {"regex", "(?<=a+)b",
   "Debian 12's PCRE2 10.42 allows only fixed-length lookbehind (10.43 lifts it), so kl_regex_compile rejects "
   "this valid ES2018 pattern"},
};

static const char *known_why(const char *format, const char *data, size_t n) {
  for (size_t i = 0; i < sizeof KNOWN / sizeof *KNOWN; i++)
    if (!strcmp(KNOWN[i].format, format) && strlen(KNOWN[i].data) == n && !memcmp(KNOWN[i].data, data, n))
      return KNOWN[i].why;
  return NULL;
}

static char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  size_t r;
  while (buf && (r = fread(buf + len, 1, cap - len, f)) > 0) {
    len += r;
    if (len == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  fclose(f);
  *n = len;
  return buf;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The format of a schema that is {"format": F} or {"$schema": .., "format": F}, else NULL. */
static const kl_jv *plain_format(const kl_jv *schema) {
  if (!schema || schema->type != KL_JV_OBJECT) return NULL;
  const kl_jv *f = NULL;
  for (uint32_t i = 0; i < schema->len; i++) {
    const kl_jmember *m = &schema->u.mem[i];
    if (m->klen == 6 && !memcmp(m->key, "format", 6) && m->val.type == KL_JV_STRING) f = &m->val;
    else if (!(m->klen == 7 && !memcmp(m->key, "$schema", 7))) return NULL;
  }
  return f;
}

/* Printable excerpt of a test string for diagnostics (control bytes escaped). */
static void show(char *out, size_t cap, const char *s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 8 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    else out[o++] = (char)c;
  }
  out[o] = '\0';
}

typedef struct {
  int pass, total, known;
} counts;

static void run_file(const char *dialect, const char *dir, const char *name, counts *dc) {
  char path[4096 + 256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t n;
  char *text = read_file(path, &n);
  if (!text) {
    ok(0, "%s %s: cannot read %s", dialect, name, path);
    return;
  }
  kl_arena a;
  kl_jd jd;
  kl_arena_init(&a);
  kl_jd_init(&jd);
  const kl_jv *root = kl_jv_parse(&a, &jd, text, n, 0);
  if (!root || root->type != KL_JV_ARRAY) {
    char msg[256];
    kl_jd_errmsg(&jd, msg, sizeof msg);
    ok(0, "%s %s: not a JSON array of test groups (%s)", dialect, name, root ? "not an array" : msg);
    goto out;
  }
  counts c = {0, 0, 0};
  for (uint32_t g = 0; g < root->len; g++) {
    const kl_jv *group = &root->u.items[g];
    const kl_jv *fmt = plain_format(kl_jv_get(group, "schema", 6));
    const kl_jv *tests = kl_jv_get(group, "tests", 5);
    if (!fmt || !tests || tests->type != KL_JV_ARRAY) continue;
    for (uint32_t t = 0; t < tests->len; t++) {
      const kl_jv *tc = &tests->u.items[t];
      const kl_jv *data = kl_jv_get(tc, "data", 4), *valid = kl_jv_get(tc, "valid", 5);
      const kl_jv *desc = kl_jv_get(tc, "description", 11);
      if (!data || !valid) continue;
      int want = valid->type == KL_JV_TRUE, got = 1, r = 1;
      if (data->type == KL_JV_STRING) {
        r = kl_format_check(fmt->u.s, fmt->len, data->u.s, data->len);
        got = r != 0; /* -1: an unknown format only annotates */
      }
      const char *why = data->type == KL_JV_STRING ? known_why(fmt->u.s, data->u.s, data->len) : NULL;
      char shown[200];
      show(shown, sizeof shown, data->type == KL_JV_STRING ? data->u.s : "(not a string)",
           data->type == KL_JV_STRING ? data->len : 14);
      if (why) {
        c.known++;
        printf("# %s %s: known failure \"%s\" (%s): %s%s\n", dialect, name, shown, fmt->u.s, why,
               got == want ? " -- it passes now: drop it from KNOWN" : "");
        continue;
      }
      c.total++;
      if (got == want) {
        c.pass++;
      } else {
        printf("#   FAIL %s %s: format %s \"%s\": want %s, got %d (%s)\n", dialect, name, fmt->u.s, shown,
               want ? "valid" : "invalid", r, desc && desc->type == KL_JV_STRING ? desc->u.s : "");
      }
    }
  }
  ok(c.pass == c.total, "%s %s: %d/%d%s", dialect, name, c.pass, c.total, c.known ? " (+ known failures)" : "");
  dc->pass += c.pass;
  dc->total += c.total;
  dc->known += c.known;
out:
  kl_jd_free(&jd);
  kl_arena_free(&a);
  free(text);
}

static void test_suite(void) {
  static const char *dialects[] = {"draft2020-12", "draft2019-09", "draft7"};
  const char *root = getenv("KEEL_SCHEMA_SUITE");
  if (!root || !*root) root = "../shared/data/json-schema-test-suite";
  counts all = {0, 0, 0};
  for (size_t d = 0; d < sizeof dialects / sizeof *dialects; d++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/%s/optional/format", root, dialects[d]);
    DIR *dp = opendir(dir);
    if (!dp) {
      skip("%s: no %s (set KEEL_SCHEMA_SUITE to the JSON Schema Test Suite)", dialects[d], dir);
      continue;
    }
    char *names[256];
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(dp)) && nn < sizeof names / sizeof *names) {
      size_t l = strlen(e->d_name);
      if (l > 5 && !strcmp(e->d_name + l - 5, ".json")) names[nn++] = strdup(e->d_name);
    }
    closedir(dp);
    qsort(names, nn, sizeof *names, cmpstr);
    counts dc = {0, 0, 0};
    for (size_t i = 0; i < nn; i++) {
      run_file(dialects[d], dir, names[i], &dc);
      free(names[i]);
    }
    printf("# %s: %d/%d passed, %d known failures\n", dialects[d], dc.pass, dc.total, dc.known);
    all.pass += dc.pass;
    all.total += dc.total;
    all.known += dc.known;
  }
  printf("# total: %d/%d passed, %d known failures\n", all.pass, all.total, all.known);
}

/* Edge cases outside the suite: lengths, embedded NULs, overflow, choices
 * the header documents. */
static void test_edges(void) {
  static char big[70000];
  memset(big, 'a', sizeof big);
  static const struct {
    const char *format;
    const char *s;
    int n; /* -1: strlen */
    int want;
  } v[] = {
    {"no-such-format", "x", -1, -1},
    {"", "x", -1, -1},
    {"date", "2020-01-01", -1, 1},
    {"hostname", "a\0b", 3, 0},
    {"hostname", "example.com\0", 12, 0},
    {"hostname", "xn--zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", -1, 0},
    {"hostname", "xn--99999999999999999999999999999999999999999999999999999", -1, 0},
    {"hostname", "xn--", -1, 0},
    {"hostname", "xn--bcher-kva.example", -1, 1},
    {"hostname", "bücher.example", -1, 0},
    {"hostname", "ab--cd", -1, 1}, /* RFC 1123 allows it; only xn-- labels are decoded */
    {"idn-hostname", "bücher.example", -1, 1},
    {"idn-hostname", "Bücher.example", -1, 1},
    {"idn-hostname", "xn--bcher-kva.example", -1, 1},
    {"idn-hostname", "ｂücher", -1, 0},          /* fullwidth b: NFKC-unstable */
    {"idn-hostname", "a\xe3\x80\x82", -1, 0},    /* trailing U+3002 */
    {"idn-hostname", "٠١٢", -1, 0},              /* Arabic-Indic digits only: Bidi rule 1 */
    {"idn-hostname", "ا‌ب", -1, 0},              /* ZWNJ after alef (joining type R) */
    {"idn-email", "a@b\xe3\x80\x82" "c", -1, 0}, /* RFC 6531 domains use '.' only */
    {"idn-email", "δ@실례.테스트", -1, 1},
    {"email", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com", -1, 0},
    {"email", "\"a\\\"b\"@example.com", -1, 1},
    {"email", "\"ab@example.com", -1, 0},
    {"email", "a@[IPv6:fe80::1%eth0]", -1, 0},
    {"date-time", "2020-01-01t00:00:00z", -1, 1},
    {"date-time", "2020-01-01T00:00:00", -1, 0},
    {"time", "23:59:60.5Z", -1, 1},
    {"duration", "p1d", -1, 0},
    {"duration", "P1Y2M3DT4H5M6S", -1, 1},
    {"duration", "PT1H2M3S4S", -1, 0},
    {"ipv6", "1:2:3:4:5:6:7::", -1, 1},
    {"ipv6", "::1.2.3.4", -1, 1},
    {"ipv6", "1:2:3:4:5:6:7:1.2.3.4", -1, 0},
    {"ipv4", "1.2.3.4\0", 8, 0},
    {"uri", "http://[fe80::1%25eth0]/", -1, 0},
    {"uri", "http://[v1.x]/", -1, 1},
    {"uri", "http://[v1.]/", -1, 0},
    {"uri", "http://example.com:/", -1, 1},
    {"uri", "a:", -1, 1},
    {"iri", "http://例え.テスト/\xf3\xb0\x80\x80", -1, 0}, /* iprivate only in the query */
    {"uri-reference", "%", -1, 0},
    {"uri-template", "{=var}", -1, 0},
    {"uri-template", "{var:9999}", -1, 1},
    {"uri-template", "{", -1, 0},
    {"uri-template", "{a.}", -1, 0},
    {"json-pointer", "/~", -1, 0},
    {"relative-json-pointer", "0", -1, 1},
    {"relative-json-pointer", "0#/a", -1, 0},
    {"uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d1638\0", 36, 0},
    {"regex", "(?i:a)", -1, 1},
    {"regex", "(?<n>a)\\k<n>", -1, 1},
    {"regex", "[(?i)]", -1, 1},
    {"regex", "a\\(?i", -1, 1}, /* an escaped '(' opens no group */
    {"regex", "(?", -1, 0},
    {"regex", "(?<>a)", -1, 0},
  };
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    size_t n = v[i].n < 0 ? strlen(v[i].s) : (size_t)v[i].n;
    int r = kl_format_check(v[i].format, strlen(v[i].format), v[i].s, n);
    char shown[200];
    show(shown, sizeof shown, v[i].s, n);
    ok(r == v[i].want, "%s \"%s\" -> %d (want %d)", v[i].format, shown, r, v[i].want);
  }
  ok(kl_format_check("date-time", 4, "2020-01-01", 10) == 1, "the name is taken by its length");
  ok(kl_format_check("hostname", 8, big, sizeof big) == 0, "a 70000-byte label is invalid");
  ok(kl_format_check("idn-hostname", 12, big, sizeof big) == 0, "a 70000-byte name is invalid");
  ok(kl_format_check("uri", 3, "", 0) == 0 && kl_format_check("uri-reference", 13, NULL, 0) == 1,
     "empty uri invalid, empty uri-reference valid (NULL with n 0 is \"\")");
}

int main(void) {
  test_suite();
  test_edges();
  return tap_done();
}
