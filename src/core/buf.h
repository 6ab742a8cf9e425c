/* A growable byte buffer with a hard size cap and one owner (after curl's
 * lib/dynbuf.c). Growing past the cap fails instead of truncating, so callers
 * turn it into a too_large error rather than passing on partial data. */
#ifndef KEEL_BUF_H
#define KEEL_BUF_H

#include <stddef.h>

typedef struct {
  char *data;   /* NUL-terminated when len > 0 or after kl_buf_cstr */
  size_t len;
  size_t cap;   /* allocated bytes */
  size_t max;   /* hard cap on len; 0 means "no data allowed" */
} kl_buf;

void kl_buf_init(kl_buf *b, size_t max);
void kl_buf_free(kl_buf *b);
/* Drops the contents but keeps the allocation for reuse. */
void kl_buf_reset(kl_buf *b);
/* 0 on success, -1 when len would exceed max or memory ran out. */
int kl_buf_add(kl_buf *b, const void *p, size_t n);
int kl_buf_addc(kl_buf *b, char c);
/* Ensures room for n more bytes (plus a NUL); 0 or -1 as above. */
int kl_buf_reserve(kl_buf *b, size_t n);
/* Contents as a C string (never NULL). */
const char *kl_buf_cstr(kl_buf *b);

#endif
