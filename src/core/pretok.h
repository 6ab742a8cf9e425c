/* tiktoken's pretokenizers (the pat_str split regexes) as hand-written
 * linear-time scanners, exact against OpenAI's implementation (npm
 * tiktoken@1.0.22: Rust fancy-regex, Unicode 16.0). No regex engine.
 *
 *   R50K   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *          (gpt2, r50k_base, p50k_base, p50k_edit)
 *   CL100K (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   O200K  [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|...|'d)?|
 *          [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|...|'d)?|
 *          \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *
 * \s is Unicode White_Space; (?i:...) uses simple case folding, so U+017F
 * (long s) matches 's' (the only non-ASCII code point folding to s,t,r,e,v,m,l,d). */
#ifndef KEEL_PRETOK_H
#define KEEL_PRETOK_H

#include <stddef.h>
#include <stdint.h>

typedef enum { KL_PAT_R50K, KL_PAT_CL100K, KL_PAT_O200K } kl_pat; /* r50k/p50k/p50k_edit share R50K */

typedef int (*kl_pretok_cb)(void *ud, const char *piece, size_t len);

/* Splits s[0..n) into pieces, calling cb for each in order (pieces are
 * non-empty and concatenate to the input). Input must be valid UTF-8 (see
 * kl_utf8_sanitize); invalid bytes are not an error but are treated as
 * single-byte non-letters. Returns 0, or the first nonzero cb return. */
int kl_pretok(kl_pat pat, const char *s, size_t n, kl_pretok_cb cb, void *ud);

/* 1 if s[0..n) is valid UTF-8 (RFC 3629: no overlongs, surrogates, > U+10FFFF). */
int kl_utf8_valid(const char *s, size_t n);
/* unitab.h's class bits (KL_U_*) of code point cp, out of line, for files
 * that should not carry their own copy of the tables. */
unsigned kl_unicode_class(uint32_t cp);

/* Copies s[0..n) to out, replacing each maximal subpart of an ill-formed
 * sequence by U+FFFD (Unicode "substitution of maximal subparts", as WHATWG
 * TextDecoder and Python's bytes.decode('utf-8', 'replace') do, and hence
 * tiktoken). out must have room for 3*n bytes (exactly n when
 * kl_utf8_valid). Returns the new length. */
size_t kl_utf8_sanitize(const char *s, size_t n, char *out);

#endif
