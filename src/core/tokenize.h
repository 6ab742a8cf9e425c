/* Encoding text with a tiktoken encoding, as tiktoken's Encoding.encode:
 * invalid UTF-8 replaced by U+FFFD (maximal subparts), special tokens
 * found first (an allowed one becomes its id and cuts the text into
 * segments; a disallowed one is an error naming it), then each segment is
 * split by the encoding's pretokenizer and each piece byte-pair encoded.
 *
 * A kl_tokenizer is the per-caller working state (one per Lua state and
 * encoding; never shared between threads): BPE scratch, the output array,
 * and a piece cache. The cache remembers the ids of pieces that are not
 * whole tokens (those need the merge loop); pieces that are whole tokens,
 * most of them, are found straight in the vocabulary, so caching them would
 * only add a second lookup. It holds up to 16384 pieces of <= 64 bytes and
 * is emptied when full, so memory stays bounded (1.3 MB, allocated on the
 * first piece that needs merging). */
#ifndef KEEL_TOKENIZE_H
#define KEEL_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "bpe.h"
#include "encoding.h"

typedef enum { KL_SP_NONE, KL_SP_ALL, KL_SP_SET } kl_sp_mode;

/* Which special tokens are tokens (allowed) and which are errors
 * (disallowed) when their text appears; anything else is plain text.
 * set[i] refers to enc->specials[i]. tiktoken's defaults are allowed NONE,
 * disallowed ALL (= every special that is not allowed). */
typedef struct {
  kl_sp_mode allowed, disallowed;
  const unsigned char *allowed_set, *disallowed_set;
} kl_sp_opts;

extern const kl_sp_opts KL_SP_DEFAULT;  /* allowed none, disallowed all */
extern const kl_sp_opts KL_SP_ORDINARY; /* allowed none, disallowed none */

typedef struct {
  const kl_encoding *enc;
  kl_bpe_scratch bpe;
  uint32_t *out;          /* ids of the last encode */
  size_t nout, capout;
  char *text;             /* the sanitized copy when input was not UTF-8 */
  size_t captext;
  int cache_on;
  struct kl_piece_cache *cache;
  uint64_t cache_hits, cache_misses;
  /* after KL_TOK_DISALLOWED: which special, and its byte offset in the
   * (sanitized) text */
  const kl_special *bad;
  size_t bad_at;
} kl_tokenizer;

enum { KL_TOK_OK = 0, KL_TOK_NOMEM = -1, KL_TOK_DISALLOWED = -2, KL_TOK_TOO_LARGE = -3 };

/* The largest text encoded: the id array (4 bytes per id, at most one id
 * per byte) and the sanitized copy (3 bytes per byte) are bounded by it. */
#define KL_TOK_MAX_TEXT ((size_t)1 << 30)

void kl_tok_init(kl_tokenizer *t, const kl_encoding *e);
void kl_tok_free(kl_tokenizer *t);
void kl_tok_cache(kl_tokenizer *t, int on);  /* on by default */
void kl_tok_cache_clear(kl_tokenizer *t);

/* Encodes S[0..N) into t->out / t->nout. With COUNT_ONLY the ids are not
 * kept (t->nout is 0) and *COUNT gets their number. LIMIT stops early once
 * more than LIMIT ids were produced (SIZE_MAX: no limit); *COUNT is then
 * > LIMIT but not the full count. Returns KL_TOK_OK, KL_TOK_NOMEM,
 * KL_TOK_TOO_LARGE (N > KL_TOK_MAX_TEXT) or KL_TOK_DISALLOWED (t->bad,
 * t->bad_at say which and where). */
int kl_tok_encode(kl_tokenizer *t, const char *s, size_t n, const kl_sp_opts *o, int count_only,
                  size_t limit, size_t *count);

/* The longest prefix of S[0..N) (after U+FFFD replacement) that ends on a
 * code point boundary and encodes to at most MAX ids. Counts are not
 * monotone in the prefix length (r50k: "HT" 1 token, "HTT" 2, "HTTP" 1), so
 * this is the text of the first MAX ids, cut back to a boundary, shortened
 * while it encodes to more than MAX ids, then the longest prefix that fits
 * among the code points up to 32 past the last one that did: the next code
 * point after the result never fits, and a longer prefix that fits again
 * would have to be more than 32 code points further. *TEXT, *LEN: the
 * prefix (into S, or into t->text when S was not valid UTF-8); *COUNT: its
 * ids. Returns as kl_tok_encode. */
int kl_tok_truncate(kl_tokenizer *t, const char *s, size_t n, const kl_sp_opts *o, size_t max,
                    const char **text, size_t *len, size_t *count);

/* The bytes of ID: a token's, or a special token's text; NULL (and *N = 0)
 * when ID is neither. */
const unsigned char *kl_tok_id_bytes(const kl_encoding *e, uint32_t id, size_t *n);

/* Appends the bytes of IDS (special ids give their text) to OUT. 0, or -1
 * with *BAD = index of an id that is not in the encoding (*BAD = N when OUT
 * hit its cap). */
int kl_tok_decode(const kl_encoding *e, const uint32_t *ids, size_t n, kl_buf *out, size_t *bad);

#endif
