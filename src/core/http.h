/* Non-blocking HTTP transport over libcurl.
 *
 *   kl_loop    one per Lua state: a poll() set fed by curl's socket callbacks
 *              of every client on it, plus extra fds (file watchers), and the
 *              list of requests with news for the caller.
 *   kl_client  one curl multi handle (connection cache, keep-alive, HTTP/2
 *              multiplexing) and a pool of idle easy handles.
 *   kl_req     one request: an easy handle while in flight, capped response
 *              buffers, an SSE parser and a queue of parsed events.
 *
 * Structs are public so the caller can embed them in memory it owns (Lua
 * userdata); fields are private unless documented. Nothing here blocks except
 * kl_loop_run_once, and only for as long as it is told to. No Lua. */
#ifndef KEEL_HTTP_H
#define KEEL_HTTP_H

#include <curl/curl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "kerr.h"
#include "sse.h"

typedef struct kl_loop kl_loop;
typedef struct kl_client kl_client;
typedef struct kl_req kl_req;
typedef struct kl_easy kl_easy;

/* ---- loop ------------------------------------------------------------------ */

typedef void (*kl_fd_cb)(void *ud, int fd, short revents);

typedef struct {
  int fd;
  kl_client *client; /* NULL for an extra fd */
  kl_fd_cb cb;       /* extra fds only */
  void *ud;
} kl_fdref;

struct kl_loop {
  struct pollfd *fds;
  kl_fdref *refs;
  int nfds, cap;
  int *fdmap;        /* fd -> index+1 in fds, 0 when absent */
  int fdmap_len;
  struct pollfd *scratch;
  kl_fdref *scratch_refs;
  kl_client *clients;
  kl_req *active;    /* every request in flight, all clients */
  kl_req *ready_head, *ready_tail;
};

int kl_loop_init(kl_loop *l);
/* Closes every client still on the loop first. */
void kl_loop_free(kl_loop *l);
/* Watches fd for input; cb runs from kl_loop_run_once. 0 or -1 (no memory). */
int kl_loop_add_fd(kl_loop *l, int fd, kl_fd_cb cb, void *ud);
void kl_loop_del_fd(kl_loop *l, int fd);
/* Runs one iteration: waits up to max_wait seconds (less when a transfer
 * timer, an idle deadline or a ready request says so; max_wait < 0: no cap),
 * moves transfers on and finishes requests. Returns 1 when requests have
 * news (kl_loop_next_ready), 0 when none, -1 on a poll() failure other than
 * EINTR, or KL_LOOP_IDLE when there is no cap, no deadline and no fd:
 * nothing could ever wake it. */
#define KL_LOOP_IDLE (-2)
int kl_loop_run_once(kl_loop *l, double max_wait);
/* Pops the next request with news (new SSE events, or finished), or NULL. */
kl_req *kl_loop_next_ready(kl_loop *l);

/* ---- client ----------------------------------------------------------------- */

typedef struct {
  long max_host_connections; /* 0: unlimited */
  long max_total_connections;/* 0: unlimited */
  long connection_cache;     /* idle connections kept; 0: curl's default */
} kl_client_opts;

struct kl_client {
  kl_loop *loop;
  CURLM *multi;
  double timer_deadline; /* absolute kl_now() time, or -1 */
  int touched;           /* socket_action ran in this iteration */
  int closed;
  int nactive;
  kl_easy **pool;        /* idle easy handles for reuse */
  int npool, poolcap;
  kl_client *next, *prev;
};

int kl_client_init(kl_client *c, kl_loop *l, const kl_client_opts *o);
/* Cancels its requests in flight (they finish as cancelled) and frees curl
 * state; idempotent. The struct's memory stays the caller's. */
void kl_client_close(kl_client *c);

/* ---- request ---------------------------------------------------------------- */

typedef struct {
  const char *method;       /* "GET" when NULL */
  const char *url;
  const char *body;         /* copied; may be NULL */
  size_t body_len;
  double connect_timeout;   /* seconds, 0: none */
  double timeout;           /* whole transfer, seconds, 0: none */
  double idle_timeout;      /* no byte received for this long, 0: none */
  size_t max_body;          /* response body cap */
  size_t max_header;        /* response header block cap */
  size_t max_event;         /* SSE event cap */
  int sse;                  /* parse a 2xx non-JSON body as an event stream */
  int compress;             /* ask for gzip/br/zstd */
  int follow_redirects;
  const char *cainfo;       /* CA bundle file, NULL: system default */
  const char *proxy;        /* NULL: from the environment, as curl does */
} kl_req_opts;

enum { KL_REQ_IDLE = 0, KL_REQ_ACTIVE, KL_REQ_DONE };
enum { KL_MODE_UNDECIDED = 0, KL_MODE_BODY, KL_MODE_SSE };
enum { KL_TIMEOUT_NONE = 0, KL_TIMEOUT_CONNECT, KL_TIMEOUT_TOTAL, KL_TIMEOUT_IDLE };

/* A pooled easy handle. Options that rarely change (TLS CA, proxy, method
 * shape) form its profile: a request with the same profile reuses the
 * handle as is, setting only per-request options; another profile resets it. */
struct kl_easy {
  CURL *curl;
  unsigned long profile;
  char *cainfo, *proxy;      /* owned copies of what was last set */
  char errbuf[CURL_ERROR_SIZE];
};

struct kl_req {
  kl_client *client;
  kl_easy *easy;
  kl_buf hdrlines;          /* request header lines, NUL-separated */
  struct curl_slist *hdrs;  /* nodes pointing into hdrlines, one block */
  int state;
  int mode;
  int in_ready;
  int paused;
  int want_sse;

  /* outcome, valid once state == KL_REQ_DONE */
  kl_kind kind;             /* KL_OK or the error kind */
  int timeout_phase;        /* KL_TIMEOUT_* when kind is timeout */
  int curl_code;
  char *message;            /* heap, set on error only; NULL otherwise */
  long status;
  long http_version;        /* 10, 11, 20, 30 */
  long num_connects;        /* 0 when a kept-alive connection was reused */
  double time_total, time_connect, time_starttransfer;

  kl_buf body;
  kl_buf headers;           /* "name: value\n" lines of the final response */
  kl_sse sse;
  kl_buf events;            /* queued events, see kl_req_next_event */
  size_t events_off;        /* read offset in events */

  double idle_timeout, last_rx;
  kl_req *next_active, *prev_active, *next_ready;
};

/* Zeroes r; it owns nothing until kl_req_start. */
void kl_req_init(kl_req *r);
/* Configures an easy handle and adds it to the client's multi. Returns 0, or
 * -1 with r finished (state DONE, kind and message set). */
/* Adds a request header before start: name, then sep (": " for a value,
 * ";" for an empty value, ":" to remove a header curl would add), then
 * value. The caller validates both. 0, or -1 when out of memory. */
int kl_req_add_header(kl_req *r, const char *name, size_t nl, const char *sep, const char *val, size_t vl);
int kl_req_start(kl_req *r, kl_client *c, const kl_req_opts *o);
/* Stops a request in flight; it finishes as cancelled with this message. */
void kl_req_cancel(kl_req *r, const char *why);
/* Frees everything r owns (cancelling it if in flight); r can be reused. */
void kl_req_cleanup(kl_req *r);

/* Next queued SSE event, or 0 when the queue is empty. Pointers stay valid
 * until the next call to kl_req_next_event or kl_req_cleanup. */
int kl_req_next_event(kl_req *r, kl_sse_event *ev);
/* Lets a paused stream (consumer fell behind) flow again once drained. */
void kl_req_resume(kl_req *r);

#endif
