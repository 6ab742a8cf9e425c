/* The JSON value in a model's answer; see jsonextract.h. */
#include "jsonextract.h"

#include <string.h>

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Length of the complete strict JSON value at s[0] (no leading white
 * space), or 0 with jd->err / jd->err_at (relative to s) set. *PROGRESS
 * (when given) says whether the parse got past the opening bracket into
 * real JSON: a member name with its ':' or a second array element. Without
 * that, a failed '{' or '[' is taken for a stray bracket in prose. */
#define PROGRESS_DEPTH 64
static size_t value_len(kl_jd *jd, const char *s, size_t n, int *progress) {
  kl_jd_start(jd, s, n, 0);
  int depth = 0, dummy;
  unsigned char items[PROGRESS_DEPTH + 1] = { 0 };
  if (!progress) progress = &dummy;
  *progress = 0;
  for (;;) {
    kl_jd_token t = kl_jd_next(jd);
    if (t == KL_JD_ERROR) return 0;
    if (t == KL_JD_END) return n; /* not reached: a value ends before END */
    if (t == KL_JD_KEY) {
      *progress = 1;
      continue;
    }
    if (t == KL_JD_OBJECT_END || t == KL_JD_ARRAY_END) {
      depth--;
    } else if (depth > 0) { /* a value inside a container */
      if (depth > PROGRESS_DEPTH || items[depth]++) *progress = 1;
    }
    if (t == KL_JD_OBJECT || t == KL_JD_ARRAY) {
      depth++;
      if (depth <= PROGRESS_DEPTH) items[depth] = 0;
      continue;
    }
    if (depth == 0) return (size_t)(jd->raw + jd->raw_len - s);
  }
}

/* Index one past the bracket closing the one at s[0], counting brackets
 * outside double-quoted strings (with escapes), or 0 when it never closes. */
static size_t match_close(const char *s, size_t n) {
  size_t depth = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '"') {
      for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\') i++;
    } else if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return 0;
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
  size_t l = value_len(jd, t, n, NULL);
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

/* Step 2, or with REPAIR its lenient repeat: the first fence (json-tagged
 * ones before untagged ones) whose body is one value. 1 found, 0 not, -1
 * out of memory. */
static int from_fences(const char *s, size_t n, int repair, kl_jd *jd, kl_buf *out, kl_jx_result *r) {
  for (int pass = 0; pass < 2; pass++) {
    size_t pos = 0, tl, bl, len;
    const char *tag, *body, *at;
    while (next_fence(s, n, &pos, &tag, &tl, &body, &bl)) {
      if (pass == 0 ? !tag_is_json(tag, tl) : tl != 0) continue;
      if (repair) {
        int k = try_repaired(jd, body, bl, out, r);
        if (k > 0) r->source = KL_JX_FENCE, r->start = (size_t)(body - s), r->len = bl;
        if (k) return k;
      } else if (whole(jd, body, bl, &at, &len)) {
        r->source = KL_JX_FENCE, r->start = (size_t)(at - s), r->len = len;
        return 1;
      }
    }
  }
  return 0;
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
  /* 2. fences */
  int k = from_fences(s, n, 0, jd, out, r);
  if (k) return k;
  /* 3. the scan, in text order. A failed attempt whose bracket has a
   * matching close is a broken value: skipped whole, so nothing inside it is
   * returned (lenient mode first repairs it, in place and in order). One
   * with no matching close that got into real JSON (see value_len) was cut
   * off by the end of the text: the scan ends. Otherwise it was a stray
   * bracket in prose, and the scan goes on right after it. Work is capped
   * (16n + 1 MiB bytes looked at) so that hostile text cannot make the scan
   * quadratic: past the cap, nothing more is found. */
  size_t i = 0, work = 0, budget = 16 * n + ((size_t)1 << 20);
  /* the next '{' and '[' at or after i, each searched again only once the
   * scan has passed it (n: none left) */
  const char *q = memchr(s, '{', n);
  size_t next_o = q ? (size_t)(q - s) : n;
  q = memchr(s, '[', n);
  size_t next_a = q ? (size_t)(q - s) : n;
  r->err = KL_JD_E_NONE;
  int found = 0;
  while (i < n && work < budget) {
    if (next_o < i) {
      q = memchr(s + i, '{', n - i);
      next_o = q ? (size_t)(q - s) : n;
    }
    if (next_a < i) {
      q = memchr(s + i, '[', n - i);
      next_a = q ? (size_t)(q - s) : n;
    }
    size_t p = next_o < next_a ? next_o : next_a;
    if (p >= n) break;
    int progress;
    size_t l = value_len(jd, s + p, n - p, &progress);
    if (l) {
      work += l;
      r->candidates++;
      if (!found) {
        r->source = KL_JX_TEXT, r->start = p, r->len = l, r->repairs = 0;
        found = 1;
      }
      i = p + l;
      continue;
    }
    size_t e = p + jd->err_at;
    work += jd->err_at + 1;
    if (!r->err || e > r->err_at) r->err = jd->err, r->err_at = e, r->err_from = p;
    size_t m = match_close(s + p, n - p);
    work += m ? m : n - p;
    if (m && lenient && !found) {
      int k = try_repaired(jd, s + p, m, out, r);
      if (k < 0) return -1;
      if (k > 0) {
        r->source = KL_JX_TEXT, r->start = p, r->len = m;
        r->candidates++;
        found = 1;
        i = p + m;
        continue;
      }
    }
    if (m) i = p + m;          /* a broken value: skipped whole */
    else if (progress) break;  /* a value cut off by the end of the text */
    else i = p + 1;            /* a stray bracket in prose */
  }
  if (found) return 1;
  if (!lenient) return 0;
  /* lenient: the whole text and the fences, repaired */
  if ((k = try_repaired(jd, s, n, out, r))) {
    if (k > 0) r->source = KL_JX_WHOLE, r->start = 0, r->len = n;
    return k;
  }
  if ((k = from_fences(s, n, 1, jd, out, r))) return k;
  r->repairs = 0;
  return 0;
}
