/* The tiktoken encodings keel knows: name, split rule, vocabulary file with
 * its pinned sha256, special tokens. Each vocabulary is loaded on first use
 * and then kept, immutable, for the life of the process (or of the loaded
 * module), so every thread and every Lua state shares one copy: ~9 MB of
 * RSS for o200k, paid once.
 *
 * Where a vocabulary comes from, first hit wins:
 *   1. $KEEL_TOKENIZER_DIR/<name>.tiktoken (a colon-separated list of dirs)
 *   2. tiktoken's own download cache, same naming (sha1 of the URL):
 *      $TIKTOKEN_CACHE_DIR, else $DATA_GYM_CACHE_DIR, else
 *      ${TMPDIR:-/tmp}/data-gym-cache; an empty TIKTOKEN_CACHE_DIR turns the
 *      cache off, as in tiktoken
 *   3. the install's share directory and the build tree's build/vocab
 *      (replace both with $KEEL_TOKENIZER_SHARE, a colon-separated list)
 *   4. a download from $KEEL_TOKENIZER_BASE_URL/<name>.tiktoken (default
 *      OpenAI's public blob store, tiktoken's URL), stored into the cache of
 *      step 2; KEEL_TOKENIZER_OFFLINE=1 forbids it
 * Every file is checked against the sha256 tiktoken pins. A mismatching
 * file in step 2 is ignored (and replaced by the download, as tiktoken
 * does); in steps 1 and 3 it is an error, since someone put it there. */
#ifndef KEEL_ENCODING_H
#define KEEL_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "pretok.h"
#include "vocab.h"

typedef struct {
  const char *text;
  uint32_t len;
  uint32_t id;
} kl_special;

typedef struct {
  const char *name;
  const char *file;       /* "cl100k_base.tiktoken" */
  const char *sha256;
  kl_pat pat;
  const kl_special *specials; /* sorted bytewise by text */
  uint32_t nspecials;
  const kl_special *by_id;    /* sorted by id, one per id (for decoding) */
  uint32_t nby_id;
  uint32_t special_maxlen;
  uint32_t n_vocab;       /* one past the largest id, specials included */
  const kl_vocab *vocab;
  double load_ms;         /* how long finding, checking and parsing took */
  const char *source;     /* the path it was loaded from, or the URL */
} kl_encoding;

/* The encoding NAME with its vocabulary loaded (thread-safe; loads once).
 * NULL with a message in ERR for an unknown name or a vocabulary that
 * could not be found, checked or parsed (the message lists where it looked). */
const kl_encoding *kl_encoding_get(const char *name, char *err, size_t errlen);
/* Known names, NULL-terminated. */
const char *const *kl_encoding_names(void);
/* The special token whose text is T[0..N), or NULL. */
const kl_special *kl_encoding_special(const kl_encoding *e, const char *t, size_t n);
/* Text of special token ID, or NULL when ID is not a special token. */
const kl_special *kl_encoding_special_id(const kl_encoding *e, uint32_t id);
/* Index of S in e->specials. */
static inline uint32_t kl_encoding_special_index(const kl_encoding *e, const kl_special *s) {
  return (uint32_t)(s - e->specials);
}

#endif
