/* Byte-pair encoding of one pretokenized piece, exactly as tiktoken's
 * byte_pair_encode (Rust core): if the whole piece is a token, that rank;
 * otherwise start from single bytes and repeatedly merge the adjacent pair
 * whose concatenated bytes have the lowest rank (ties: leftmost) until no
 * adjacent pair is a token.
 *
 * Short pieces (< KL_BPE_HEAP_MIN bytes) use tiktoken's own O(n*m) scan over
 * an array of parts. Longer ones use a doubly linked list of parts and a
 * binary min-heap keyed (rank, start) holding only pairs that are local
 * minima (rank < left pair's, <= right pair's: the global "lowest, then
 * leftmost" pair always is one), with lazy deletion, plus a small memo
 * (left token, right token) -> merged rank. O(n log n) at worst; a 1 MiB
 * run of one letter or of spaces takes ~15 ms (a left-to-right sweep with a
 * heap of a few entries) where tiktoken's quadratic loop takes minutes.
 * Both paths give identical output; tests and the fuzz target compare them.
 *
 * Memory: the scratch needs 16 bytes per byte of the longest piece, plus a
 * heap that starts at 4 bytes per byte (n/2 entries of 8) and grows on
 * demand; callers cap piece length through their token-array caps. Single bytes come from a direct table and
 * byte pairs from a 64 Ki table in the vocabulary (see vocab.h). */
#ifndef KEEL_BPE_H
#define KEEL_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "vocab.h"

#define KL_BPE_HEAP_MIN 128

#define KL_BPE_MEMO 4096
/* Caller-owned working memory, reused across calls and grown as needed.
 * Not shared between threads. Zero-initialising is the same as init. */
typedef struct {
  uint32_t *a, *b, *c, *d; /* per-byte arrays (start/next, pair rank, prev, part rank),
                            * one allocation starting at a */
  int mapped;               /* a is an mmap'd region of region_len bytes */
  size_t region_len;
  uint64_t *heap;
  size_t cap;              /* elements in each of a..d */
  size_t hcap;             /* elements in heap (grows on demand) */
  /* Direct-mapped memo (left rank, right rank) -> merged rank for long
   * pieces, which are usually repetitive; valid for the vocabulary whose
   * kl_vocab_id is memo_vocab only. */
  uint64_t memo_vocab;
  uint64_t *memo_key;      /* left << 32 | right, plus 1; 0 = empty */
  uint32_t *memo_val;
} kl_bpe_scratch;

void kl_bpe_scratch_init(kl_bpe_scratch *s);
void kl_bpe_scratch_free(kl_bpe_scratch *s);

/* Encodes P[0..N) into OUT, which has room for N ranks; returns the number
 * of ranks written. Returns SIZE_MAX when memory runs out, when N >= 2^32,
 * or when the vocabulary lacks a single byte of P (never for OpenAI's
 * vocabularies; see kl_vocab_complete). N == 0 gives 0. */
size_t kl_bpe_encode_piece(const kl_vocab *v, const unsigned char *p, size_t n, uint32_t *out,
                           kl_bpe_scratch *s);

/* The reference algorithm, always the O(n*m) scan (tests compare the two). */
size_t kl_bpe_encode_piece_simple(const kl_vocab *v, const unsigned char *p, size_t n,
                                  uint32_t *out, kl_bpe_scratch *s);

/* Appends the bytes of IDS[0..N) to OUT. 0 on success; -1 when an id is not
 * a rank of V (its index in *BAD when BAD is given) or OUT hit its cap
 * (*BAD = N then). OUT keeps what was appended before the failure. */
int kl_bpe_decode(const kl_vocab *v, const uint32_t *ids, size_t n, kl_buf *out, size_t *bad);

#endif
