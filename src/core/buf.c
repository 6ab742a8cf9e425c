#include "buf.h"

#include <stdlib.h>
#include <string.h>

void kl_buf_init(kl_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void kl_buf_free(kl_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void kl_buf_reset(kl_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

int kl_buf_reserve(kl_buf *b, size_t n) {
  if (n > b->max - b->len || n > b->max) return -1;
  size_t need = b->len + n + 1; /* room for the NUL */
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256; /* few tiny growth steps for small buffers */
  while (cap < need) cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
  /* Don't allocate far beyond what the cap can ever use. */
  if (cap > b->max + 1) cap = b->max + 1;
  if (cap < need) cap = need;
  char *p = realloc(b->data, cap);
  if (!p) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int kl_buf_add(kl_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (kl_buf_reserve(b, n) != 0) return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int kl_buf_addc(kl_buf *b, char c) { return kl_buf_add(b, &c, 1); }

const char *kl_buf_cstr(kl_buf *b) { return b->data ? b->data : ""; }
