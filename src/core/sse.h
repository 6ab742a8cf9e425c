/* Server-sent events parser (WHATWG HTML, "Interpreting an event stream").
 *
 * Push parser: feed it bytes in chunks split anywhere (even inside a CRLF or
 * the leading BOM); it calls back once per dispatched event. No allocation per
 * event; buffers are reused and capped by max_event. Pure C, no Lua. */
#ifndef KEEL_SSE_H
#define KEEL_SSE_H

#include <stddef.h>

#include "buf.h"

typedef struct {
  const char *type; /* event type; "message" when the block named none */
  size_t type_len;
  const char *data; /* data lines joined with "\n", final "\n" removed */
  size_t data_len;
  const char *id;   /* last event ID, persists across events ("" if never set) */
  size_t id_len;
  long retry;       /* reconnection time (ms) set by this block, or -1 */
} kl_sse_event;

/* Return non-zero to stop: kl_sse_feed then returns KL_SSE_ABORT. */
typedef int (*kl_sse_cb)(void *ud, const kl_sse_event *ev);

enum {
  KL_SSE_OK = 0,
  KL_SSE_TOO_LARGE = 1, /* an event (or one line) exceeded max_event bytes */
  KL_SSE_ABORT = 2,     /* the callback asked to stop */
  KL_SSE_NOMEM = 3
};

typedef struct {
  kl_buf line;   /* partial line carried across chunks */
  kl_buf data;   /* data buffer of the event being built */
  kl_buf type;   /* event type buffer */
  kl_buf id;     /* last event ID buffer */
  size_t max_event;
  long retry;    /* retry seen in the current block, -1 if none */
  int state;     /* flags: CR ended the last chunk; fields seen in block */
  int bom_seen;  /* bytes of a leading BOM matched so far (0..3), or 4 when done */
  size_t events; /* events dispatched so far */
} kl_sse;

/* max_event caps the bytes of one event (data + type + id) and of one line. */
void kl_sse_init(kl_sse *p, size_t max_event);
void kl_sse_free(kl_sse *p);
/* Back to the start-of-stream state, keeping allocations. */
void kl_sse_reset(kl_sse *p);
/* Parses len bytes; returns KL_SSE_OK or one of the errors above. After an
 * error the parser must be reset before reuse. */
int kl_sse_feed(kl_sse *p, const char *buf, size_t len, kl_sse_cb cb, void *ud);
/* Non-zero when the stream so far ends inside an event that was never
 * dispatched (fields or a partial line buffered): a cut stream. */
int kl_sse_pending(const kl_sse *p);

#endif
