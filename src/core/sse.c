/* Server-sent events parser: WHATWG HTML "Interpreting an event stream".
 *
 * Hot path: a chunk is cut into lines with memchr, and a complete line is
 * parsed where it lies in the caller's buffer. Only a line cut by the end of
 * a chunk is copied into p->line, to be completed by the next feed. The
 * position of the next CR in the chunk is remembered, so a chunk without any
 * CR (the usual LF-only stream) costs one memchr for '\r' in total rather
 * than one per line. */
#include "sse.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/* p->state bits. */
enum {
  ST_CR = 1,    /* the last byte seen ended a line with CR: skip one LF next */
  ST_BLOCK = 2  /* a field was seen since the last blank line */
};

/* bom_seen: bytes of EF BB BF matched so far (0..2), or BOM_DONE once the
 * stream start is behind us. */
#define BOM_DONE 4
static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

/* Keeps sums of three capped lengths (and buffer cap + 1) from overflowing. */
#define MAX_EVENT_LIMIT (SIZE_MAX / 4)

void kl_sse_init(kl_sse *p, size_t max_event) {
  if (max_event > MAX_EVENT_LIMIT) max_event = MAX_EVENT_LIMIT;
  p->max_event = max_event;
  kl_buf_init(&p->line, max_event);
  /* data holds a "\n" after every line, the last one removed at dispatch. */
  kl_buf_init(&p->data, max_event + 1);
  kl_buf_init(&p->type, max_event);
  kl_buf_init(&p->id, max_event);
  p->retry = -1;
  p->state = 0;
  p->bom_seen = 0;
  p->events = 0;
}

void kl_sse_free(kl_sse *p) {
  kl_buf_free(&p->line);
  kl_buf_free(&p->data);
  kl_buf_free(&p->type);
  kl_buf_free(&p->id);
}

void kl_sse_reset(kl_sse *p) {
  kl_buf_reset(&p->line);
  kl_buf_reset(&p->data);
  kl_buf_reset(&p->type);
  kl_buf_reset(&p->id);
  p->retry = -1;
  p->state = 0;
  p->bom_seen = 0;
  p->events = 0;
}

int kl_sse_pending(const kl_sse *p) {
  /* A partly matched BOM is the start of a line we have not finished. */
  return p->line.len > 0 || (p->state & ST_BLOCK) ||
         (p->bom_seen > 0 && p->bom_seen < 3);
}

/* Length of the data as it would be dispatched (without the final "\n"). */
static size_t data_out_len(const kl_sse *p) {
  return p->data.len ? p->data.len - 1 : 0;
}

/* Blank line: dispatch the event being built, if it has data. */
static int dispatch(kl_sse *p, kl_sse_cb cb, void *ud) {
  long retry = p->retry;
  p->retry = -1;
  p->state &= ~ST_BLOCK;
  if (p->data.len == 0) {
    kl_buf_reset(&p->type);
    return KL_SSE_OK;
  }
  kl_sse_event ev;
  if (p->type.len) {
    ev.type = p->type.data;
    ev.type_len = p->type.len;
  } else {
    ev.type = "message";
    ev.type_len = 7;
  }
  ev.data = p->data.data;
  ev.data_len = p->data.len - 1;
  /* A NUL in place of the final "\n" keeps ev.data a C string too. */
  p->data.data[ev.data_len] = '\0';
  ev.id = kl_buf_cstr(&p->id);
  ev.id_len = p->id.len;
  ev.retry = retry;
  p->events++;
  int stop = cb(ud, &ev);
  kl_buf_reset(&p->data);
  kl_buf_reset(&p->type);
  return stop ? KL_SSE_ABORT : KL_SSE_OK;
}

/* Replaces buffer b with v[0..n); the caller has checked the cap. */
static int set_buf(kl_buf *b, const char *v, size_t n) {
  kl_buf_reset(b);
  return kl_buf_add(b, v, n) == 0 ? KL_SSE_OK : KL_SSE_NOMEM;
}

/* One complete line, without its terminator; n <= max_event. */
static int process_line(kl_sse *p, const char *s, size_t n, kl_sse_cb cb, void *ud) {
  if (n == 0) return dispatch(p, cb, ud);
  if (s[0] == ':') return KL_SSE_OK; /* comment */

  /* "data:" starts nearly every line of an LLM stream: skip the search. */
  const char *colon = n >= 5 && memcmp(s, "data:", 5) == 0 ? s + 4 : memchr(s, ':', n);
  size_t name_len = colon ? (size_t)(colon - s) : n;
  const char *v = colon ? colon + 1 : s + n;
  size_t vlen = colon ? n - name_len - 1 : 0;
  if (vlen && v[0] == ' ') {
    v++;
    vlen--;
  }

  switch (name_len) {
  case 4:
    if (memcmp(s, "data", 4) != 0) return KL_SSE_OK;
    {
      kl_buf *d = &p->data;
      /* Dispatched size after this line: the old buffer (its trailing "\n"
       * becomes a separator) plus the value. */
      if (d->len + vlen + p->type.len + p->id.len > p->max_event) return KL_SSE_TOO_LARGE;
      if (kl_buf_reserve(d, vlen + 1) != 0) return KL_SSE_NOMEM;
      memcpy(d->data + d->len, v, vlen);
      d->len += vlen;
      d->data[d->len++] = '\n';
      d->data[d->len] = '\0';
    }
    p->state |= ST_BLOCK;
    return KL_SSE_OK;
  case 5:
    if (memcmp(s, "event", 5) == 0) {
      if (data_out_len(p) + vlen + p->id.len > p->max_event) return KL_SSE_TOO_LARGE;
      p->state |= ST_BLOCK;
      return set_buf(&p->type, v, vlen);
    }
    if (memcmp(s, "retry", 5) == 0) {
      p->state |= ST_BLOCK;
      if (vlen == 0) return KL_SSE_OK;
      long r = 0;
      for (size_t i = 0; i < vlen; i++) {
        unsigned d = (unsigned char)v[i] - '0';
        if (d > 9) return KL_SSE_OK; /* not all digits: ignore the field */
        /* Saturate instead of overflowing: "wait a very long time". */
        r = r > (LONG_MAX - (long)d) / 10 ? LONG_MAX : r * 10 + (long)d;
      }
      p->retry = r;
    }
    return KL_SSE_OK;
  case 2:
    if (s[0] != 'i' || s[1] != 'd') return KL_SSE_OK;
    p->state |= ST_BLOCK;
    if (vlen && memchr(v, '\0', vlen)) return KL_SSE_OK;
    if (data_out_len(p) + p->type.len + vlen > p->max_event) return KL_SSE_TOO_LARGE;
    return set_buf(&p->id, v, vlen);
  default:
    return KL_SSE_OK; /* unknown field */
  }
}

int kl_sse_feed(kl_sse *p, const char *buf, size_t len, kl_sse_cb cb, void *ud) {
  const char *pos = buf, *end = buf + len;
  if (len == 0) return KL_SSE_OK;

  if (p->state & ST_CR) {
    p->state &= ~ST_CR;
    if (*pos == '\n') pos++; /* the LF of a CRLF split across chunks */
  }

  if (p->bom_seen != BOM_DONE) {
    while (pos < end && p->bom_seen < 3 && (unsigned char)*pos == bom[p->bom_seen]) {
      p->bom_seen++;
      pos++;
    }
    if (p->bom_seen == 3) {
      p->bom_seen = BOM_DONE;
    } else if (pos < end) {
      /* Not a BOM after all: the bytes matched so far start the first line. */
      if (kl_buf_add(&p->line, bom, (size_t)p->bom_seen) != 0)
        return (size_t)p->bom_seen > p->max_event ? KL_SSE_TOO_LARGE : KL_SSE_NOMEM;
      p->bom_seen = BOM_DONE;
    } else {
      return KL_SSE_OK; /* chunk ended inside what may still be a BOM */
    }
  }

  const size_t max = p->max_event;
  const char *cr = memchr(pos, '\r', (size_t)(end - pos));
  if (!cr) cr = end;

  while (pos < end) {
    const char *eol = memchr(pos, '\n', (size_t)(cr - pos));
    const char *next;
    if (eol) {
      next = eol + 1;
    } else if (cr < end) {
      eol = cr;
      next = cr + 1;
      if (next < end) {
        if (*next == '\n') next++;
      } else {
        p->state |= ST_CR; /* an LF may start the next chunk */
      }
      cr = memchr(next, '\r', (size_t)(end - next));
      if (!cr) cr = end;
    } else {
      /* No line end left in this chunk: carry the partial line. */
      size_t n = (size_t)(end - pos);
      if (n > max - p->line.len) return KL_SSE_TOO_LARGE;
      if (kl_buf_add(&p->line, pos, n) != 0) return KL_SSE_NOMEM;
      return KL_SSE_OK;
    }

    size_t n = (size_t)(eol - pos);
    int rc;
    if (p->line.len == 0) {
      if (n > max) return KL_SSE_TOO_LARGE;
      rc = process_line(p, pos, n, cb, ud);
    } else {
      /* Finish the line carried over from earlier chunks. */
      if (n > max - p->line.len) return KL_SSE_TOO_LARGE;
      if (kl_buf_add(&p->line, pos, n) != 0) return KL_SSE_NOMEM;
      rc = process_line(p, p->line.data, p->line.len, cb, ud);
      kl_buf_reset(&p->line);
    }
    if (rc != KL_SSE_OK) return rc;
    pos = next;
  }
  return KL_SSE_OK;
}
