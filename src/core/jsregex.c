#define PCRE2_CODE_UNIT_WIDTH 8
#include "jsregex.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

struct kl_regex {
  pcre2_code *code;
  pcre2_match_data *md;
  pcre2_match_context *mc;
  pcre2_jit_stack *stack;
  int jit;
};

#define ECMA_SPACE "\\t\\n\\x{0b}\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}"

static int hex4(const char *p, const char *end, unsigned *out) {
  if (end - p < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return 0;
}

/* ECMA's \p{...} names (long General_Category names and their aliases,
 * gc=/General_Category=, Script=/sc=) in PCRE2's spelling. */
static const char *const GC[][2] = {
  { "Letter", "L" }, { "Cased_Letter", "L&" }, { "LC", "L&" }, { "Uppercase_Letter", "Lu" },
  { "Lowercase_Letter", "Ll" }, { "Titlecase_Letter", "Lt" }, { "Modifier_Letter", "Lm" }, { "Other_Letter", "Lo" },
  { "Mark", "M" }, { "Combining_Mark", "M" }, { "Nonspacing_Mark", "Mn" }, { "Spacing_Mark", "Mc" },
  { "Enclosing_Mark", "Me" }, { "Number", "N" }, { "Decimal_Number", "Nd" }, { "digit", "Nd" },
  { "Letter_Number", "Nl" }, { "Other_Number", "No" }, { "Punctuation", "P" }, { "punct", "P" },
  { "Connector_Punctuation", "Pc" }, { "Dash_Punctuation", "Pd" }, { "Open_Punctuation", "Ps" },
  { "Close_Punctuation", "Pe" }, { "Initial_Punctuation", "Pi" }, { "Final_Punctuation", "Pf" },
  { "Other_Punctuation", "Po" }, { "Symbol", "S" }, { "Math_Symbol", "Sm" }, { "Currency_Symbol", "Sc" },
  { "Modifier_Symbol", "Sk" }, { "Other_Symbol", "So" }, { "Separator", "Z" }, { "Space_Separator", "Zs" },
  { "Line_Separator", "Zl" }, { "Paragraph_Separator", "Zp" }, { "Other", "C" }, { "Control", "Cc" },
  { "cntrl", "Cc" }, { "Format", "Cf" }, { "Surrogate", "Cs" }, { "Private_Use", "Co" }, { "Unassigned", "Cn" },
};

static void add_property(kl_buf *o, char kind, const char *name, size_t n) {
  static const char *const prefixes[] = { "General_Category=", "gc=", "Script=", "sc=", "Script_Extensions=", "scx=" };
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
    size_t pl = strlen(prefixes[i]);
    if (n > pl && !memcmp(name, prefixes[i], pl)) { name += pl, n -= pl; break; }
  }
  const char *out = NULL;
  for (size_t i = 0; i < sizeof GC / sizeof *GC && !out; i++)
    if (strlen(GC[i][0]) == n && !memcmp(GC[i][0], name, n)) out = GC[i][1];
  kl_buf_addc(o, '\\');
  kl_buf_addc(o, kind);
  kl_buf_addc(o, '{');
  if (out) kl_buf_add(o, out, strlen(out));
  else kl_buf_add(o, name, n);
  kl_buf_addc(o, '}');
}

/* ECMA → PCRE2 syntax; -1 with a message for escapes ECMA rejects. */
static int translate(const char *p, size_t n, kl_buf *o, char *err, size_t errcap) {
  const char *end = p + n, *start = p;
  int in_class = 0;
  char tmp[32];
  while (p < end) {
    char c = *p;
    if (c == '[' && !in_class) {
      /* ECMA: `[]` is empty and `[^]` is anything (PCRE2_ALLOW_EMPTY_CLASS) */
      in_class = 1;
      kl_buf_addc(o, c);
      p++;
      if (p < end && *p == '^') kl_buf_addc(o, *p++);
      if (p < end && *p == ']') { in_class = 0; kl_buf_addc(o, *p++); }
      continue;
    }
    if (c == ']' && in_class) { in_class = 0; kl_buf_addc(o, c); p++; continue; }
    if (c == '.' && !in_class) { /* ECMA's `.` also stops at CR, U+2028, U+2029 */
      kl_buf_add(o, "[^\\n\\r\\x{2028}\\x{2029}]", 23);
      p++;
      continue;
    }
    if (c != '\\') { kl_buf_addc(o, c); p++; continue; }
    if (p + 1 >= end) { snprintf(err, errcap, "trailing backslash at offset %zu", (size_t)(p - start)); return -1; }
    char e = p[1];
    switch (e) {
    case 's':
      if (in_class) kl_buf_add(o, ECMA_SPACE, strlen(ECMA_SPACE));
      else { kl_buf_addc(o, '['); kl_buf_add(o, ECMA_SPACE, strlen(ECMA_SPACE)); kl_buf_addc(o, ']'); }
      p += 2;
      continue;
    case 'S':
      if (in_class) kl_buf_add(o, "\\S", 2);
      else { kl_buf_add(o, "[^", 2); kl_buf_add(o, ECMA_SPACE, strlen(ECMA_SPACE)); kl_buf_addc(o, ']'); }
      p += 2;
      continue;
    case 'v': kl_buf_add(o, "\\x{0b}", 6); p += 2; continue;
    case 'p':
    case 'P': {
      const char *close = p + 2 < end && p[2] == '{' ? memchr(p + 3, '}', (size_t)(end - p - 3)) : NULL;
      if (!close) { snprintf(err, errcap, "\\%c needs {name} (offset %zu)", e, (size_t)(p - start)); return -1; }
      add_property(o, e, p + 3, (size_t)(close - p - 3));
      p = close + 1;
      continue;
    }
    case 'u': {
      unsigned cp;
      if (p + 2 < end && p[2] == '{') {
        const char *q = p + 3;
        unsigned long v = 0;
        int digits = 0;
        while (q < end && *q != '}') {
          char h = *q;
          int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
          if (d < 0 || ++digits > 8) break;
          v = v * 16 + (unsigned)d;
          q++;
        }
        if (q >= end || *q != '}' || !digits || v > 0x10FFFF) {
          snprintf(err, errcap, "bad \\u{...} escape at offset %zu", (size_t)(p - start));
          return -1;
        }
        snprintf(tmp, sizeof tmp, "\\x{%lx}", v);
        kl_buf_add(o, tmp, strlen(tmp));
        p = q + 1;
        continue;
      }
      if (hex4(p + 2, end, &cp)) { snprintf(err, errcap, "bad \\u escape at offset %zu", (size_t)(p - start)); return -1; }
      p += 6;
      unsigned lo;
      if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u' && !hex4(p + 2, end, &lo) &&
          lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
      }
      if (cp >= 0xD800 && cp <= 0xDFFF) { snprintf(err, errcap, "lone surrogate escape at offset %zu", (size_t)(p - start)); return -1; }
      snprintf(tmp, sizeof tmp, "\\x{%x}", cp);
      kl_buf_add(o, tmp, strlen(tmp));
      continue;
    }
    case 'x':
      if (end - p < 4 || !strchr("0123456789abcdefABCDEF", p[2]) || !strchr("0123456789abcdefABCDEF", p[3]) || !p[2] || !p[3]) {
        snprintf(err, errcap, "\\x needs two hex digits at offset %zu", (size_t)(p - start));
        return -1;
      }
      kl_buf_add(o, p, 4);
      p += 4;
      continue;
    case 'a': case 'e': case 'A': case 'z': case 'Z': case 'G': case 'h': case 'H': case 'K': case 'N':
    case 'R': case 'X': case 'Q': case 'E': case 'C': case 'o': case 'g':
      snprintf(err, errcap, "\\%c is not an ECMA-262 escape (offset %zu)", e, (size_t)(p - start));
      return -1;
    default:
      kl_buf_add(o, p, 2);
      p += 2;
    }
  }
  return 0;
}

kl_regex *kl_regex_compile(const char *pat, size_t n, char *err, size_t errcap) {
  kl_buf b;
  kl_buf_init(&b, n * 64 + 1024);
  if (translate(pat, n, &b, err, errcap)) { kl_buf_free(&b); return NULL; }
  kl_regex *re = calloc(1, sizeof *re);
  if (!re) { kl_buf_free(&b); snprintf(err, errcap, "out of memory"); return NULL; }
  int ec;
  PCRE2_SIZE off;
  pcre2_compile_context *cctx = pcre2_compile_context_create(NULL);
  if (cctx) pcre2_set_newline(cctx, PCRE2_NEWLINE_ANYCRLF);
  re->code = pcre2_compile((PCRE2_SPTR)(b.data ? b.data : ""), b.len, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALLOW_EMPTY_CLASS | PCRE2_MATCH_UNSET_BACKREF, &ec, &off, cctx);
  pcre2_compile_context_free(cctx);
  kl_buf_free(&b);
  if (!re->code) {
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(ec, msg, sizeof msg);
    snprintf(err, errcap, "%s", (char *)msg);
    free(re);
    return NULL;
  }
  /* KEEL_REGEX_NO_JIT=1: the interpreter only. Valgrind cannot follow
   * PCRE2's JIT code and reports it as reading uninitialised memory. */
  static int no_jit = -1;
  if (no_jit < 0) no_jit = getenv("KEEL_REGEX_NO_JIT") && *getenv("KEEL_REGEX_NO_JIT") == '1';
  re->jit = !no_jit && pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
  re->md = pcre2_match_data_create(1, NULL);
  re->mc = pcre2_match_context_create(NULL);
  if (!re->md || !re->mc) { kl_regex_free(re); snprintf(err, errcap, "out of memory"); return NULL; }
  pcre2_set_match_limit(re->mc, 10000000);
  pcre2_set_depth_limit(re->mc, 100000);
  return re;
}

int kl_regex_search(kl_regex *re, const char *s, size_t n) {
  int r = pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, PCRE2_NO_UTF_CHECK, re->md, re->mc);
  if (r == PCRE2_ERROR_JIT_STACKLIMIT && !re->stack) {
    /* the default 32 KB JIT stack is small for long subjects; grow once */
    re->stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (re->stack) {
      pcre2_jit_stack_assign(re->mc, NULL, re->stack);
      r = pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, PCRE2_NO_UTF_CHECK, re->md, re->mc);
    }
  }
  if (r >= 0) return 1;
  if (r == PCRE2_ERROR_NOMATCH) return 0;
  return -1;
}

void kl_regex_free(kl_regex *re) {
  if (!re) return;
  pcre2_code_free(re->code);
  pcre2_match_data_free(re->md);
  pcre2_match_context_free(re->mc);
  if (re->stack) pcre2_jit_stack_free(re->stack);
  free(re);
}
