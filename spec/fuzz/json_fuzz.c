/* libFuzzer target for the JSON pull parser (src/core/jsondec.c).
 *
 * The input is the JSON text. It is parsed
 *   1. by kl_jd, checking every token as it comes: nesting balanced, keys
 *      only in objects, strings valid UTF-8 (checked by a decoder of our
 *      own), INT tokens equal to strtoll of their bytes and DOUBLE tokens
 *      equal (bit for bit) to strtod_l in the C locale, an error offset
 *      inside the text and a message that formats;
 *   2. by a deliberately naive recursive validator written straight from
 *      RFC 8259: both must agree on whether the text is valid;
 *   3. again with max_depth 3: it must fail with the depth error exactly
 *      when the text nests deeper than that, and agree otherwise;
 * and a valid text's tokens are written back out as JSON, which must parse
 * to the same tokens (and write out to the same bytes). */
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsondec.h"

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "json_fuzz: check failed at line %d: %s\n", __LINE__, #cond); \
      abort();                                                                  \
    }                                                                           \
  } while (0)

/* ---- a growable byte string ------------------------------------------------ */

typedef struct {
  char *p;
  size_t len, cap;
} blob;

static void blob_add(blob *b, const void *src, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    b->p = realloc(b->p, cap);
    CHECK(b->p != NULL);
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, src, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void blob_str(blob *b, const char *s) { blob_add(b, s, strlen(s)); }

static locale_t cloc(void) {
  static locale_t l;
  if (!l) l = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  CHECK(l != (locale_t)0);
  return l;
}

/* ---- an independent UTF-8 check ---------------------------------------------- */

static int valid_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    unsigned long cp;
    size_t k;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F, k = 1;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F, k = 2;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07, k = 3;
    } else {
      return 0;
    }
    if (n - i <= k) return 0; /* k continuation bytes needed */
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + j] & 0x3F);
    }
    static const unsigned long min[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += k + 1;
  }
  return 1;
}

/* ---- the naive validator (RFC 8259 grammar, recursive) ---------------------- */

typedef struct {
  const unsigned char *s;
  size_t n, i;
  int max_depth, deepest;
} naive;

static void nws(naive *v) {
  while (v->i < v->n && strchr(" \t\n\r", v->s[v->i]) && v->s[v->i]) v->i++;
}

static int nhex(naive *v, unsigned *out) {
  if (v->n - v->i < 4) return 0;
  unsigned x = 0;
  for (int k = 0; k < 4; k++) {
    unsigned char c = v->s[v->i + k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return 0;
    x = x * 16 + (unsigned)d;
  }
  v->i += 4;
  *out = x;
  return 1;
}

static int nstring(naive *v) {
  if (v->i >= v->n || v->s[v->i] != '"') return 0;
  v->i++;
  size_t run = v->i;
  while (v->i < v->n) {
    unsigned char c = v->s[v->i];
    if (c == '"') {
      if (!valid_utf8(v->s + run, v->i - run)) return 0;
      v->i++;
      return 1;
    }
    if (c < 0x20) return 0;
    if (c == '\\') {
      if (!valid_utf8(v->s + run, v->i - run)) return 0;
      if (++v->i >= v->n) return 0;
      c = v->s[v->i++];
      if (c == 'u') {
        unsigned u, lo;
        if (!nhex(v, &u)) return 0;
        if (u >= 0xDC00 && u <= 0xDFFF) return 0;
        if (u >= 0xD800 && u <= 0xDBFF) {
          if (v->n - v->i < 2 || v->s[v->i] != '\\' || v->s[v->i + 1] != 'u') return 0;
          v->i += 2;
          if (!nhex(v, &lo) || lo < 0xDC00 || lo > 0xDFFF) return 0;
        }
      } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
        return 0;
      }
      run = v->i;
      continue;
    }
    v->i++;
  }
  return 0;
}

static int ndigits(naive *v) {
  size_t st = v->i;
  while (v->i < v->n && v->s[v->i] >= '0' && v->s[v->i] <= '9') v->i++;
  return v->i > st;
}

static int nnumber(naive *v) {
  size_t st = v->i;
  if (v->i < v->n && v->s[v->i] == '-') v->i++;
  if (v->i < v->n && v->s[v->i] == '0') v->i++;
  else if (!ndigits(v)) return 0;
  if (v->i < v->n && v->s[v->i] == '.') {
    v->i++;
    if (!ndigits(v)) return 0;
  }
  if (v->i < v->n && (v->s[v->i] == 'e' || v->s[v->i] == 'E')) {
    v->i++;
    if (v->i < v->n && (v->s[v->i] == '+' || v->s[v->i] == '-')) v->i++;
    if (!ndigits(v)) return 0;
  }
  /* In range for a double? */
  char *lit = malloc(v->i - st + 1);
  CHECK(lit != NULL);
  memcpy(lit, v->s + st, v->i - st);
  lit[v->i - st] = '\0';
  double d = strtod_l(lit, NULL, cloc());
  free(lit);
  return !isinf(d);
}

static int nvalue(naive *v, int depth) {
  nws(v);
  if (v->i >= v->n) return 0;
  unsigned char c = v->s[v->i];
  if (c == '[' || c == '{') {
    if (depth + 1 > v->deepest) v->deepest = depth + 1;
    if (depth + 1 > v->max_depth) return 0;
    v->i++;
    nws(v);
    unsigned char close = c == '[' ? ']' : '}';
    if (v->i < v->n && v->s[v->i] == close) {
      v->i++;
      return 1;
    }
    for (;;) {
      if (c == '{') {
        nws(v);
        if (!nstring(v)) return 0;
        nws(v);
        if (v->i >= v->n || v->s[v->i] != ':') return 0;
        v->i++;
      }
      if (!nvalue(v, depth + 1)) return 0;
      nws(v);
      if (v->i >= v->n) return 0;
      if (v->s[v->i] == close) {
        v->i++;
        return 1;
      }
      if (v->s[v->i] != ',') return 0;
      v->i++;
    }
  }
  if (c == '"') return nstring(v);
  static const char *const lits[] = {"true", "false", "null"};
  for (int k = 0; k < 3; k++) {
    size_t l = strlen(lits[k]);
    if (v->n - v->i >= l && memcmp(v->s + v->i, lits[k], l) == 0) {
      v->i += l;
      return 1;
    }
  }
  if (c == '-' || (c >= '0' && c <= '9')) return nnumber(v);
  return 0;
}

/* Valid JSON text under max_depth? Also reports the deepest nesting seen. */
static int naive_valid(const unsigned char *s, size_t n, int max_depth, int *deepest) {
  naive v = {s, n, 0, max_depth, 0};
  int ok = nvalue(&v, 0);
  if (ok) {
    nws(&v);
    ok = v.i == v.n;
  }
  *deepest = v.deepest;
  return ok;
}

/* ---- kl_jd, checked token by token ------------------------------------------ */

static void put_string(blob *b, const char *s, size_t n) {
  blob_str(b, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char tmp[8];
    if (c == '"' || c == '\\') {
      tmp[0] = '\\', tmp[1] = (char)c;
      blob_add(b, tmp, 2);
    } else if (c < 0x20) {
      snprintf(tmp, sizeof tmp, "\\u%04x", c);
      blob_add(b, tmp, 6);
    } else {
      blob_add(b, &c, 1);
    }
  }
  blob_str(b, "\"");
}

/* Parses text; on success writes the tokens back out as JSON into out
 * (NULL: don't). Returns 1 if valid; *err the error code otherwise. */
static int run(kl_jd *p, const char *text, size_t n, int max_depth, blob *out, int *err, int *deepest) {
  int depth = 0, expect_value = 0; /* after a KEY a value must follow */
  unsigned char is_obj[KL_JD_MAX_DEPTH + 2];
  int first[KL_JD_MAX_DEPTH + 2];
  *deepest = 0;
  first[0] = 1;
  kl_jd_start(p, text, n, max_depth);
  for (;;) {
    kl_jd_token t = kl_jd_next(p);
    if (t == KL_JD_ERROR) {
      CHECK(p->err > KL_JD_E_NONE && p->err < KL_JD_E_COUNT);
      CHECK(p->err_at <= n);
      CHECK(kl_jd_next(p) == KL_JD_ERROR); /* stays failed */
      char msg[200];
      size_t m = kl_jd_errmsg(p, msg, sizeof msg);
      CHECK(m > 0 && m < sizeof msg && strlen(msg) == m);
      CHECK(strstr(msg, " at byte ") != NULL);
      *err = p->err;
      return 0;
    }
    if (t == KL_JD_END) {
      CHECK(depth == 0 && !expect_value);
      CHECK(kl_jd_next(p) == KL_JD_END);
      *err = KL_JD_E_NONE;
      return 1;
    }
    CHECK(p->raw >= text && p->raw + p->raw_len <= text + n);
    int is_value = t != KL_JD_KEY && t != KL_JD_OBJECT_END && t != KL_JD_ARRAY_END;
    /* Separators: keys and values are comma-separated inside containers. */
    if (t == KL_JD_KEY || (is_value && !expect_value)) {
      if (depth > 0) {
        CHECK(is_obj[depth] == (t == KL_JD_KEY));
        if (out && !first[depth]) blob_str(out, ",");
        first[depth] = 0;
      }
    }
    if (is_value) expect_value = 0;
    switch (t) {
    case KL_JD_OBJECT:
    case KL_JD_ARRAY:
      CHECK(depth < max_depth);
      depth++;
      if (depth > *deepest) *deepest = depth;
      is_obj[depth] = t == KL_JD_OBJECT;
      first[depth] = 1;
      if (out) blob_str(out, t == KL_JD_OBJECT ? "{" : "[");
      break;
    case KL_JD_OBJECT_END:
    case KL_JD_ARRAY_END:
      CHECK(depth > 0 && is_obj[depth] == (t == KL_JD_OBJECT_END) && !expect_value);
      depth--;
      if (out) blob_str(out, t == KL_JD_OBJECT_END ? "}" : "]");
      break;
    case KL_JD_KEY:
    case KL_JD_STRING:
      CHECK(valid_utf8((const unsigned char *)p->str, p->len));
      if (t == KL_JD_KEY) CHECK(depth > 0 && is_obj[depth]);
      if (out) put_string(out, p->str, p->len);
      if (t == KL_JD_KEY) {
        expect_value = 1;
        if (out) blob_str(out, ":");
      }
      break;
    case KL_JD_INT:
    case KL_JD_DOUBLE: {
      char lit[512];
      CHECK(p->raw_len > 0);
      size_t l = p->raw_len < sizeof lit - 1 ? p->raw_len : 0;
      char *big = NULL, *q = lit;
      if (!l) {
        big = malloc(p->raw_len + 1);
        CHECK(big != NULL);
        q = big;
        l = p->raw_len;
      }
      memcpy(q, p->raw, l);
      q[l] = '\0';
      char tmp[64];
      if (t == KL_JD_INT) {
        CHECK(strpbrk(q, ".eE") == NULL);
        CHECK(p->i == strtoll(q, NULL, 10));
        if (out) blob_add(out, tmp, (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)p->i));
      } else {
        double want = strtod_l(q, NULL, cloc());
        CHECK(isfinite(p->d));
        CHECK(memcmp(&want, &p->d, sizeof want) == 0);
        if (out) {
          int m = snprintf(tmp, sizeof tmp, "%.17g", p->d);
          blob_add(out, tmp, (size_t)m);
          if (!strpbrk(tmp, ".e")) blob_str(out, ".0"); /* stays a DOUBLE */
        }
      }
      free(big);
      break;
    }
    case KL_JD_TRUE:
      if (out) blob_str(out, "true");
      break;
    case KL_JD_FALSE:
      if (out) blob_str(out, "false");
      break;
    case KL_JD_NULL:
      if (out) blob_str(out, "null");
      break;
    default:
      CHECK(0);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static kl_jd *p;
  if (!p) {
    p = malloc(sizeof *p);
    CHECK(p != NULL);
    kl_jd_init(p);
  }
  const char *text = (const char *)data;
  blob out = {0}, again = {0}, third = {0};
  int err, deepest, ndeep;

  int ok = run(p, text, size, KL_JD_MAX_DEPTH, &out, &err, &deepest);
  int nok = naive_valid(data, size, KL_JD_MAX_DEPTH, &ndeep);
  if (ok != nok) {
    fprintf(stderr, "json_fuzz: kl_jd says %s (error %d), the naive validator says %s\n",
            ok ? "valid" : "invalid", err, nok ? "valid" : "invalid");
    abort();
  }

  /* A shallow limit: valid texts fail exactly when they nest deeper. */
  int err3, deep3;
  int ok3 = run(p, text, size, 3, NULL, &err3, &deep3);
  if (ok) {
    CHECK(ok3 == (deepest <= 3));
    if (!ok3) CHECK(err3 == KL_JD_E_DEPTH);
  } else if (ok3) {
    CHECK(0); /* a limit cannot make an invalid text valid */
  }

  if (ok) {
    /* The tokens written back out parse to the same tokens. */
    int e2, d2, e3, d3;
    CHECK(run(p, out.p ? out.p : "", out.len, KL_JD_MAX_DEPTH, &again, &e2, &d2));
    CHECK(again.len == out.len && memcmp(again.p, out.p, out.len) == 0);
    CHECK(d2 == deepest);
    CHECK(run(p, again.p, again.len, KL_JD_MAX_DEPTH, &third, &e3, &d3));
    CHECK(third.len == again.len && memcmp(third.p, again.p, again.len) == 0);
  }
  free(out.p);
  free(again.p);
  free(third.p);
  return 0;
}
