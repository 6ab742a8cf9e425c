/* The JSON value in a model's answer; see jsonextract.h. */
#include "jsonextract.h"

#include <string.h>

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Length of the complete strict JSON value at s[0] (no leading white
 * space), or 0 with jd->err / jd->err_at (relative to s) set. */
static size_t value_len(kl_jd *jd, const char *s, size_t n) {
  kl_jd_start(jd, s, n, 0);
  int depth = 0;
  for (;;) {
    kl_jd_token t = kl_jd_next(jd);
    switch (t) {
    case KL_JD_ERROR: return 0;
    case KL_JD_END: return n; /* not reached: a value ends before END */
    case KL_JD_OBJECT:
    case KL_JD_ARRAY: depth++; break;
    case KL_JD_KEY: break;
    case KL_JD_OBJECT_END:
    case KL_JD_ARRAY_END: depth--; /* fall through */
    default:
      if (depth == 0) return (size_t)(jd->raw + jd->raw_len - s);
    }
  }
}

/* s[0..n) without surrounding white space and a leading BOM. */
static void trim(const char **s, size_t *n) {
  const char *p = *s, *e = *s + *n;
  if (e - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
  while (p < e && is_ws((unsigned char)*p)) p++;
  while (e > p && is_ws((unsigned char)e[-1])) e--;
  *s = p, *n = (size_t)(e - p);
}

/* 1 when t[0..n) (trimmed) is exactly one JSON value; its span in at and len. */
static int whole(kl_jd *jd, const char *t, size_t n, const char **at, size_t *len) {
  trim(&t, &n);
  if (!n) return 0;
  size_t l = value_len(jd, t, n);
  if (l != n) return 0;
  *at = t, *len = l;
  return 1;
}

/* The next ``` fence from *pos: its info string and contents; 0 when none. */
static int next_fence(const char *s, size_t n, size_t *pos, const char **tag, size_t *taglen, const char **body,
                      size_t *bodylen) {
  while (*pos + 3 <= n) {
    const char *f = memmem(s + *pos, n - *pos, "```", 3);
    if (!f) return 0;
    size_t i = (size_t)(f - s) + 3;
    while (i < n && s[i] == '`') i++;
    size_t tag0 = i;
    while (i < n && s[i] != '\n') i++;
    if (i >= n) return 0; /* a fence with no body line */
    const char *t = s + tag0;
    size_t tl = i - tag0;
    while (tl && is_ws((unsigned char)*t)) t++, tl--;
    while (tl && is_ws((unsigned char)t[tl - 1])) tl--;
    size_t b0 = i + 1;
    const char *close = memmem(s + b0, n - b0, "```", 3);
    size_t b1 = close ? (size_t)(close - s) : n;
    *tag = t, *taglen = tl, *body = s + b0, *bodylen = b1 - b0;
    *pos = close ? b1 + 3 : n;
    while (*pos < n && s[*pos] == '`') (*pos)++;
    return 1;
  }
  return 0;
}

static int tag_is_json(const char *t, size_t n) {
  static const char *const names[] = { "json", "jsonc", "json5", "javascript", "js" };
  for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
    size_t m = strlen(names[k]);
    if (n != m) continue;
    size_t i = 0;
    while (i < m && (t[i] | 0x20) == names[k][i]) i++;
    if (i == m) return 1;
  }
  return 0;
}

/* ---- repair ------------------------------------------------------------------- */
#define PUT(p, k)                          \
  do {                                     \
    if (kl_buf_add(out, (p), (k))) return -1; \
  } while (0)

/* Length of the quote character at s[i] opening a non-JSON string, and its
 * kind: 1 smart double, 2 single or smart single; 0 when none. */
static size_t odd_quote(const char *s, size_t n, size_t i, int *kind) {
  const unsigned char *u = (const unsigned char *)s + i;
  if (u[0] == '\'') return *kind = 2, 1;
  if (n - i >= 3 && u[0] == 0xE2 && u[1] == 0x80) {
    if (u[2] == 0x9C || u[2] == 0x9D) return *kind = 1, 3;
    if (u[2] == 0x98 || u[2] == 0x99) return *kind = 2, 3;
  }
  return 0;
}

/* Length of a closing quote of KIND at s[i], or 0. */
static size_t closer(const char *s, size_t n, size_t i, int kind) {
  int k;
  size_t l = odd_quote(s, n, i, &k);
  return l && k == kind ? l : 0; /* a plain " inside a smart-quoted string is text */
}

/* Skips white space and comments from i. */
static size_t skip_ws_comments(const char *s, size_t n, size_t i) {
  for (;;) {
    while (i < n && is_ws((unsigned char)s[i])) i++;
    if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
      while (i < n && s[i] != '\n') i++;
    } else if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
      const char *e = memmem(s + i + 2, n - i - 2, "*/", 2);
      i = e ? (size_t)(e - s) + 2 : n;
    } else {
      return i;
    }
  }
}

static int word_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

int kl_jx_repair(const char *s, size_t n, kl_buf *out) {
  int rep = 0, kind;
  size_t i = 0, q;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"') { /* a JSON string: copied as it is */
      size_t j = i + 1;
      while (j < n && s[j] != '"') j += (s[j] == '\\' && j + 1 < n) ? 2 : 1;
      j = j < n ? j + 1 : n;
      PUT(s + i, j - i);
      i = j;
    } else if ((q = odd_quote(s, n, i, &kind))) {
      rep |= kind == 1 ? KL_JX_R_SMART_QUOTES : (c == '\'' ? KL_JX_R_SINGLE_QUOTES : KL_JX_R_SMART_QUOTES);
      PUT("\"", 1);
      size_t j = i + q, cl = 0;
      while (j < n && !(cl = closer(s, n, j, kind))) {
        if (s[j] == '\\' && j + 1 < n) {
          if (s[j + 1] == '\'') PUT("'", 1); /* \' is not a JSON escape */
          else PUT(s + j, 2);
          j += 2;
        } else if (s[j] == '"') {
          PUT("\\\"", 2);
          j++;
        } else {
          PUT(s + j, 1);
          j++;
        }
      }
      PUT("\"", 1);
      i = j + cl;
    } else if (c == '/' && i + 1 < n && (s[i + 1] == '/' || s[i + 1] == '*')) {
      rep |= KL_JX_R_COMMENTS;
      if (s[i + 1] == '/') {
        while (i < n && s[i] != '\n') i++;
      } else {
        const char *e = memmem(s + i + 2, n - i - 2, "*/", 2);
        i = e ? (size_t)(e - s) + 2 : n;
        PUT(" ", 1);
      }
    } else if (c == ',') {
      size_t j = skip_ws_comments(s, n, i + 1);
      if (j < n && (s[j] == '}' || s[j] == ']')) rep |= KL_JX_R_TRAILING_COMMA;
      else PUT(",", 1);
      i++;
    } else if (word_char(c) && (i == 0 || !word_char((unsigned char)s[i - 1]))) {
      size_t j = i;
      while (j < n && word_char((unsigned char)s[j])) j++;
      const char *w = s + i;
      size_t wl = j - i;
      if (wl == 4 && memcmp(w, "True", 4) == 0) w = "true", rep |= KL_JX_R_PYTHON_LITERALS;
      else if (wl == 5 && memcmp(w, "False", 5) == 0) w = "false", rep |= KL_JX_R_PYTHON_LITERALS;
      else if (wl == 4 && memcmp(w, "None", 4) == 0) w = "null", rep |= KL_JX_R_PYTHON_LITERALS;
      PUT(w, wl);
      i = j;
    } else {
      PUT(s + i, 1);
      i++;
    }
  }
  return rep;
}
#undef PUT

/* ---- extraction ------------------------------------------------------------------ */

/* Tries TEXT[0..N) repaired as one whole value; 1 when it parses. */
static int try_repaired(kl_jd *jd, const char *t, size_t n, kl_buf *out, kl_jx_result *r) {
  kl_buf_reset(out);
  int rep = kl_jx_repair(t, n, out);
  if (rep < 0) return -1;
  if (rep == 0) return 0; /* nothing to repair: strict already failed */
  const char *at;
  size_t len;
  if (!whole(jd, out->data ? out->data : "", out->len, &at, &len)) return 0;
  /* keep only the value in the buffer */
  memmove(out->data, at, len);
  out->len = len;
  r->repairs = (unsigned)rep;
  return 1;
}

int kl_jx_extract(const char *s, size_t n, int lenient, kl_jd *jd, kl_buf *out, kl_jx_result *r) {
  memset(r, 0, sizeof *r);
  const char *at;
  size_t len;
  /* 1. the whole text */
  if (whole(jd, s, n, &at, &len)) {
    r->source = KL_JX_WHOLE, r->start = (size_t)(at - s), r->len = len;
    return 1;
  }
  /* 2. fences: json-tagged, then untagged */
  for (int pass = 0; pass < 2; pass++) {
    size_t pos = 0, tl, bl;
    const char *tag, *body;
    while (next_fence(s, n, &pos, &tag, &tl, &body, &bl)) {
      if (pass == 0 ? !tag_is_json(tag, tl) : tl != 0) continue;
      if (whole(jd, body, bl, &at, &len)) {
        r->source = KL_JX_FENCE, r->start = (size_t)(at - s), r->len = len;
        return 1;
      }
    }
  }
  /* 3. the scan */
  size_t i = 0, first_open = n, last_close = 0;
  int found = 0;
  r->err = KL_JD_E_NONE;
  while (i < n) {
    const char *p = s + i;
    const char *o = memchr(p, '{', n - i), *a = memchr(p, '[', n - i);
    const char *b = !o ? a : !a ? o : (o < a ? o : a);
    if (!b) break;
    i = (size_t)(b - s);
    if (i < first_open) first_open = i;
    size_t l = value_len(jd, s + i, n - i);
    if (l) {
      r->candidates++;
      if (!found) {
        r->source = KL_JX_TEXT, r->start = i, r->len = l;
        found = 1;
      }
      i += l;
    } else {
      size_t e = i + jd->err_at;
      if (!r->err || e > r->err_at) r->err = jd->err, r->err_at = e, r->err_from = i;
      i = e > i ? e : i + 1;
    }
  }
  if (found) return 1;
  if (!lenient) return 0;
  /* lenient: the same places, repaired */
  int k = try_repaired(jd, s, n, out, r);
  if (k) {
    if (k > 0) r->source = KL_JX_WHOLE, r->start = 0, r->len = n;
    return k;
  }
  for (int pass = 0; pass < 2; pass++) {
    size_t pos = 0, tl, bl;
    const char *tag, *body;
    while (next_fence(s, n, &pos, &tag, &tl, &body, &bl)) {
      if (pass == 0 ? !tag_is_json(tag, tl) : tl != 0) continue;
      if ((k = try_repaired(jd, body, bl, out, r))) {
        if (k > 0) r->source = KL_JX_FENCE, r->start = (size_t)(body - s), r->len = bl;
        return k;
      }
    }
  }
  for (size_t j = n; j > first_open; j--)
    if (s[j - 1] == '}' || s[j - 1] == ']') {
      last_close = j;
      break;
    }
  if (first_open < n && last_close > first_open &&
      (k = try_repaired(jd, s + first_open, last_close - first_open, out, r))) {
    if (k > 0) r->source = KL_JX_TEXT, r->start = first_open, r->len = last_close - first_open;
    return k;
  }
  r->repairs = 0;
  return 0;
}
