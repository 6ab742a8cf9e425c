/* The JSON pull parser: see jsondec.h for the rules. */
#include "jsondec.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { S_VALUE, S_ARRAY_FIRST, S_OBJECT_FIRST, S_KEY, S_AFTER, S_DONE, S_ERROR };

#define SCRATCH_MAX (((size_t)-1) / 4)
#define IS_DIGIT(c) ((unsigned)((c) - '0') < 10u)
#define IS_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')

static const char *const messages[KL_JD_E_COUNT] = {
#define X(name, msg) msg,
  KL_JD_ERRORS(X)
#undef X
};

void kl_jd_init(kl_jd *p) {
  memset(p, 0, sizeof *p);
  kl_buf_init(&p->scratch, SCRATCH_MAX);
  p->state = S_DONE;
}

void kl_jd_free(kl_jd *p) { kl_buf_free(&p->scratch); }

void kl_jd_start(kl_jd *p, const char *text, size_t n, int max_depth) {
  p->start = p->p = (const unsigned char *)text;
  p->end = p->start + n;
  p->state = S_VALUE;
  p->depth = 0;
  p->max_depth = max_depth >= 1 && max_depth <= KL_JD_MAX_DEPTH ? max_depth : KL_JD_MAX_DEPTH;
  p->err = KL_JD_E_NONE;
  p->err_at = 0;
  p->str = NULL;
  p->len = 0;
  p->raw = text;
  p->raw_len = 0;
  if (n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) kl_jd_fail(p, KL_JD_E_BOM, 0);
}

void kl_jd_fail(kl_jd *p, int code, size_t at) {
  p->err = code;
  p->err_at = at;
  p->state = S_ERROR;
}

/* Records an error at q; returns NULL for the callers' convenience. */
static const unsigned char *fail(kl_jd *p, int code, const unsigned char *q) {
  kl_jd_fail(p, code, (size_t)(q - p->start));
  return NULL;
}

void kl_jd_line_col(const char *text, size_t n, size_t at, size_t *line, size_t *col) {
  size_t l = 1, bol = 0;
  for (size_t i = 0; i < at && i < n; i++)
    if (text[i] == '\n') l++, bol = i + 1;
  *line = l, *col = at - bol + 1;
}

const char *kl_jd_what(int code, int max_depth, char *buf, size_t cap) {
  if (code < 0 || code >= KL_JD_E_COUNT) code = KL_JD_E_NONE;
  if (code != KL_JD_E_DEPTH) return messages[code];
  snprintf(buf, cap, messages[code], max_depth);
  return buf;
}

size_t kl_jd_errmsg(const kl_jd *p, char *buf, size_t cap) {
  if (cap == 0) return 0;
  size_t at = p->err_at, line, col;
  kl_jd_line_col((const char *)p->start, (size_t)(p->end - p->start), at, &line, &col);
  char what[64];
  int n = snprintf(buf, cap, "%s at byte %zu (line %zu, column %zu)", kl_jd_what(p->err, p->max_depth, what, sizeof what),
                   at + 1, line, col);
  if (n < 0) {
    buf[0] = '\0';
    return 0;
  }
  return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* ---- strings --------------------------------------------------------------- */

/* Bytes a string scan must stop at: '"', '\\', controls, and >= 0x80 (to
 * validate UTF-8). DEL (0x7f) is plain. */
static const unsigned char stop[256] = {
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* The bytes of w that stop[] marks, as their high bits (exact per byte: no
 * carries cross bytes). */
static inline uint64_t stop_mask(uint64_t w) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull, low7 = ~high;
  uint64_t lt20 = ~(((w & low7) + ones * (0x80 - 0x20)) | w) & high;
  uint64_t x = w ^ (ones * '"'), y = w ^ (ones * '\\');
  uint64_t eq = ~((((x & low7) + low7) | x) & (((y & low7) + low7) | y)) & high;
  return lt20 | eq | (w & high);
}

/* Skips plain bytes: returns the first byte stop[] marks, or end. 16 bytes
 * at a time with SSE2 (every x86-64), then 8 with plain 64-bit arithmetic. */
static inline const unsigned char *skip_plain(const unsigned char *q, const unsigned char *end) {
#ifdef __SSE2__
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
  while (end - q >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
    /* signed: bytes >= 0x80 are negative, so "< 0x20" catches them too */
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmplt_epi8(v, space));
    int bits = _mm_movemask_epi8(m);
    if (bits) return q + __builtin_ctz((unsigned)bits);
    q += 16;
  }
#endif
  while (end - q >= 8) {
    uint64_t w, m;
    memcpy(&w, q, 8);
    if ((m = stop_mask(w)) != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      return q + (__builtin_ctzll(m) >> 3);
#else
      break;
#endif
    }
    q += 8;
  }
  while (q < end && !stop[*q]) q++;
  return q;
}

static int hexval(unsigned c) {
  if (IS_DIGIT(c)) return (int)(c - '0');
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
  return -1;
}

/* The 4 hex digits after the \u at q (q at the backslash, q[1] == 'u'):
 * their value, or -1 with the error set. */
static long read_u(kl_jd *p, const unsigned char *q) {
  const unsigned char *h = q + 2;
  size_t avail = (size_t)(p->end - h);
  long v = 0;
  for (size_t i = 0; i < 4; i++) {
    if (i == avail) {
      fail(p, KL_JD_E_EOF, p->end);
      return -1;
    }
    int d = hexval(h[i]);
    if (d < 0) {
      fail(p, KL_JD_E_UESCAPE, q);
      return -1;
    }
    v = v * 16 + d;
  }
  return v;
}

/* What the letter after a backslash stands for; 0: not an escape ('u' is
 * handled apart). */
static const char unescape[256] = {
  ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b',
  ['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t',
};

/* The \u escape at q (q[1] == 'u'), one or a surrogate pair: writes its
 * UTF-8 at *o and returns the byte after it, or NULL with the error set. */
static const unsigned char *u_escape(kl_jd *p, const unsigned char *q, unsigned char **o) {
  const unsigned char *end = p->end;
  long cp = read_u(p, q);
  size_t used = 6;
  if (cp < 0) return NULL;
  if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p, KL_JD_E_SURROGATE, q);
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    const unsigned char *r = q + 6;
    if (r == end || (end - r == 1 && r[0] == '\\')) return fail(p, KL_JD_E_EOF, end);
    if (end - r < 2 || r[0] != '\\' || r[1] != 'u') return fail(p, KL_JD_E_SURROGATE, q);
    long lo = read_u(p, r);
    if (lo < 0) return NULL;
    if (lo < 0xDC00 || lo > 0xDFFF) return fail(p, KL_JD_E_SURROGATE, q);
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    used = 12;
  }
  unsigned char *w = *o;
  if (cp < 0x80) {
    *w++ = (unsigned char)cp;
  } else if (cp < 0x800) {
    *w++ = (unsigned char)(0xC0 | (cp >> 6));
    *w++ = (unsigned char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *w++ = (unsigned char)(0xE0 | (cp >> 12));
    *w++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    *w++ = (unsigned char)(0x80 | (cp & 0x3F));
  } else {
    *w++ = (unsigned char)(0xF0 | (cp >> 18));
    *w++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    *w++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    *w++ = (unsigned char)(0x80 | (cp & 0x3F));
  }
  *o = w;
  return q + used;
}

/* Validates the UTF-8 sequences starting at q (a byte >= 0x80), as many as
 * follow each other and start before lim; returns the byte after them, or
 * NULL with the error set. */
static inline const unsigned char *utf8_run(kl_jd *p, const unsigned char *q,
                                            const unsigned char *lim) {
  do {
    size_t n = kl_utf8_seq(q, (size_t)(p->end - q));
    if (!n) return fail(p, KL_JD_E_UTF8, q);
    q += n;
  } while (q < lim && *q >= 0x80);
  return q;
}

/* Room in scratch so that input up to *lim can be decoded without checks:
 * the output never outgrows the input consumed (s: where the string's
 * contents start), and a step begun before *lim ends at most 11 bytes past
 * it (a surrogate pair), so every step must start before *lim. The window
 * grows geometrically; it starts small so tests and fuzzing cross it. */
static unsigned char *scratch_window(kl_jd *p, const unsigned char *s, const unsigned char *q,
                                     size_t used, const unsigned char **lim) {
  kl_buf *b = &p->scratch;
  size_t ahead = (size_t)(q - s) > 256 ? (size_t)(q - s) : 256;
  if (ahead > (size_t)(p->end - q)) ahead = (size_t)(p->end - q);
  *lim = q + ahead;
  size_t need = (size_t)(*lim - s) + 16;
  b->len = used;
  if (need > used && kl_buf_reserve(b, need - used) != 0) return NULL;
  return (unsigned char *)b->data + used;
}

/* q is just after the opening quote. Sets str/len; returns the byte after
 * the closing quote, or NULL with the error set. Strings without escapes
 * point into the input; the rest are decoded into scratch. */
static const unsigned char *parse_string(kl_jd *p, const unsigned char *q) {
  const unsigned char *end = p->end, *s = q;
  for (;;) {
    q = skip_plain(q, end);
    if (q == end) return fail(p, KL_JD_E_EOF, q);
    unsigned c = *q;
    if (c == '"') {
      p->str = (const char *)s;
      p->len = (size_t)(q - s);
      return q + 1;
    }
    if (c == '\\') break;
    if (c < 0x20) return fail(p, KL_JD_E_CONTROL, q);
    q = utf8_run(p, q, end);
    if (!q) return NULL;
  }
  /* Escapes: copy what was plain, then decode straight into scratch. */
  kl_buf *b = &p->scratch;
  const unsigned char *lim;
  unsigned char *o = scratch_window(p, s, q, 0, &lim);
  if (!o) return fail(p, KL_JD_E_NOMEM, q);
  memcpy(o, s, (size_t)(q - s));
  o += q - s;
  for (;;) {
    if (q >= lim) {
      if (q == end) return fail(p, KL_JD_E_EOF, q);
      o = scratch_window(p, s, q, (size_t)(o - (unsigned char *)b->data), &lim);
      if (!o) return fail(p, KL_JD_E_NOMEM, q);
    }
    unsigned c = *q;
    if (c == '\\') {
      if (end - q < 2) return fail(p, KL_JD_E_EOF, end);
      char e = unescape[q[1]];
      if (e) {
        *o++ = (unsigned char)e;
        q += 2;
      } else if (q[1] == 'u') {
        q = u_escape(p, q, &o);
        if (!q) return NULL;
      } else {
        return fail(p, KL_JD_E_ESCAPE, q);
      }
    } else if (c == '"') {
      b->len = (size_t)(o - (unsigned char *)b->data);
      b->data[b->len] = '\0';
      p->str = b->data;
      p->len = b->len;
      return q + 1;
    } else if (c < 0x20) {
      return fail(p, KL_JD_E_CONTROL, q);
    } else { /* a run of plain bytes and UTF-8, copied in one go */
      const unsigned char *r = q;
      for (;;) {
        if (*q >= 0x80) {
          q = utf8_run(p, q, lim);
          if (!q) return NULL;
          if (q >= lim) break;
        }
        q = skip_plain(q, lim);
        if (q == lim || *q < 0x80) break;
      }
      memcpy(o, r, (size_t)(q - r));
      o += q - r;
    }
  }
}

/* ---- numbers --------------------------------------------------------------- */

static const double pow10_exact[23] = {
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* The "C" locale for strtod_l, made once (a lost race frees its copy). It
 * lives until exit. */
static locale_t c_locale(void) {
  static locale_t loc;
  locale_t l = __atomic_load_n(&loc, __ATOMIC_ACQUIRE);
  if (l) return l;
  l = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  if (!l) return (locale_t)0;
  locale_t expected = (locale_t)0;
  if (!__atomic_compare_exchange_n(&loc, &expected, l, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    freelocale(l);
    l = expected;
  }
  return l;
}

/* q at '-' or a digit. Returns the byte after the number, or NULL with the
 * error set; *tok says INT or DOUBLE. */
static const unsigned char *parse_number(kl_jd *p, const unsigned char *q, kl_jd_token *tok) {
  const unsigned char *s = q, *end = p->end;
  int neg = 0, is_int = 1, many = 0, nd = 0;
  uint64_t m = 0; /* up to 19 significant digits */
  int64_t exp10 = 0;
  if (*q == '-') {
    neg = 1;
    if (++q == end) return fail(p, KL_JD_E_EOF, q);
  }
  if (*q == '0') {
    q++;
    if (q < end && IS_DIGIT(*q)) return fail(p, KL_JD_E_NUMBER, q); /* leading zero */
  } else if (IS_DIGIT(*q)) {
    for (; q < end && IS_DIGIT(*q); q++) {
      if (nd < 19) m = m * 10 + (unsigned)(*q - '0'), nd++;
      else many = 1;
    }
  } else {
    return fail(p, KL_JD_E_NUMBER, q);
  }
  if (q < end && *q == '.') {
    is_int = 0;
    if (++q == end) return fail(p, KL_JD_E_EOF, q);
    if (!IS_DIGIT(*q)) return fail(p, KL_JD_E_NUMBER, q);
    for (; q < end && IS_DIGIT(*q); q++) {
      if (nd < 19) {
        m = m * 10 + (unsigned)(*q - '0');
        if (m) nd++; /* leading zeros of 0.00x are not significant */
        exp10--;
      } else if (*q != '0') {
        many = 1; /* a dropped zero changes nothing; anything else does */
      }
    }
  }
  if (q < end && (*q == 'e' || *q == 'E')) {
    int eneg = 0;
    int64_t e = 0;
    is_int = 0;
    if (++q < end && (*q == '+' || *q == '-')) eneg = *q++ == '-';
    if (q == end) return fail(p, KL_JD_E_EOF, q);
    if (!IS_DIGIT(*q)) return fail(p, KL_JD_E_NUMBER, q);
    for (; q < end && IS_DIGIT(*q); q++)
      if (e < 100000000) e = e * 10 + (*q - '0');
    exp10 += eneg ? -e : e;
  }
  p->raw = (const char *)s;
  p->raw_len = (size_t)(q - s);

  if (is_int && !many) {
    if (neg ? m <= (uint64_t)1 << 63 : m < (uint64_t)1 << 63) {
      p->i = neg ? (int64_t)(0 - m) : (int64_t)m; /* -0 is 0 */
      *tok = KL_JD_INT;
      return q;
    }
    p->d = neg ? -(double)m : (double)m; /* 19 digits beyond int64: exact in m */
    *tok = KL_JD_DOUBLE;
    return q;
  }
  *tok = KL_JD_DOUBLE;
  if (!many && m == 0) { /* 0.0, 0e999 */
    p->d = neg ? -0.0 : 0.0;
    return q;
  }
  /* Clinger's fast path: m and 10^|exp10| are exact doubles, so one
   * correctly rounded multiply or divide gives the correctly rounded value. */
  if (!many && m <= (uint64_t)1 << 53 && exp10 >= -22 && exp10 <= 22) {
    double d = (double)m;
    d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
    p->d = neg ? -d : d;
    return q;
  }
  /* Anything else: strtod in the C locale on a NUL-terminated copy. */
  char small[64], *lit = small;
  size_t n = p->raw_len;
  if (n < sizeof small) {
    memcpy(small, s, n);
    small[n] = '\0';
  } else {
    p->scratch.len = 0;
    if (kl_buf_add(&p->scratch, s, n) != 0) return fail(p, KL_JD_E_NOMEM, s);
    lit = p->scratch.data;
  }
  locale_t loc = c_locale();
  if (!loc) return fail(p, KL_JD_E_NOMEM, s);
  double d = strtod_l(lit, NULL, loc);
  if (isinf(d)) return fail(p, KL_JD_E_RANGE, s);
  p->d = d;
  return q;
}

/* ---- the grammar ------------------------------------------------------------- */

static inline const unsigned char *skip_ws(const unsigned char *q, const unsigned char *end) {
  while (q < end && IS_WS(*q)) q++;
  return q;
}

/* q at a 't', 'f' or 'n'. */
static const unsigned char *literal(kl_jd *p, const unsigned char *q, const char *lit, size_t n) {
  size_t avail = (size_t)(p->end - q);
  if (avail >= n && memcmp(q, lit, n) == 0) {
    p->raw = (const char *)q;
    p->raw_len = n;
    return q + n;
  }
  if (avail < n && memcmp(q, lit, avail) == 0) return fail(p, KL_JD_E_EOF, p->end);
  return fail(p, KL_JD_E_LITERAL, q);
}

kl_jd_token kl_jd_next(kl_jd *p) {
  const unsigned char *q = p->p, *end = p->end;
  kl_jd_token tok;
  switch (p->state) {
  case S_VALUE:
    q = skip_ws(q, end);
    break;
  case S_ARRAY_FIRST:
    q = skip_ws(q, end);
    if (q < end && *q == ']') goto array_end;
    break;
  case S_OBJECT_FIRST:
    q = skip_ws(q, end);
    if (q == end) goto eof;
    if (*q == '}') goto object_end;
    if (*q != '"') goto bad_first_key;
    goto key;
  case S_AFTER:
    q = skip_ws(q, end);
    if (p->depth == 0) {
      if (q != end) {
        fail(p, KL_JD_E_TRAILING, q);
        return KL_JD_ERROR;
      }
      p->state = S_DONE;
      p->p = q;
      return KL_JD_END;
    }
    if (q == end) goto eof;
    if (p->is_object[p->depth]) {
      if (*q == '}') goto object_end;
      if (*q != ',') {
        fail(p, KL_JD_E_OBJECT_SEP, q);
        return KL_JD_ERROR;
      }
      q = skip_ws(q + 1, end);
      if (q == end) goto eof;
      if (*q != '"') {
        fail(p, KL_JD_E_KEY, q);
        return KL_JD_ERROR;
      }
      goto key;
    }
    if (*q == ']') goto array_end;
    if (*q != ',') {
      fail(p, KL_JD_E_ARRAY_SEP, q);
      return KL_JD_ERROR;
    }
    q = skip_ws(q + 1, end);
    break;
  case S_DONE:
    return KL_JD_END;
  default:
    return KL_JD_ERROR;
  }

  /* A value at q. */
  if (q == end) goto eof;
  p->raw = (const char *)q;
  p->raw_len = 1;
  switch (*q) {
  case '{':
  case '[':
    if (p->depth >= p->max_depth) {
      fail(p, KL_JD_E_DEPTH, q);
      return KL_JD_ERROR;
    }
    p->depth++;
    p->is_object[p->depth] = *q == '{';
    p->state = *q == '{' ? S_OBJECT_FIRST : S_ARRAY_FIRST;
    p->p = q + 1;
    return *q == '{' ? KL_JD_OBJECT : KL_JD_ARRAY;
  case '"': {
    const unsigned char *r = parse_string(p, q + 1);
    if (!r) return KL_JD_ERROR;
    p->raw_len = (size_t)(r - q);
    p->p = r;
    p->state = S_AFTER;
    return KL_JD_STRING;
  }
  case 't':
    q = literal(p, q, "true", 4), tok = KL_JD_TRUE;
    break;
  case 'f':
    q = literal(p, q, "false", 5), tok = KL_JD_FALSE;
    break;
  case 'n':
    q = literal(p, q, "null", 4), tok = KL_JD_NULL;
    break;
  case '-': case '0': case '1': case '2': case '3': case '4':
  case '5': case '6': case '7': case '8': case '9':
    q = parse_number(p, q, &tok);
    break;
  default:
    fail(p, KL_JD_E_VALUE, q);
    return KL_JD_ERROR;
  }
  if (!q) return KL_JD_ERROR;
  p->p = q;
  p->state = S_AFTER;
  return tok;

key: { /* q at the opening quote of a member name */
  const unsigned char *r = parse_string(p, q + 1);
  if (!r) return KL_JD_ERROR;
  p->raw = (const char *)q;
  p->raw_len = (size_t)(r - q);
  r = skip_ws(r, end);
  if (r == end) {
    q = r;
    goto eof;
  }
  if (*r != ':') {
    fail(p, KL_JD_E_COLON, r);
    return KL_JD_ERROR;
  }
  p->p = r + 1;
  p->state = S_VALUE;
  return KL_JD_KEY;
}

object_end:
  tok = KL_JD_OBJECT_END;
  goto close;
array_end:
  tok = KL_JD_ARRAY_END;
close:
  p->raw = (const char *)q;
  p->raw_len = 1;
  p->depth--;
  p->p = q + 1;
  p->state = S_AFTER;
  return tok;

bad_first_key:
  fail(p, KL_JD_E_KEY_OR_END, q);
  return KL_JD_ERROR;
eof:
  fail(p, KL_JD_E_EOF, q);
  return KL_JD_ERROR;
}
