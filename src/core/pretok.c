/* tiktoken's split regexes as hand-written scanners (see pretok.h).
 *
 * Each pattern is an alternation tried in order at the current position
 * (leftmost-first, like the regex). Every alternative is resolved by forward
 * scans over class runs instead of backtracking: where the regex would
 * back off (greedy \s+ before (?!\S), \s* before [\r\n]+, o200k's
 * [Lu..M]* before [Ll..M]+), the scan remembers the one position the
 * backtracking would settle on (start of the last white-space char, end of
 * the last \r or \n, end of the last lower-class char). Each alternative
 * looks only at the run it ends up in or the run just before it, so the
 * total work is linear in the input. Classes come from unitab.h (Unicode
 * 16.0, the version of the regex crate in tiktoken). */
#include "pretok.h"

#include <stdint.h>
#include <string.h>

#include "jsondec.h"
#include "unitab.h"

typedef const unsigned char *bytes;

#define U_UP (KL_U_LU | KL_U_LT | KL_U_LM | KL_U_LO | KL_U_M) /* o200k "upper" class */
#define U_LO (KL_U_LL | KL_U_LM | KL_U_LO | KL_U_M)           /* o200k "lower" class */
#define U_OTHER_MASK (KL_U_L | KL_U_N | KL_U_WS)              /* [^\s\p{L}\p{N}] = none of these */

/* Class bits of the char at s[i] (i < n), its length in *len. A byte that
 * does not start a valid sequence counts as one char with no class. */
static __attribute__((noinline)) unsigned cls_multi(bytes s, size_t n, size_t i, size_t *len) {
  unsigned c = s[i];
  size_t l = kl_utf8_seq(s + i, n - i);
  uint32_t cp;
  switch (l) {
  case 2: cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu); break;
  case 3: cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu); break;
  case 4:
    cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) |
         (s[i + 3] & 0x3Fu);
    break;
  default: *len = 1; return 0;
  }
  *len = l;
  return kl_unicls(cp);
}

unsigned kl_unicode_class(uint32_t cp) { return kl_unicls(cp); }

/* ASCII inline (one table load), the rest out of line: inlining the whole
 * decoder made the compiler keep cls_at out of line, which cost ~40% on
 * ASCII text. */
static inline __attribute__((always_inline)) unsigned cls_at(bytes s, size_t n, size_t i, size_t *len) {
  unsigned c = s[i];
  if (c < 0x80) {
    *len = 1;
    return kl_unicls(c);
  }
  return cls_multi(s, n, i, len);
}

/* End of the run of chars from i whose class has any bit of mask
 * (mask 0: chars with none of U_OTHER_MASK, i.e. [^\s\p{L}\p{N}]). */
static size_t run(bytes s, size_t n, size_t i, unsigned mask) {
  /* The two tests as one: a char continues the run when its class has a bit
   * of WANT, or (mask 0) has no bit of U_OTHER_MASK. */
  unsigned want = mask ? mask : U_OTHER_MASK;
  int neg = mask == 0;
  while (i < n) {
#ifndef KL_PRETOK_NO_FAST
    /* ASCII stretch: one table load per byte, no length bookkeeping */
    while (i < n && s[i] < 0x80) {
      if (((kl_unicls(s[i]) & want) != 0) == neg) return i;
      i++;
    }
#endif
    if (i >= n) break;
    size_t l;
    unsigned b = cls_at(s, n, i, &l);
    if (((b & want) != 0) == neg) break;
    i += l;
  }
  return i;
}

static inline int is_other(unsigned b) { return !(b & U_OTHER_MASK); }
/* [^\r\n\p{L}\p{N}] */
static inline int is_prefix(unsigned b, unsigned char c) {
  return !(b & (KL_U_L | KL_U_N)) && c != '\r' && c != '\n';
}

/* Length of the contraction 's|'t|'re|'ve|'m|'ll|'d at s[i], 0 if none.
 * ci: case-insensitive with simple case folding (U+017F folds to s). */
static size_t contraction(bytes s, size_t n, size_t i, int ci) {
  if (i >= n || s[i] != '\'') return 0;
  size_t k = i + 1, m = 0;
  int c[2] = {0, 0};
  for (int j = 0; j < 2 && k < n; j++) {
    unsigned char b = s[k];
    if (ci && b >= 'A' && b <= 'Z') b = (unsigned char)(b + 32);
    if (ci && b == 0xC5 && k + 1 < n && s[k + 1] == 0xBF) { /* U+017F */
      c[j] = 's';
      k += 2;
    } else {
      c[j] = b;
      k += 1;
    }
    if (j == 0) m = k - i;
  }
  switch (c[0]) {
  case 's': case 't': case 'm': case 'd': return m;
  case 'r': case 'v': return c[1] == 'e' ? k - i : 0;
  case 'l': return c[1] == 'l' ? k - i : 0;
  default: return 0;
  }
}

/* The white-space alternatives at i (a \s char): with nl, \s*[\r\n]+ first
 * (cl100k, o200k); then \s+(?!\S), then \s+. */
static size_t ws_piece(bytes s, size_t n, size_t i, int nl) {
  size_t k = i, last = i, after_nl = 0;
  while (k < n) {
    size_t l;
    unsigned b = cls_at(s, n, k, &l);
    if (!(b & KL_U_WS)) break;
    last = k;
    k += l;
    if (s[last] == '\r' || s[last] == '\n') after_nl = k;
  }
  if (nl && after_nl) return after_nl;       /* \s*[\r\n]+ */
  if (k == n || last == i) return k;         /* \s+(?!\S) to the end, or \s+ */
  return last;                               /* \s+(?!\S): gives back the last char */
}

static size_t r50k_piece(bytes s, size_t n, size_t i) {
  size_t m = contraction(s, n, i, 0), l;
  if (m) return i + m;
  if (s[i] == ' ' && i + 1 < n) {
    unsigned b = cls_at(s, n, i + 1, &l);
    if (b & KL_U_L) return run(s, n, i + 1, KL_U_L);
    if (b & KL_U_N) return run(s, n, i + 1, KL_U_N);
    if (is_other(b)) return run(s, n, i + 1, 0);
  }
  unsigned b = cls_at(s, n, i, &l);
  if (b & KL_U_L) return run(s, n, i, KL_U_L);
  if (b & KL_U_N) return run(s, n, i, KL_U_N);
  if (is_other(b)) return run(s, n, i, 0);
  return ws_piece(s, n, i, 0);
}

static size_t digits3(bytes s, size_t n, size_t i) {
  for (int j = 0; j < 3 && i < n; j++) {
    size_t l;
    if (!(cls_at(s, n, i, &l) & KL_U_N)) break;
    i += l;
  }
  return i;
}

/* ` ?[^\s\p{L}\p{N}]+` then [\r\n]* (slash: [\r\n/]*); 0 if no match. */
static size_t punct_piece(bytes s, size_t n, size_t i, unsigned b0, int slash) {
  size_t j, l;
  if (s[i] == ' ' && i + 1 < n && is_other(cls_at(s, n, i + 1, &l))) j = i + 1;
  else if (is_other(b0)) j = i;
  else return 0;
  j = run(s, n, j, 0);
  while (j < n && (s[j] == '\r' || s[j] == '\n' || (slash && s[j] == '/'))) j++;
  return j;
}

static size_t cl100k_piece(bytes s, size_t n, size_t i) {
  size_t m = contraction(s, n, i, 1), l0, l;
  if (m) return i + m;
  unsigned b0 = cls_at(s, n, i, &l0);
  if (b0 & KL_U_L) return run(s, n, i, KL_U_L);
  if (is_prefix(b0, s[i]) && i + l0 < n && (cls_at(s, n, i + l0, &l) & KL_U_L))
    return run(s, n, i + l0, KL_U_L);
  if (b0 & KL_U_N) return digits3(s, n, i);
  if ((m = punct_piece(s, n, i, b0, 0))) return m;
  return ws_piece(s, n, i, 1);
}

/* o200k alternative 1 without its prefix, from a:
 * [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+ ; end or 0. */
static size_t o200k_a1(bytes s, size_t n, size_t a) {
  size_t u = a, last_lo_end = 0, l;
  while (u < n) {
    unsigned b = cls_at(s, n, u, &l);
    if (!(b & U_UP)) {
      if (b & U_LO) return run(s, n, u, U_LO); /* W+ right after the whole upper run */
      break;
    }
    u += l;
    if (b & U_LO) last_lo_end = u;
  }
  return last_lo_end; /* upper run backs off to its last lower-class char, or no match */
}

/* o200k alternative 2 without its prefix: [Lu Lt Lm Lo M]+[Ll Lm Lo M]* ; end or 0. */
static size_t o200k_a2(bytes s, size_t n, size_t a) {
  size_t u = run(s, n, a, U_UP);
  return u == a ? 0 : run(s, n, u, U_LO);
}

/* Alternatives 1 and 2 when everything they look at is ASCII (most words):
 * an optional prefix char, then [A-Z]*[a-z]+ or else [A-Z]+[a-z]* and the
 * contraction; 0 to leave it to the general code (no letter, or a
 * non-ASCII byte where the run could go on with a letter or a mark). */
#ifndef KL_PRETOK_NO_FAST
static inline int is_up(unsigned c) { return c - 'A' < 26u; }
static inline int is_lo(unsigned c) { return c - 'a' < 26u; }
static size_t o200k_ascii_word(bytes s, size_t n, size_t i) {
  size_t j = i;
  unsigned c = s[i];
  if (!is_up(c) && !is_lo(c)) {
    if (c - '0' < 10u || c == '\r' || c == '\n' || c >= 0x80) return 0; /* ASCII \p{N} is 0-9 */
    j++; /* the optional [^\r\n\p{L}\p{N}] */
  }
  if (j >= n || !(is_up(s[j]) || is_lo(s[j]))) return 0;
  size_t u = j;
  while (u < n && is_up(s[u])) u++;
  size_t l = u;
  while (l < n && is_lo(s[l])) l++;
  if (l < n && s[l] >= 0x80) return 0;
  size_t e = l > u ? l : u; /* [UP]*[LO]+, else [UP]+[LO]* (then l == u) */
  return e + contraction(s, n, e, 1);
}
#endif

static size_t o200k_piece(bytes s, size_t n, size_t i) {
  size_t l0, m;
#ifndef KL_PRETOK_NO_FAST /* spec/fuzz/pretok_fuzz.c builds without, to compare */
  if (s[i] < 0x80 && (m = o200k_ascii_word(s, n, i))) return m;
#endif
  unsigned b0 = cls_at(s, n, i, &l0);
  int pre = is_prefix(b0, s[i]) && i + l0 < n;
  size_t (*alt[2])(bytes, size_t, size_t) = {o200k_a1, o200k_a2};
  for (int k = 0; k < 2; k++) {
    size_t e = pre ? alt[k](s, n, i + l0) : 0;
    if (!e) e = alt[k](s, n, i); /* the optional prefix backs off */
    if (e) return e + contraction(s, n, e, 1);
  }
  if (b0 & KL_U_N) return digits3(s, n, i);
  if ((m = punct_piece(s, n, i, b0, 1))) return m;
  return ws_piece(s, n, i, 1);
}

int kl_pretok(kl_pat pat, const char *str, size_t n, kl_pretok_cb cb, void *ud) {
  bytes s = (bytes)str;
  size_t (*piece)(bytes, size_t, size_t) =
      pat == KL_PAT_O200K ? o200k_piece : pat == KL_PAT_CL100K ? cl100k_piece : r50k_piece;
  size_t i = 0;
  while (i < n) {
    size_t e = piece(s, n, i);
    if (e <= i) e = i + 1; /* cannot happen; keeps the loop finite regardless */
    int rc = cb(ud, str + i, e - i);
    if (rc) return rc;
    i = e;
  }
  return 0;
}

int kl_utf8_valid(const char *str, size_t n) {
  bytes s = (bytes)str;
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      /* 8 ASCII bytes at a time */
      uint64_t w;
      while (i + 8 <= n && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ull))) i += 8;
      continue;
    }
    size_t l = kl_utf8_seq(s + i, n - i);
    if (!l) return 0;
    i += l;
  }
  return 1;
}

/* Length of the maximal subpart of an ill-formed sequence at s[i]: the lead
 * byte plus the continuation bytes that are still a valid prefix (Table 3-7). */
static size_t maximal_subpart(bytes s, size_t n, size_t i) {
  unsigned c = s[i], need, lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else return 1;
  size_t k = 1;
  if (i + k < n && s[i + k] >= lo && s[i + k] <= hi) {
    k++;
    while (k <= need && i + k < n && (s[i + k] & 0xC0) == 0x80) k++;
  }
  return k;
}

size_t kl_utf8_sanitize(const char *str, size_t n, char *out) {
  bytes s = (bytes)str;
  size_t i = 0, o = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      out[o++] = (char)s[i++];
      continue;
    }
    size_t l = kl_utf8_seq(s + i, n - i);
    if (l) {
      for (size_t j = 0; j < l; j++) out[o++] = (char)s[i + j];
      i += l;
    } else {
      i += maximal_subpart(s, n, i);
      out[o++] = (char)0xEF;
      out[o++] = (char)0xBF;
      out[o++] = (char)0xBD;
    }
  }
  return o;
}
