/* libFuzzer target: random bytes -> kl_vocab_parse must not crash or leak;
 * when the text parses, every rank round-trips through its bytes, every
 * token's bytes map back to its rank, and byte-pair merging pieces made of
 * the vocabulary's own tokens (plus the input itself) stays within bounds and
 * decodes back to the piece when all 256 single bytes are tokens. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "buf.h"
#include "vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  kl_vocab *v = kl_vocab_parse((const char *)data, size, err, sizeof err);
  if (!v) {
    if (!memchr(err, 0, sizeof err) || !err[0]) abort(); /* always a message */
    return 0;
  }
  uint32_t gaps = 0;
  for (uint32_t r = 0; r < kl_vocab_rank_end(v); r++) {
    size_t n;
    const unsigned char *b = kl_vocab_bytes(v, r, &n);
    if (!b) {
      gaps++;
      continue;
    }
    if (n == 0 || kl_vocab_rank(v, b, n) != (int32_t)r) abort();
    if (n == 1 && kl_vocab_byte_rank(v, b[0]) != (int32_t)r) abort();
    if (n == 2 && kl_vocab_pair_rank(v, b[0], b[1]) != r) abort();
  }
  if (kl_vocab_rank_end(v) - gaps != kl_vocab_size(v)) abort();

  /* Merge the raw input as one piece (long inputs take the heap path) and
   * compare with the reference scan. */
  kl_bpe_scratch s;
  kl_bpe_scratch_init(&s);
  uint32_t *o1 = malloc((size + 1) * sizeof *o1), *o2 = malloc((size + 1) * sizeof *o2);
  size_t n1 = kl_bpe_encode_piece(v, data, size, o1, &s);
  size_t n2 = kl_bpe_encode_piece_simple(v, data, size, o2, &s);
  if (n1 != n2) abort();
  if (n1 != SIZE_MAX) {
    if (n1 > size || memcmp(o1, o2, n1 * sizeof *o1) != 0) abort();
    kl_buf b;
    kl_buf_init(&b, size + 1);
    if (kl_bpe_decode(v, o1, n1, &b, NULL) != 0 || b.len != size || memcmp(b.data, data, size) != 0)
      abort();
    kl_buf_free(&b);
  } else if (kl_vocab_complete(v) && size > 0) {
    abort(); /* with every single byte a token, encoding cannot fail */
  }
  free(o1);
  free(o2);
  kl_bpe_scratch_free(&s);
  kl_vocab_free(v);
  return 0;
}
