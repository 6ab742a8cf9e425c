/* A tiktoken vocabulary (a .tiktoken file), loaded once and then immutable,
 * so one kl_vocab can be shared by every thread and Lua state.
 *
 * File format: one token per line, "BASE64 SP RANK LF" (standard base64
 * alphabet with padding; RANK decimal). The last line may lack its LF; a CR
 * before the LF is accepted. Lines need not be sorted; ranks may have gaps
 * (p50k_base has no 50256), but a rank and a token may each appear only once,
 * tokens are never empty, and the largest rank must be < 2 * lines + 1024
 * (keeps a hostile file from making the rank table huge).
 *
 * Layout: token bytes in one arena in file order; rank -> (offset, length)
 * in one array (length 0 = gap); bytes -> rank in an open-addressing table
 * (linear probing, load <= 1/2, 16-byte slots holding hash bits, the length
 * and the first 8 bytes, so a miss, a collision or a hit on a token of <= 8
 * bytes is settled without touching the arena);
 * single bytes and byte pairs also in direct 256- and 65536-entry tables. */
#ifndef KEEL_VOCAB_H
#define KEEL_VOCAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct kl_vocab kl_vocab;

/* Reads and parses PATH. When SHA256_HEX (64 hex digits, any case) is given
 * the file's hash must match it. NULL on failure with a message in ERR:
 *   "PATH: cannot open: <strerror>"
 *   "PATH: sha256 mismatch: expected X got Y"
 *   "PATH:LINE: <what is wrong>" */
kl_vocab *kl_vocab_load(const char *path, const char *sha256_hex, char *err, size_t errlen);
/* Parses file contents from memory (no copy is kept). Errors read
 * "LINE: <what is wrong>" (kl_vocab_load prefixes the path). */
kl_vocab *kl_vocab_parse(const char *data, size_t n, char *err, size_t errlen);
void kl_vocab_free(kl_vocab *v);

/* Rank of the byte string, or -1 when it is not a token. */
int32_t kl_vocab_rank(const kl_vocab *v, const unsigned char *b, size_t n);
/* Rank of one byte, or -1. */
int32_t kl_vocab_byte_rank(const kl_vocab *v, unsigned char c);
/* Rank of the two bytes A B, or UINT32_MAX (a direct 64 Ki-entry table). */
uint32_t kl_vocab_pair_rank(const kl_vocab *v, unsigned char a, unsigned char b);
/* Bytes of RANK (length in *n), or NULL for a rank past the end or in a gap. */
const unsigned char *kl_vocab_bytes(const kl_vocab *v, uint32_t rank, size_t *n);
/* Number of tokens (lines). */
uint32_t kl_vocab_size(const kl_vocab *v);
/* One past the largest rank (> size when there are gaps). */
uint32_t kl_vocab_rank_end(const kl_vocab *v);
/* 1 when all 256 single bytes are tokens (true of every OpenAI vocabulary;
 * BPE needs it to encode arbitrary bytes). */
int kl_vocab_complete(const kl_vocab *v);
/* A number unique to this loaded vocabulary in this process (never reused,
 * unlike its address); caches keyed by vocabulary use it. */
uint64_t kl_vocab_id(const kl_vocab *v);
/* Heap bytes owned by V (for the RSS budget). */
size_t kl_vocab_memsize(const kl_vocab *v);

#endif
