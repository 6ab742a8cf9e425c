#include "http.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"

/* Queued-but-unread SSE bytes above which the transfer is paused until the
 * consumer drains them: memory stays bounded however slow on_event is. */
#define KL_EVENTS_PAUSE_AT (1u << 20)
#define KL_POOL_MAX 64

/* ---- curl error code -> keel error kind (one list) ------------------------ */

#define KL_CURL_KINDS(X)                        \
  X(CURLE_COULDNT_RESOLVE_PROXY, connect)       \
  X(CURLE_COULDNT_RESOLVE_HOST, connect)        \
  X(CURLE_COULDNT_CONNECT, connect)             \
  X(CURLE_OPERATION_TIMEDOUT, timeout)          \
  X(CURLE_SSL_CONNECT_ERROR, tls)               \
  X(CURLE_PEER_FAILED_VERIFICATION, tls)        \
  X(CURLE_SSL_CERTPROBLEM, tls)                 \
  X(CURLE_SSL_CIPHER, tls)                      \
  X(CURLE_SSL_CACERT_BADFILE, tls)              \
  X(CURLE_SSL_ISSUER_ERROR, tls)                \
  X(CURLE_SSL_PINNEDPUBKEYNOTMATCH, tls)        \
  X(CURLE_SSL_INVALIDCERTSTATUS, tls)           \
  X(CURLE_SSL_CRL_BADFILE, tls)                 \
  X(CURLE_SSL_SHUTDOWN_FAILED, tls)             \
  X(CURLE_SSL_ENGINE_NOTFOUND, tls)             \
  X(CURLE_SSL_ENGINE_SETFAILED, tls)            \
  X(CURLE_SSL_ENGINE_INITFAILED, tls)           \
  X(CURLE_USE_SSL_FAILED, tls)                  \
  X(CURLE_FILESIZE_EXCEEDED, too_large)         \
  X(CURLE_ABORTED_BY_CALLBACK, cancelled)

static kl_kind curl_kind(CURLcode code) {
  switch (code) {
#define KL_CURL_CASE(c, kind) case c: return KL_E_##kind;
    KL_CURL_KINDS(KL_CURL_CASE)
#undef KL_CURL_CASE
  default:
    /* Everything else is the connection failing under us: reset, closed
     * mid-response, protocol garbage. The message keeps curl's detail. */
    return KL_E_connect;
  }
}

/* curl_global_init is not thread-safe before 7.84; all we need is that it
 * runs once before the first handle, which the first loop guarantees. */
static int curl_ready;
static int ensure_curl(void) {
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
    curl_ready = 1;
  }
  return 0;
}

/* ---- loop: fd set ----------------------------------------------------------- */

static int fd_grow(kl_loop *l, int fd) {
  if (fd >= l->fdmap_len) {
    int n = l->fdmap_len ? l->fdmap_len : 64;
    while (n <= fd) n *= 2;
    int *m = realloc(l->fdmap, (size_t)n * sizeof *m);
    if (!m) return -1;
    memset(m + l->fdmap_len, 0, (size_t)(n - l->fdmap_len) * sizeof *m);
    l->fdmap = m;
    l->fdmap_len = n;
  }
  if (l->nfds == l->cap) {
    int n = l->cap ? l->cap * 2 : 16;
    struct pollfd *f = realloc(l->fds, (size_t)n * sizeof *f);
    if (!f) return -1;
    l->fds = f;
    kl_fdref *r = realloc(l->refs, (size_t)n * sizeof *r);
    if (!r) return -1;
    l->refs = r;
    struct pollfd *s = realloc(l->scratch, (size_t)n * sizeof *s);
    if (!s) return -1;
    l->scratch = s;
    kl_fdref *sr = realloc(l->scratch_refs, (size_t)n * sizeof *sr);
    if (!sr) return -1;
    l->scratch_refs = sr;
    l->cap = n;
  }
  return 0;
}

static int fd_set_(kl_loop *l, int fd, short events, kl_client *c, kl_fd_cb cb, void *ud) {
  if (fd < 0) return -1;
  int idx = fd < l->fdmap_len ? l->fdmap[fd] - 1 : -1;
  if (idx < 0) {
    if (fd_grow(l, fd) != 0) return -1;
    idx = l->nfds++;
    l->fdmap[fd] = idx + 1;
  }
  l->fds[idx].fd = fd;
  l->fds[idx].events = events;
  l->fds[idx].revents = 0;
  l->refs[idx].fd = fd;
  l->refs[idx].client = c;
  l->refs[idx].cb = cb;
  l->refs[idx].ud = ud;
  return 0;
}

static void fd_del(kl_loop *l, int fd) {
  if (fd < 0 || fd >= l->fdmap_len || l->fdmap[fd] == 0) return;
  int idx = l->fdmap[fd] - 1, last = l->nfds - 1;
  if (idx != last) {
    l->fds[idx] = l->fds[last];
    l->refs[idx] = l->refs[last];
    l->fdmap[l->fds[idx].fd] = idx + 1;
  }
  l->fdmap[fd] = 0;
  l->nfds--;
}

int kl_loop_add_fd(kl_loop *l, int fd, kl_fd_cb cb, void *ud) {
  return fd_set_(l, fd, POLLIN, NULL, cb, ud);
}

void kl_loop_del_fd(kl_loop *l, int fd) { fd_del(l, fd); }

int kl_loop_init(kl_loop *l) {
  memset(l, 0, sizeof *l);
  return ensure_curl();
}

void kl_loop_free(kl_loop *l) {
  while (l->clients) kl_client_close(l->clients);
  free(l->fds);
  free(l->refs);
  free(l->fdmap);
  free(l->scratch);
  free(l->scratch_refs);
  memset(l, 0, sizeof *l);
}

/* ---- loop: request lists ---------------------------------------------------- */

static void mark_ready(kl_req *r) {
  if (r->in_ready || !r->client) return;
  kl_loop *l = r->client->loop;
  r->in_ready = 1;
  r->next_ready = NULL;
  if (l->ready_tail) l->ready_tail->next_ready = r;
  else l->ready_head = r;
  l->ready_tail = r;
}

static void unlink_ready(kl_req *r) {
  if (!r->in_ready || !r->client) return;
  kl_loop *l = r->client->loop;
  kl_req **pp = &l->ready_head, *prev = NULL;
  while (*pp && *pp != r) { prev = *pp; pp = &(*pp)->next_ready; }
  if (*pp) {
    *pp = r->next_ready;
    if (l->ready_tail == r) l->ready_tail = prev;
  }
  r->in_ready = 0;
  r->next_ready = NULL;
}

kl_req *kl_loop_next_ready(kl_loop *l) {
  kl_req *r = l->ready_head;
  if (!r) return NULL;
  l->ready_head = r->next_ready;
  if (!l->ready_head) l->ready_tail = NULL;
  r->in_ready = 0;
  r->next_ready = NULL;
  return r;
}

static void link_active(kl_req *r) {
  kl_loop *l = r->client->loop;
  r->prev_active = NULL;
  r->next_active = l->active;
  if (l->active) l->active->prev_active = r;
  l->active = r;
  r->client->nactive++;
}

static void unlink_active(kl_req *r) {
  kl_loop *l = r->client->loop;
  if (r->prev_active) r->prev_active->next_active = r->next_active;
  else if (l->active == r) l->active = r->next_active;
  if (r->next_active) r->next_active->prev_active = r->prev_active;
  r->prev_active = r->next_active = NULL;
  r->client->nactive--;
}

/* ---- client ----------------------------------------------------------------- */

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  (void)e;
  (void)socketp;
  kl_client *c = userp;
  if (what == CURL_POLL_REMOVE) {
    fd_del(c->loop, (int)s);
  } else {
    short ev = 0;
    if (what & CURL_POLL_IN) ev |= POLLIN;
    if (what & CURL_POLL_OUT) ev |= POLLOUT;
    if (fd_set_(c->loop, (int)s, ev, c, NULL, NULL) != 0) return -1;
  }
  return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  kl_client *c = userp;
  c->timer_deadline = timeout_ms < 0 ? -1.0 : kl_now() + (double)timeout_ms / 1000.0;
  return 0;
}

int kl_client_init(kl_client *c, kl_loop *l, const kl_client_opts *o) {
  memset(c, 0, sizeof *c);
  c->loop = l;
  c->timer_deadline = -1;
  c->multi = curl_multi_init();
  if (!c->multi) return -1;
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  if (o) {
    if (o->max_host_connections > 0)
      curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, o->max_host_connections);
    if (o->max_total_connections > 0)
      curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, o->max_total_connections);
    if (o->connection_cache > 0)
      curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, o->connection_cache);
  }
  c->next = l->clients;
  if (l->clients) l->clients->prev = c;
  l->clients = c;
  return 0;
}

static void finish(kl_req *r, kl_kind kind, int phase, const char *msg);
static void easy_free(kl_easy *e);

void kl_client_close(kl_client *c) {
  if (c->closed) return;
  kl_loop *l = c->loop;
  for (kl_req *r = l->active, *next; r; r = next) {
    next = r->next_active;
    if (r->client == c) kl_req_cancel(r, "client closed");
  }
  /* Requests already finished but not yet reported keep their outcome. */
  for (int i = 0; i < c->npool; i++) easy_free(c->pool[i]);
  free(c->pool);
  c->pool = NULL;
  c->npool = c->poolcap = 0;
  /* Cleaning the multi closes its cached connections, which calls on_socket
   * with CURL_POLL_REMOVE for each: the loop's fd set stays accurate. */
  curl_multi_cleanup(c->multi);
  c->multi = NULL;
  if (c->prev) c->prev->next = c->next;
  else if (l->clients == c) l->clients = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = c->prev = NULL;
  c->closed = 1;
}

static void easy_free(kl_easy *e) {
  curl_easy_cleanup(e->curl);
  free(e->cainfo);
  free(e->proxy);
  free(e);
}

static kl_easy *easy_get(kl_client *c) {
  if (c->npool > 0) return c->pool[--c->npool];
  kl_easy *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->curl = curl_easy_init();
  if (!e->curl) {
    free(e);
    return NULL;
  }
  return e;
}

/* The connection cache lives in the multi, so a pooled handle holds no
 * connection; it keeps its options for the next request of its profile. */
static void easy_put(kl_client *c, kl_easy *e) {
  if (!c->closed && c->npool < KL_POOL_MAX) {
    if (c->npool == c->poolcap) {
      int n = c->poolcap ? c->poolcap * 2 : 8;
      kl_easy **p = realloc(c->pool, (size_t)n * sizeof *p);
      if (p) {
        c->pool = p;
        c->poolcap = n;
      }
    }
    if (c->npool < c->poolcap) {
      c->pool[c->npool++] = e;
      return;
    }
  }
  easy_free(e);
}

/* ---- request: callbacks ------------------------------------------------------- */

static int is_json_type(const char *ct) {
  if (!ct) return 0;
  while (*ct == ' ') ct++;
  return strncasecmp(ct, "application/json", 16) == 0;
}

/* Records the first error only: later ones are consequences of it. */
static void set_message(kl_req *r, kl_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_message(kl_req *r, kl_kind kind, const char *fmt, ...) {
  if (r->kind != KL_OK) return;
  r->kind = kind;
  char m[CURL_ERROR_SIZE + 160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  free(r->message);
  r->message = strdup(m); /* NULL on no memory: readers fall back to the kind */
}


static int on_event(void *ud, const kl_sse_event *ev) {
  kl_req *r = ud;
  /* Encoding: four 32-bit lengths / values, then type, data, id bytes. */
  uint32_t hdr[4] = {(uint32_t)ev->type_len, (uint32_t)ev->data_len, (uint32_t)ev->id_len,
                     (uint32_t)(ev->retry < 0 ? UINT32_MAX : (ev->retry > (long)UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)ev->retry))};
  if (kl_buf_reserve(&r->events, sizeof hdr + ev->type_len + ev->data_len + ev->id_len) != 0) {
    set_message(r, KL_E_too_large, "SSE event queue exceeds %zu bytes", r->events.max);
    return 1;
  }
  kl_buf_add(&r->events, hdr, sizeof hdr);
  kl_buf_add(&r->events, ev->type, ev->type_len);
  kl_buf_add(&r->events, ev->data, ev->data_len);
  kl_buf_add(&r->events, ev->id, ev->id_len);
  return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud) {
  kl_req *r = ud;
  size_t len = size * nmemb;
  r->last_rx = kl_now();
  if (r->mode == KL_MODE_UNDECIDED) {
    long status = 0;
    char *ct = NULL;
    curl_easy_getinfo(r->easy->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->easy->curl, CURLINFO_CONTENT_TYPE, &ct);
    /* A 2xx stream is SSE unless the server answered with plain JSON (it
     * ignored stream=true); error statuses keep their body for mapping. */
    r->mode = (r->want_sse && status >= 200 && status < 300 && !is_json_type(ct)) ? KL_MODE_SSE
                                                                                    : KL_MODE_BODY;
    curl_off_t cl = -1;
    curl_easy_getinfo(r->easy->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    /* One allocation for a body of declared size; over the cap is left to
     * fail as it arrives (curl's MAXFILESIZE check normally comes first). */
    if (r->mode == KL_MODE_BODY && cl > 0 && (curl_off_t)r->body.max >= cl)
      kl_buf_reserve(&r->body, (size_t)cl);
  }
  if (r->mode == KL_MODE_BODY) {
    if (kl_buf_add(&r->body, p, len) != 0) {
      set_message(r, KL_E_too_large, "response body exceeds max_body (%zu bytes)", r->body.max);
      return 0; /* CURLE_WRITE_ERROR: curl stops the transfer */
    }
    return len;
  }
  if (r->events.len - r->events_off >= KL_EVENTS_PAUSE_AT) {
    r->paused = 1;
    return CURL_WRITEFUNC_PAUSE;
  }
  size_t before = r->events.len;
  int rc = kl_sse_feed(&r->sse, p, len, on_event, r);
  if (rc != KL_SSE_OK) {
    if (rc == KL_SSE_TOO_LARGE)
      set_message(r, KL_E_too_large, "SSE event exceeds max_event (%zu bytes)", r->sse.max_event);
    else if (r->kind == KL_OK)
      set_message(r, KL_E_too_large, "SSE parser out of memory (%zu)", len);
    return 0;
  }
  if (r->events.len != before) mark_ready(r);
  return len;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  kl_req *r = ud;
  size_t len = size * nmemb;
  r->last_rx = kl_now();
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    /* A new status line: an interim (100, 103) or redirect response before
     * the final one; keep only the last block. */
    kl_buf_reset(&r->headers);
    return len;
  }
  while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r')) len--;
  if (len == 0) return size * nmemb;
  int rc;
  if ((p[0] == ' ' || p[0] == '\t') && r->headers.len > 0) {
    /* obs-fold continuation: join onto the previous line */
    r->headers.len--; /* drop its '\n' */
    rc = kl_buf_add(&r->headers, p, len);
  } else {
    rc = kl_buf_add(&r->headers, p, len);
  }
  if (rc == 0) rc = kl_buf_addc(&r->headers, '\n');
  if (rc != 0) {
    set_message(r, KL_E_too_large, "response headers exceed max_header (%zu bytes)", r->headers.max);
    return 0;
  }
  return size * nmemb;
}

/* ---- request: lifecycle ----------------------------------------------------------- */

void kl_req_init(kl_req *r) {
  memset(r, 0, sizeof *r);
  kl_buf_init(&r->body, 0);
  kl_buf_init(&r->headers, 0);
  kl_buf_init(&r->events, 0);
  kl_buf_init(&r->hdrlines, (size_t)1 << 20);
  kl_sse_init(&r->sse, 0);
}

int kl_req_add_header(kl_req *r, const char *name, size_t nl, const char *sep, const char *val, size_t vl) {
  size_t sl = strlen(sep);
  if (kl_buf_reserve(&r->hdrlines, nl + sl + vl + 1) != 0) return -1;
  char *p = r->hdrlines.data + r->hdrlines.len;
  memcpy(p, name, nl);
  memcpy(p + nl, sep, sl);
  if (vl) memcpy(p + nl + sl, val, vl);
  p[nl + sl + vl] = '\0';
  r->hdrlines.len += nl + sl + vl + 1;
  return 0;
}

/* Links the header lines into a curl_slist made of one allocation (curl
 * only reads the list; it is ours to free) instead of two mallocs per line. */
static int link_headers(kl_req *r) {
  size_t n = 0;
  for (size_t off = 0; off < r->hdrlines.len; off += strlen(r->hdrlines.data + off) + 1) n++;
  free(r->hdrs);
  r->hdrs = NULL;
  if (n == 0) return 0;
  struct curl_slist *nodes = malloc(n * sizeof *nodes);
  if (!nodes) return -1;
  size_t i = 0;
  for (size_t off = 0; off < r->hdrlines.len; off += strlen(r->hdrlines.data + off) + 1, i++) {
    nodes[i].data = r->hdrlines.data + off;
    nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
  }
  r->hdrs = nodes;
  return 0;
}

static long to_ms(double s) {
  if (s <= 0) return 0;
  double ms = ceil(s * 1000.0);
  return ms > (double)LONG_MAX ? LONG_MAX : (long)ms;
}

/* Collects what the caller reads after completion, then gives the easy
 * handle back to the pool: a finished request holds no curl state. */
static void release_easy(kl_req *r, int removed) {
  if (!r->easy) return;
  CURL *e = r->easy->curl;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &r->http_version);
  switch (r->http_version) {
  case CURL_HTTP_VERSION_1_0: r->http_version = 10; break;
  case CURL_HTTP_VERSION_1_1: r->http_version = 11; break;
  case CURL_HTTP_VERSION_2_0: r->http_version = 20; break;
  case CURL_HTTP_VERSION_3: r->http_version = 30; break;
  default: r->http_version = 0; break;
  }
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &r->num_connects);
  curl_off_t t = 0;
  curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &t);
  r->time_total = (double)t / 1e6;
  t = 0;
  curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &t);
  r->time_connect = (double)t / 1e6;
  t = 0;
  curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &t);
  r->time_starttransfer = (double)t / 1e6;
  if (!removed) curl_multi_remove_handle(r->client->multi, e);
  easy_put(r->client, r->easy);
  r->easy = NULL;
  free(r->hdrs);
  r->hdrs = NULL;
  kl_buf_free(&r->hdrlines);
}

static void finish(kl_req *r, kl_kind kind, int phase, const char *msg) {
  if (r->state != KL_REQ_ACTIVE) return;
  if (r->kind == KL_OK && kind != KL_OK) {
    r->timeout_phase = phase;
    set_message(r, kind, "%s", msg ? msg : kl_kind_name(kind));
  }
  release_easy(r, 0);
  unlink_active(r);
  r->state = KL_REQ_DONE;
  mark_ready(r);
}

/* Method shapes that need different curl state; part of a handle's profile. */
enum { SHAPE_GET = 0, SHAPE_HEAD, SHAPE_POST_EMPTY, SHAPE_BODY, SHAPE_OTHER };

static int same_str(const char *a, const char *b) {
  return a == b || (a && b && strcmp(a, b) == 0);
}

static int set_copy(char **dst, const char *src) {
  free(*dst);
  *dst = NULL;
  if (src && !(*dst = strdup(src))) return -1;
  return 0;
}

/* Options that hold for every request of a profile, set after a reset. */
static int set_profile(kl_easy *ke, const kl_req_opts *o, int shape, unsigned long profile) {
  CURL *e = ke->curl;
  curl_easy_reset(e);
  ke->profile = 0;
  if (set_copy(&ke->cainfo, o->cainfo) != 0 || set_copy(&ke->proxy, o->proxy) != 0) return -1;
  ke->profile = profile;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ke->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (o->cainfo) curl_easy_setopt(e, CURLOPT_CAINFO, o->cainfo);
  if (o->proxy) curl_easy_setopt(e, CURLOPT_PROXY, o->proxy);
  if (o->compress) curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  if (o->follow_redirects) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  }
  switch (shape) {
  case SHAPE_HEAD: curl_easy_setopt(e, CURLOPT_NOBODY, 1L); break;
  case SHAPE_POST_EMPTY:
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    break;
  default: break; /* GET is curl's default; bodies are set per request */
  }
  return 0;
}

int kl_req_start(kl_req *r, kl_client *c, const kl_req_opts *o) {
  r->client = c;
  r->state = KL_REQ_ACTIVE;
  r->kind = KL_OK;
  free(r->message);
  r->message = NULL;
  r->mode = KL_MODE_UNDECIDED;
  r->want_sse = o->sse;
  r->body.max = o->max_body;
  r->headers.max = o->max_header;
  if (o->sse) {
    kl_sse_free(&r->sse);
    kl_sse_init(&r->sse, o->max_event);
  }
  /* Room for the pause threshold plus what one write callback can add. */
  r->events.max = KL_EVENTS_PAUSE_AT + 8 * (size_t)CURL_MAX_WRITE_SIZE + o->max_event;
  r->idle_timeout = o->idle_timeout;
  r->last_rx = kl_now();

  if (c->closed) {
    r->state = KL_REQ_DONE;
    set_message(r, KL_E_cancelled, "client is closed");
    return -1;
  }
  kl_easy *ke = easy_get(c);
  if (!ke) {
    r->state = KL_REQ_DONE;
    set_message(r, KL_E_connect, "out of memory creating a curl handle");
    return -1;
  }
  r->easy = ke;
  CURL *e = ke->curl;
  /* Large bodies would otherwise wait up to a second for "100 Continue". */
  if (kl_req_add_header(r, "Expect", 6, ":", NULL, 0) != 0 || link_headers(r) != 0) {
    easy_put(c, ke);
    r->easy = NULL;
    r->state = KL_REQ_DONE;
    set_message(r, KL_E_connect, "out of memory building request headers");
    return -1;
  }

  const char *m = o->method ? o->method : "GET";
  int shape = o->body ? SHAPE_BODY
            : strcmp(m, "GET") == 0 ? SHAPE_GET
            : strcmp(m, "HEAD") == 0 ? SHAPE_HEAD
            : strcmp(m, "POST") == 0 ? SHAPE_POST_EMPTY : SHAPE_OTHER;
  unsigned long profile = 1ul | (unsigned long)shape << 1 | (unsigned long)(o->compress != 0) << 4 |
                          (unsigned long)(o->follow_redirects != 0) << 5;
  if ((ke->profile != profile || !same_str(ke->cainfo, o->cainfo) || !same_str(ke->proxy, o->proxy)) &&
      set_profile(ke, o, shape, profile) != 0) {
    easy_put(c, ke);
    r->easy = NULL;
    r->state = KL_REQ_DONE;
    set_message(r, KL_E_connect, "out of memory configuring a curl handle");
    return -1;
  }

  ke->errbuf[0] = '\0';
  curl_easy_setopt(e, CURLOPT_URL, o->url);
  /* Only TLS can negotiate HTTP/2 here (CURL_HTTP_VERSION_2TLS) */
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, strncmp(o->url, "https://", 8) == 0 ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, to_ms(o->connect_timeout));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, to_ms(o->timeout));
  /* A declared Content-Length over the cap fails before the body arrives. */
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
  if (shape == SHAPE_BODY) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->body);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(m, "POST") == 0 ? NULL : m);
  } else if (shape == SHAPE_OTHER) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
  }

  link_active(r);
  CURLMcode mc = curl_multi_add_handle(c->multi, e);
  if (mc != CURLM_OK) {
    set_message(r, KL_E_connect, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    release_easy(r, 1);
    unlink_active(r);
    r->state = KL_REQ_DONE;
    return -1;
  }
  return 0;
}

void kl_req_cancel(kl_req *r, const char *why) {
  finish(r, KL_E_cancelled, KL_TIMEOUT_NONE, why ? why : "cancelled");
}

void kl_req_cleanup(kl_req *r) {
  if (r->state == KL_REQ_ACTIVE) kl_req_cancel(r, "request closed");
  unlink_ready(r);
  free(r->hdrs);
  r->hdrs = NULL;
  kl_buf_free(&r->hdrlines);
  free(r->message);
  r->message = NULL;
  kl_buf_free(&r->body);
  kl_buf_free(&r->headers);
  kl_buf_free(&r->events);
  kl_sse_free(&r->sse);
  r->events_off = 0;
  r->client = NULL;
  r->state = KL_REQ_IDLE;
}

int kl_req_next_event(kl_req *r, kl_sse_event *ev) {
  if (r->events_off >= r->events.len) {
    /* Drained: rewind so the queue reuses its memory. */
    r->events.len = r->events_off = 0;
    return 0;
  }
  uint32_t hdr[4];
  const char *p = r->events.data + r->events_off;
  memcpy(hdr, p, sizeof hdr);
  p += sizeof hdr;
  ev->type = p;
  ev->type_len = hdr[0];
  ev->data = p + hdr[0];
  ev->data_len = hdr[1];
  ev->id = p + hdr[0] + hdr[1];
  ev->id_len = hdr[2];
  ev->retry = hdr[3] == UINT32_MAX ? -1 : (long)hdr[3];
  r->events_off += sizeof hdr + hdr[0] + hdr[1] + hdr[2];
  return 1;
}

void kl_req_resume(kl_req *r) {
  if (!r->paused || !r->easy) return;
  if (r->events_off < r->events.len) return;
  r->events.len = r->events_off = 0;
  r->paused = 0;
  r->last_rx = kl_now();
  /* May run on_write right here with the data held back at pause time. */
  curl_easy_pause(r->easy->curl, CURLPAUSE_CONT);
}

/* ---- loop: one iteration ------------------------------------------------------ */

static void drain_done(kl_client *c) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(c->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    kl_req *r = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    if (!r || r->state != KL_REQ_ACTIVE) continue;
    CURLcode code = msg->data.result;
    r->curl_code = (int)code;
    if (code == CURLE_OK || r->kind != KL_OK) {
      finish(r, KL_OK, 0, NULL); /* our own error (too_large) is already set */
      continue;
    }
    kl_kind kind = curl_kind(code);
    int phase = KL_TIMEOUT_NONE;
    if (kind == KL_E_timeout) {
      /* Pre-transfer time is set once a connection (new or reused, TLS
       * done) was ready to carry the request; zero means we never got one. */
      curl_off_t pre = 0;
      curl_easy_getinfo(r->easy->curl, CURLINFO_PRETRANSFER_TIME_T, &pre);
      phase = pre > 0 ? KL_TIMEOUT_TOTAL : KL_TIMEOUT_CONNECT;
    }
    char m[CURL_ERROR_SIZE + 128];
    const char *what = curl_easy_strerror(code), *errbuf = r->easy->errbuf;
    if (code == CURLE_FILESIZE_EXCEEDED) {
      curl_off_t cl = -1;
      curl_easy_getinfo(r->easy->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
      if (cl >= 0)
        snprintf(m, sizeof m, "response body exceeds max_body (%zu bytes): Content-Length is %lld",
                 r->body.max, (long long)cl);
      else
        snprintf(m, sizeof m, "response body exceeds max_body (%zu bytes) by its declared length",
                 r->body.max);
    } else if (errbuf[0] && strcmp(errbuf, what) != 0) {
      snprintf(m, sizeof m, "%s", errbuf);
    } else {
      snprintf(m, sizeof m, "%s", what);
    }
    finish(r, kind, phase, m);
  }
}

/* Seconds until the loop has work of its own (a curl timer, an idle
 * deadline), or -1 if none; 0 when requests are waiting to be reported. */
static double next_deadline(kl_loop *l) {
  if (l->ready_head) return 0;
  double now = kl_now(), best = 0;
  int any = 0;
  for (kl_client *c = l->clients; c; c = c->next)
    if (c->timer_deadline >= 0) {
      double d = c->timer_deadline - now;
      if (!any || d < best) best = d;
      any = 1;
    }
  for (kl_req *r = l->active; r; r = r->next_active)
    if (r->idle_timeout > 0 && !r->paused) {
      double d = r->last_rx + r->idle_timeout - now;
      if (!any || d < best) best = d;
      any = 1;
    }
  if (!any) return -1;
  return best < 0 ? 0 : best;
}

/* Runs curl's due timers: starts transfers added since the last iteration
 * and fires curl's own timeouts. */
static void fire_timers(kl_loop *l) {
  double now = kl_now();
  for (kl_client *c = l->clients; c; c = c->next) {
    if (c->timer_deadline >= 0 && c->timer_deadline <= now) {
      int running;
      c->timer_deadline = -1;
      curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
      c->touched = 1;
    }
  }
}

static void drain_touched(kl_loop *l) {
  for (kl_client *c = l->clients; c; c = c->next)
    if (c->touched) {
      c->touched = 0;
      drain_done(c);
    }
}

int kl_loop_run_once(kl_loop *l, double max_wait) {
  /* Before waiting: a request added since the last iteration has a 0 ms
   * timer; firing it now sends the request without a poll(0) round trip. */
  fire_timers(l);
  drain_touched(l);
  double wait = next_deadline(l);
  if (max_wait >= 0 && (wait < 0 || max_wait < wait)) wait = max_wait;
  int ms;
  if (wait < 0) {
    /* No deadline and no cap: only fd activity can wake us, if any fd. */
    if (l->nfds == 0) return KL_LOOP_IDLE;
    ms = -1;
  } else {
    ms = wait <= 0 ? 0 : (wait > 86400.0 ? 86400000 : (int)ceil(wait * 1000.0));
  }

  int n = 0;
  if (l->nfds > 0 || ms > 0) {
    n = poll(l->fds, (nfds_t)l->nfds, ms);
    if (n < 0) {
      if (errno != EINTR) return -1;
      n = 0;
    }
  }
  if (n > 0) {
    /* Dispatch from a copy: curl's socket callbacks edit the live set. */
    int k = 0;
    for (int i = 0; i < l->nfds && k < n; i++)
      if (l->fds[i].revents) {
        l->scratch[k] = l->fds[i];
        l->scratch_refs[k] = l->refs[i];
        k++;
      }
    for (int i = 0; i < k; i++) {
      short re = l->scratch[i].revents;
      kl_fdref *ref = &l->scratch_refs[i];
      if (ref->client) {
        kl_client *c = ref->client;
        if (c->closed) continue;
        int flags = 0;
        if (re & (POLLIN | POLLHUP | POLLPRI)) flags |= CURL_CSELECT_IN;
        if (re & POLLOUT) flags |= CURL_CSELECT_OUT;
        if (re & (POLLERR | POLLNVAL)) flags |= CURL_CSELECT_ERR;
        int running;
        curl_multi_socket_action(c->multi, ref->fd, flags, &running);
        c->touched = 1;
      } else if (ref->cb) {
        ref->cb(ref->ud, ref->fd, re);
      }
    }
  }
  fire_timers(l);
  drain_touched(l);
  double now = kl_now();
  for (kl_req *r = l->active, *next; r; r = next) {
    next = r->next_active;
    if (r->idle_timeout > 0 && !r->paused && now - r->last_rx >= r->idle_timeout) {
      char m[128];
      snprintf(m, sizeof m, "no data received for %.3g s (idle_timeout)", r->idle_timeout);
      finish(r, KL_E_timeout, KL_TIMEOUT_IDLE, m);
    }
  }
  return l->ready_head != NULL;
}
