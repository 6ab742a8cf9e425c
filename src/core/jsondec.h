/* A strict RFC 8259 JSON pull parser (tokenizer plus grammar check).
 *
 * Pure C, no Lua: kl_jd_next hands out one token at a time and the caller
 * builds whatever it likes (the Lua binding builds tables on the Lua stack).
 * The whole text is in memory; nothing is copied except strings holding
 * escapes, which are decoded into a scratch buffer the parser owns.
 *
 * Rules: one value, optionally surrounded by whitespace (space, tab, LF, CR);
 * nothing after it. Strings must be valid UTF-8 (RFC 3629: no overlongs,
 * surrogates or values above U+10FFFF) with no raw byte below 0x20; escapes
 * are the eight of RFC 8259 plus \uXXXX, a surrogate pair becoming one code
 * point and a lone surrogate an error. \u0000 gives a NUL byte. Numbers follow
 * the RFC grammar (no leading zeros, "+", ".5", "1.", hex, NaN, Infinity); an
 * integer literal (no fraction or exponent) that fits int64 is an INT ("-0"
 * is the integer 0), anything else a DOUBLE, correctly rounded whatever the
 * locale; a magnitude too large for a double is an error, one too small
 * rounds to 0 or a subnormal. Nesting is limited (KL_JD_MAX_DEPTH, or less).
 * A leading byte order mark is an error: RFC 8259 lets parsers ignore it,
 * JSON.parse does not, and no provider sends one.
 *
 * Errors carry a byte offset; kl_jd_errmsg formats
 * "<what> at byte N (line L, column C)", N, L and C counted from 1, columns
 * in bytes, lines ended by LF. At the end of input N is the length + 1. */
#ifndef KEEL_JSONDEC_H
#define KEEL_JSONDEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define KL_JD_MAX_DEPTH 1000

typedef enum {
  KL_JD_ERROR = -1, /* see err; every later call returns KL_JD_ERROR again */
  KL_JD_END = 0,    /* the text was one complete value; later calls: KL_JD_END */
  KL_JD_OBJECT,     /* '{' */
  KL_JD_OBJECT_END, /* '}' */
  KL_JD_ARRAY,      /* '[' */
  KL_JD_ARRAY_END,  /* ']' */
  KL_JD_KEY,        /* a member name in str/len (its ':' consumed) */
  KL_JD_STRING,     /* str/len */
  KL_JD_INT,        /* i */
  KL_JD_DOUBLE,     /* d (finite) */
  KL_JD_TRUE,
  KL_JD_FALSE,
  KL_JD_NULL
} kl_jd_token;

/* Error codes and their messages, one list. */
#define KL_JD_ERRORS(X)                                       \
  X(NONE, "no error")                                         \
  X(EOF, "unexpected end of input")                           \
  X(VALUE, "expected a value")                                \
  X(KEY, "expected a string key")                             \
  X(KEY_OR_END, "expected a string key or '}'")               \
  X(COLON, "expected ':'")                                    \
  X(OBJECT_SEP, "expected ',' or '}'")                        \
  X(ARRAY_SEP, "expected ',' or ']'")                         \
  X(TRAILING, "trailing characters")                          \
  X(LITERAL, "invalid literal")                               \
  X(NUMBER, "invalid number")                                 \
  X(RANGE, "number out of range")                             \
  X(ESCAPE, "invalid escape")                                 \
  X(UESCAPE, "invalid \\u escape")                            \
  X(SURROGATE, "lone surrogate in \\u escape")                \
  X(CONTROL, "control character in string")                  \
  X(UTF8, "invalid UTF-8")                                    \
  X(DEPTH, "nesting deeper than %d")                          \
  X(BOM, "byte order mark at start of input (not JSON)")      \
  X(STACK, "nesting too deep for the Lua stack")              \
  X(NOMEM, "out of memory")

enum {
#define X(name, msg) KL_JD_E_##name,
  KL_JD_ERRORS(X)
#undef X
  KL_JD_E_COUNT
};

typedef struct {
  /* The current token. str points into the input, or into scratch when the
   * string had escapes (valid until the next call). raw/raw_len: the token's
   * bytes in the input (for strings, the quotes included). */
  const char *str;
  size_t len;
  int64_t i;
  double d;
  const char *raw;
  size_t raw_len;

  /* Error: code and byte offset (0-based) into the input. */
  int err;
  size_t err_at;

  /* private */
  const unsigned char *start, *p, *end;
  int state, depth, max_depth;
  kl_buf scratch;
  unsigned char is_object[KL_JD_MAX_DEPTH + 1]; /* per depth, 1..depth */
} kl_jd;

/* Once, before the first kl_jd_start; kl_jd_free releases the scratch. */
void kl_jd_init(kl_jd *p);
void kl_jd_free(kl_jd *p);
/* Begins a text of n bytes (it must stay put while parsing). max_depth:
 * 1..KL_JD_MAX_DEPTH, anything else means KL_JD_MAX_DEPTH. */
void kl_jd_start(kl_jd *p, const char *text, size_t n, int max_depth);
kl_jd_token kl_jd_next(kl_jd *p);
/* Fails the parse from outside (the caller ran out of something) at byte
 * offset at; the next kl_jd_next returns KL_JD_ERROR. */
void kl_jd_fail(kl_jd *p, int code, size_t at);
/* "<what> at byte N (line L, column C)" into buf (always NUL-terminated);
 * returns the length written. */
size_t kl_jd_errmsg(const kl_jd *p, char *buf, size_t cap);
/* The pieces of that message, for callers that place errors in a larger
 * text: the line and column of byte offset AT (0-based) in TEXT[0..N), and
 * the message of error CODE (BUF holds it when it needs formatting). */
void kl_jd_line_col(const char *text, size_t n, size_t at, size_t *line, size_t *col);
const char *kl_jd_what(int code, int max_depth, char *buf, size_t cap);

/* Length of the valid UTF-8 sequence at p (n > 0 bytes available) that
 * starts with a byte >= 0xC2, 0 if invalid. Table 3-7 of the Unicode
 * standard: rejects overlongs (C0, C1, E0 80..9F, F0 80..8F), surrogates
 * (ED A0..BF) and code points above U+10FFFF. */
static inline size_t kl_utf8_seq(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  if (c < 0xC2) return 0; /* continuation byte or overlong lead */
  if (c < 0xE0) return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
  }
  if (c < 0xF5) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return n >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80
               ? 4 : 0;
  }
  return 0;
}

#endif
