/* Finding the JSON value in a model's answer: prose around it, ```json
 * fences, several candidates, a byte order mark; and, only when asked,
 * repairing the slips models make (trailing commas, smart or single quotes,
 * comments, Python's True/False/None). Never a guess at a value that was
 * cut off: a value that runs to the end of the text is not a candidate, and
 * nothing nested inside a value that failed to parse is one either.
 *
 * Where it looks, first success wins:
 *   1. the whole text (without BOM and surrounding white space)
 *   2. each ``` fence, those tagged json (or jsonc, json5) before untagged ones
 *   3. a left-to-right scan for '{' and '[': each attempt parses strictly
 *      from there. After a success the scan goes on after it; a broken
 *      value (its bracket has a matching close) is skipped whole; a value
 *      that never closes and got into real JSON ends the scan (it was cut
 *      off); anything else was a stray bracket in prose. The first complete
 *      object or array wins. With LENIENT, each broken value is repaired in
 *      place, in text order.
 * With LENIENT, when all of that fails: the whole text and the fences again
 * with the repairs applied. The repairs made are reported. */
#ifndef KEEL_JSONEXTRACT_H
#define KEEL_JSONEXTRACT_H

#include <stddef.h>

#include "buf.h"
#include "jsondec.h"

typedef enum { KL_JX_WHOLE, KL_JX_FENCE, KL_JX_TEXT } kl_jx_source;

/* Repairs (bits of kl_jx_result.repairs). */
#define KL_JX_REPAIRS(X)                       \
  X(TRAILING_COMMA, 1, "trailing_comma")       \
  X(SMART_QUOTES, 2, "smart_quotes")           \
  X(SINGLE_QUOTES, 4, "single_quotes")         \
  X(COMMENTS, 8, "comments")                   \
  X(PYTHON_LITERALS, 16, "python_literals")

enum {
#define X(name, bit, str) KL_JX_R_##name = bit,
  KL_JX_REPAIRS(X)
#undef X
};

typedef struct {
  /* found: the JSON text is text[start, start + len) of the input, or,
   * when repairs != 0, the contents of the caller's repair buffer (start
   * and len then give the input span it was made from). */
  kl_jx_source source;
  size_t start, len;
  unsigned repairs;
  size_t candidates; /* complete values seen by the scan (step 3) */
  /* not found: the attempt that got furthest, for the message */
  int err;
  size_t err_at, err_from;
} kl_jx_result;

/* 1 found, 0 not found (r->err/err_at/err_from describe the attempt that
 * got furthest; err is KL_JD_E_NONE when there was no '{' or '[' at all),
 * -1 out of memory. JD is caller-owned parser state (kl_jd_init'ed); OUT
 * receives the repaired text in lenient mode. */
int kl_jx_extract(const char *s, size_t n, int lenient, kl_jd *jd, kl_buf *out, kl_jx_result *r);

/* The repairs on S[0..N) into OUT; returns the KL_JX_R_* bits applied, or
 * -1 when OUT hit its cap. Strings in double quotes are never changed. */
int kl_jx_repair(const char *s, size_t n, kl_buf *out);

#endif
