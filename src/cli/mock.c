/* keel mock: a local fake LLM provider (OpenAI- and Anthropic-shaped) for
 * keel's specs, `make demo` without an API key, and users' CI.
 *
 *   keel mock [--port N] [--scenario FILE] [--exit-with-parent] [--quiet]
 *
 * Why libevent (evhttp): a single-threaded event loop with first-class
 * timers and chunked replies. Delays, stalls, slow streams and interleaved
 * connections need no threads, which keeps one lua_State safe for every
 * request. evhttp is mature, used in production (Tor- and memcached-adjacent
 * projects among others) and packaged in Debian (libevent-dev).
 *
 * The seam: C accepts connections, reads requests, counts connections, sends
 * replies and runs timers. lua/keel/mock.lua decides what each request gets
 * and returns a plan {status, reason, headers, delay, body | next, ending};
 * `next` is an iterator yielding body pieces (strings) and pauses (seconds).
 * Every call into Lua runs under lua_pcall, so a Lua error never unwinds
 * through libevent's frames.
 *
 * Ownership: a reply in progress (mock_resp) belongs to its connection
 * (mock_conn); the connection's close callback frees it, whether the client
 * went away, we dropped the connection on purpose, or the server shuts down.
 * Before handing a request back to libevent to finish (which may free it),
 * we drop our own reference first. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <lauxlib.h>
#include <lua.h>

#include "cli.h"

#define MOCK_MAX_BODY ((size_t)32 << 20)     /* bigger request bodies get 413 */
#define MOCK_MAX_HEADERS ((size_t)256 << 10) /* request line + headers */
#define MOCK_HIGH_WATER ((size_t)256 << 10)  /* queued output before we wait for the socket */
#define MOCK_STEP_ITEMS 64                   /* items per turn: one big body can't starve others */
#define MOCK_FLUSH_POLL 0.005                /* seconds between checks before a deliberate drop */

typedef struct mock_srv mock_srv;
typedef struct mock_conn mock_conn;
typedef struct mock_resp mock_resp;

enum { END_CLEAN, END_ABORT, END_STALL };
enum { PH_DELAY, PH_STREAM, PH_STALLED };
enum { ITEM_DATA, ITEM_DELAY, ITEM_DONE, ITEM_ERROR };

/* A connection that has carried at least one request. */
struct mock_conn {
  mock_srv *s;
  struct evhttp_connection *evcon;
  mock_resp *active; /* the reply in progress on it, if any */
  mock_conn *prev, *next;
};

/* A reply in progress: waiting out its delay, streaming, or stalled. */
struct mock_resp {
  mock_srv *s;
  mock_conn *c;
  struct evhttp_request *req;
  struct event *timer;
  struct evbuffer *body; /* the whole body; NULL when streamed from next() */
  int next_ref;          /* the plan's iterator, in the registry */
  int status, ending, phase, waiting_drain, pulled_all;
  double delay;
  char reason[64];
};

struct mock_srv {
  struct event_base *base;
  struct evhttp *http;
  lua_State *L;
  int srv_ref;             /* the keel.mock server object */
  struct evbuffer *scratch; /* one chunk on its way into the connection's buffer */
  long long connections;   /* accepted since start or reset */
  long long open;          /* connections that carried a request and are still open */
  mock_conn *conns;
  int quiet;
};

static void logmsg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("keel mock: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  fflush(stderr);
  va_end(ap);
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* ---- replies ------------------------------------------------------------------ */

static void on_timer(evutil_socket_t fd, short what, void *arg);

static mock_resp *resp_new(mock_srv *s, mock_conn *c, struct evhttp_request *req) {
  mock_resp *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->timer = evtimer_new(s->base, on_timer, r);
  if (!r->timer) {
    free(r);
    return NULL;
  }
  r->s = s;
  r->c = c;
  r->req = req;
  r->next_ref = LUA_NOREF;
  r->status = 200;
  c->active = r;
  return r;
}

/* Frees our state for a reply; never touches the request itself. */
static void resp_free(mock_resp *r) {
  event_free(r->timer);
  if (r->body) evbuffer_free(r->body);
  if (r->next_ref != LUA_NOREF) luaL_unref(r->s->L, LUA_REGISTRYINDEX, r->next_ref);
  if (r->c && r->c->active == r) r->c->active = NULL;
  free(r);
}

static void arm(mock_resp *r, double secs) {
  if (!(secs > 0)) secs = 0; /* NaN too */
  if (secs > 1e7) secs = 1e7;
  struct timeval tv;
  tv.tv_sec = (time_t)secs;
  tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
  evtimer_add(r->timer, &tv);
}

static size_t pending_output(mock_resp *r) {
  struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
  if (!evcon) return 0;
  return evbuffer_get_length(bufferevent_get_output(evhttp_connection_get_bufferevent(evcon)));
}

/* Called by evhttp once a chunk we queued has been written out. */
static void on_drained(struct evhttp_connection *evcon, void *arg) {
  (void)evcon;
  mock_resp *r = arg;
  if (r->waiting_drain) {
    r->waiting_drain = 0;
    arm(r, 0);
  }
}

/* Next item of the plan's iterator; data goes to s->scratch. */
static int pull(mock_resp *r, double *delay) {
  lua_State *L = r->s->L;
  if (r->next_ref == LUA_NOREF) return ITEM_DONE;
  lua_pushcfunction(L, msghandler);
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->next_ref);
  if (lua_pcall(L, 0, 1, -2) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    logmsg("error in a plan's chunks: %s", msg ? msg : "?");
    lua_pop(L, 2);
    return ITEM_ERROR;
  }
  int kind;
  switch (lua_type(L, -1)) {
  case LUA_TSTRING: {
    size_t n;
    const char *p = lua_tolstring(L, -1, &n);
    kind = evbuffer_add(r->s->scratch, p, n) == 0 ? ITEM_DATA : ITEM_ERROR;
    break;
  }
  case LUA_TNUMBER:
    *delay = lua_tonumber(L, -1);
    kind = ITEM_DELAY;
    break;
  case LUA_TNIL:
    kind = ITEM_DONE;
    break;
  default:
    logmsg("a plan's chunks gave a %s (expected a string or a number)", luaL_typename(L, -1));
    kind = ITEM_ERROR;
  }
  lua_pop(L, 2);
  return kind;
}

/* The iterator is done: end the body, drop the connection, or stall. */
static void resp_end(mock_resp *r) {
  if (r->ending == END_STALL) {
    r->phase = PH_STALLED; /* freed when the connection closes */
    return;
  }
  if (r->ending == END_ABORT) {
    /* Let what was sent reach the client, then close mid-body. The last
     * write may not have a drain callback (headers only), so poll. */
    if (pending_output(r) > 0) {
      arm(r, MOCK_FLUSH_POLL);
      return;
    }
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
    resp_free(r);
    if (evcon) evhttp_connection_free(evcon); /* frees the request too */
    return;
  }
  struct evhttp_request *req = r->req;
  resp_free(r);
  evhttp_send_reply_end(req);
}

static void resp_step(mock_resp *r) {
  for (int i = 0; i < MOCK_STEP_ITEMS; i++) {
    if (pending_output(r) > MOCK_HIGH_WATER) {
      r->waiting_drain = 1; /* on_drained resumes us */
      return;
    }
    if (r->pulled_all) {
      resp_end(r);
      return;
    }
    double delay = 0;
    switch (pull(r, &delay)) {
    case ITEM_DATA:
      if (evbuffer_get_length(r->s->scratch) > 0)
        evhttp_send_reply_chunk_with_cb(r->req, r->s->scratch, on_drained, r);
      /* evhttp leaves the data where it won't send a body (HEAD, 204): it
       * must not leak into the next reply. */
      evbuffer_drain(r->s->scratch, evbuffer_get_length(r->s->scratch));
      break;
    case ITEM_DELAY:
      arm(r, delay);
      return;
    case ITEM_ERROR:
      r->ending = END_ABORT; /* headers are out: the only honest signal left */
      /* fall through */
    case ITEM_DONE:
      r->pulled_all = 1;
      if (r->next_ref != LUA_NOREF) {
        luaL_unref(r->s->L, LUA_REGISTRYINDEX, r->next_ref);
        r->next_ref = LUA_NOREF;
      }
      break;
    }
  }
  arm(r, 0); /* yield to the loop, then go on */
}

static void resp_start(mock_resp *r) {
  if (r->body) {
    struct evhttp_request *req = r->req;
    struct evbuffer *body = r->body;
    int status = r->status;
    char reason[sizeof r->reason];
    memcpy(reason, r->reason, sizeof reason);
    r->body = NULL;
    resp_free(r); /* first: libevent may finish and free req right away */
    evhttp_send_reply(req, status, reason[0] ? reason : NULL, body);
    evbuffer_free(body);
    return;
  }
  evhttp_send_reply_start(r->req, r->status, r->reason[0] ? r->reason : NULL);
  r->phase = PH_STREAM;
  resp_step(r);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  mock_resp *r = arg;
  if (r->phase == PH_DELAY) resp_start(r);
  else if (r->phase == PH_STREAM) resp_step(r);
}

/* ---- connections ------------------------------------------------------------------- */

/* evhttp asks for a bufferevent per accepted connection: count it and let
 * evhttp make the bufferevent itself. */
static struct bufferevent *on_accept(struct event_base *base, void *arg) {
  (void)base;
  mock_srv *s = arg;
  s->connections++;
  return NULL;
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg) {
  (void)evcon;
  mock_conn *c = arg;
  mock_srv *s = c->s;
  mock_resp *r = c->active;
  if (r) {
    struct evhttp_request *req = r->req;
    /* An unfinished request is detached from a connection that failed
     * under it and left to us; otherwise the connection frees it. */
    int detached = evhttp_request_get_connection(req) == NULL;
    resp_free(r);
    if (detached) evhttp_request_free(req);
  }
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->open--;
  free(c);
}

static mock_conn *conn_track(mock_srv *s, struct evhttp_connection *evcon) {
  for (mock_conn *c = s->conns; c; c = c->next)
    if (c->evcon == evcon) return c;
  mock_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->s = s;
  c->evcon = evcon;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->open++;
  evhttp_connection_set_closecb(evcon, on_conn_close, c);
  return c;
}

/* Once a request is read, evhttp stops reading the socket, so it would see
 * a client leave only when a write fails: never during a delay or a stall.
 * Reading on with no read callback (what evhttp itself sets while writing)
 * lets EOF reach evhttp's error callback, which closes the connection and
 * so calls on_conn_close. Pipelined bytes just wait in the input buffer. */
static void watch_close(struct evhttp_connection *evcon) {
  struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
  bufferevent_data_cb rcb, wcb;
  bufferevent_event_cb ecb;
  void *cbarg;
  bufferevent_getcb(bev, &rcb, &wcb, &ecb, &cbarg);
  bufferevent_setcb(bev, NULL, wcb, ecb, cbarg);
  bufferevent_enable(bev, EV_READ);
}

/* ---- requests -> Lua -> plans ------------------------------------------------------------ */

static const char *method_name(enum evhttp_cmd_type t) {
  switch (t) {
  case EVHTTP_REQ_GET: return "GET";
  case EVHTTP_REQ_POST: return "POST";
  case EVHTTP_REQ_HEAD: return "HEAD";
  case EVHTTP_REQ_PUT: return "PUT";
  case EVHTTP_REQ_DELETE: return "DELETE";
  case EVHTTP_REQ_OPTIONS: return "OPTIONS";
  case EVHTTP_REQ_TRACE: return "TRACE";
  case EVHTTP_REQ_CONNECT: return "CONNECT";
  case EVHTTP_REQ_PATCH: return "PATCH";
  default: return "UNKNOWN";
  }
}

typedef struct {
  mock_srv *s;
  struct evhttp_request *req;
  mock_resp *r;
} handle_ctx;

/* Copies the normalized plan at the top of the stack into r and the
 * request's output headers. Runs protected: raising is fine. */
static void take_plan(lua_State *L, handle_ctx *x) {
  mock_resp *r = x->r;
  int t = lua_gettop(L);
  luaL_checktype(L, t, LUA_TTABLE);
  lua_getfield(L, t, "status");
  r->status = (int)luaL_checkinteger(L, -1);
  lua_getfield(L, t, "reason");
  if (lua_type(L, -1) == LUA_TSTRING) snprintf(r->reason, sizeof r->reason, "%s", lua_tostring(L, -1));
  lua_getfield(L, t, "delay");
  r->delay = lua_tonumber(L, -1);
  lua_getfield(L, t, "ending");
  const char *ending = lua_tostring(L, -1);
  r->ending = !ending || strcmp(ending, "end") == 0 ? END_CLEAN
              : strcmp(ending, "abort") == 0       ? END_ABORT
                                                   : END_STALL;
  lua_pop(L, 4);

  struct evkeyvalq *out = evhttp_request_get_output_headers(x->req);
  lua_getfield(L, t, "headers");
  luaL_checktype(L, -1, LUA_TTABLE);
  int n = (int)lua_rawlen(L, -1);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
    if (!k || !v) luaL_error(L, "plan header %d is not {name, value}", i);
    if (evhttp_add_header(out, k, v) != 0) luaL_error(L, "plan header %s: rejected", k);
    lua_pop(L, 3);
  }
  lua_pop(L, 1);

  lua_getfield(L, t, "body");
  if (lua_type(L, -1) == LUA_TSTRING) {
    size_t len;
    const char *p = lua_tolstring(L, -1, &len);
    r->body = evbuffer_new();
    if (!r->body || evbuffer_add(r->body, p, len) != 0) luaL_error(L, "not enough memory");
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  lua_getfield(L, t, "next");
  luaL_checktype(L, -1, LUA_TFUNCTION);
  r->next_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* server:handle{method=, uri=, headers={{k, v}...}, body=} -> plan */
static int p_handle(lua_State *L) {
  handle_ctx *x = lua_touserdata(L, 1);
  struct evhttp_request *req = x->req;
  lua_rawgeti(L, LUA_REGISTRYINDEX, x->s->srv_ref);
  lua_getfield(L, -1, "handle");
  lua_insert(L, -2);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, method_name(evhttp_request_get_command(req)));
  lua_setfield(L, -2, "method");
  const char *uri = evhttp_request_get_uri(req);
  lua_pushstring(L, uri ? uri : "/");
  lua_setfield(L, -2, "uri");
  lua_newtable(L);
  int i = 0;
  struct evkeyval *kv;
  TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next) {
    lua_createtable(L, 2, 0);
    lua_pushstring(L, kv->key);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, kv->value);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, ++i);
  }
  lua_setfield(L, -2, "headers");
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t n = evbuffer_get_length(in);
  const unsigned char *p = n ? evbuffer_pullup(in, -1) : NULL;
  if (n && !p) luaL_error(L, "not enough memory for the request body");
  lua_pushlstring(L, p ? (const char *)p : "", p ? n : 0);
  lua_setfield(L, -2, "body");
  lua_call(L, 2, 1);
  take_plan(L, x);
  return 0;
}

static void send_plain(struct evhttp_request *req, int status, const char *msg) {
  struct evbuffer *b = evbuffer_new();
  struct evkeyvalq *out = evhttp_request_get_output_headers(req);
  evhttp_clear_headers(out);
  evhttp_add_header(out, "Content-Type", "text/plain");
  if (b) evbuffer_add_printf(b, "keel mock: %s\n", msg);
  evhttp_send_reply(req, status, NULL, b);
  if (b) evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg) {
  mock_srv *s = arg;
  struct evhttp_connection *evcon = evhttp_request_get_connection(req);
  mock_conn *c = evcon ? conn_track(s, evcon) : NULL;
  mock_resp *r = c ? resp_new(s, c, req) : NULL;
  if (!r) {
    send_plain(req, 503, "out of memory");
    return;
  }
  lua_State *L = s->L;
  handle_ctx x = {s, req, r};
  lua_pushcfunction(L, msghandler);
  lua_pushcfunction(L, p_handle);
  lua_pushlightuserdata(L, &x);
  if (lua_pcall(L, 1, 0, -3) != LUA_OK) {
    /* keel.mock catches scenario errors itself; this is the mock's own bug
     * or memory running out. */
    const char *msg = lua_tostring(L, -1);
    logmsg("internal error: %s", msg ? msg : "?");
    resp_free(r);
    send_plain(req, 500, msg ? msg : "internal error");
    lua_pop(L, 2);
    return;
  }
  lua_pop(L, 1);
  watch_close(evcon);
  if (r->delay > 0) {
    r->phase = PH_DELAY;
    arm(r, r->delay);
  } else {
    resp_start(r);
  }
}

/* ---- Lua side: host functions, set-up ------------------------------------------------------ */

/* host.counters() -> connections, open_connections */
static int l_counters(lua_State *L) {
  mock_srv *s = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushinteger(L, (lua_Integer)s->connections);
  lua_pushinteger(L, (lua_Integer)s->open);
  return 2;
}

/* host.reset(): connections count from zero (open ones stay open) */
static int l_reset(lua_State *L) {
  mock_srv *s = lua_touserdata(L, lua_upvalueindex(1));
  s->connections = 0;
  return 0;
}

/* require("keel.mock").server{scenario=, quiet=, host=} into s->srv_ref */
static int p_setup(lua_State *L) {
  mock_srv *s = lua_touserdata(L, 1);
  const char *scenario = lua_touserdata(L, 2);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "keel.mock");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "server");
  lua_createtable(L, 0, 3);
  if (scenario) {
    lua_pushstring(L, scenario);
    lua_setfield(L, -2, "scenario");
  }
  lua_pushboolean(L, s->quiet);
  lua_setfield(L, -2, "quiet");
  lua_createtable(L, 0, 2);
  lua_pushlightuserdata(L, s);
  lua_pushcclosure(L, l_counters, 1);
  lua_setfield(L, -2, "counters");
  lua_pushlightuserdata(L, s);
  lua_pushcclosure(L, l_reset, 1);
  lua_setfield(L, -2, "reset");
  lua_setfield(L, -2, "host");
  lua_call(L, 1, 1);
  s->srv_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
  (void)sig;
  (void)what;
  event_base_loopexit(arg, NULL);
}

/* ---- main ---------------------------------------------------------------------------------- */

static void mock_usage(FILE *f) {
  fputs("usage: keel mock [--port N] [--scenario FILE] [--exit-with-parent] [--quiet]\n"
        "  --port N            port on 127.0.0.1 (default 0: a free one)\n"
        "  --scenario FILE     Lua file choosing responses (see docs/mock.md)\n"
        "  --exit-with-parent  exit when the parent process dies (SIGTERM)\n"
        "  --quiet             no per-request log lines on stderr\n"
        "The first line on stdout is 'keel mock listening on http://127.0.0.1:PORT'.\n",
        f);
}

/* "--name value" or "--name=value": 1 and *val set when argv[*i] is --name
 * (*val NULL when the value is missing), else 0. */
static int opt_value(const char *name, int argc, char **argv, int *i, const char **val) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  *val = *i + 1 < argc ? argv[++*i] : NULL;
  return 1;
}

int keel_mock_main(int argc, char **argv) {
  long port = 0;
  const char *scenario = NULL;
  int exit_with_parent = 0, quiet = 0;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (opt_value("--port", argc, argv, &i, &v)) {
      char *end;
      errno = 0;
      port = v ? strtol(v, &end, 10) : -1;
      if (!v || *v == '\0' || *end != '\0' || errno || port < 0 || port > 65535) {
        fprintf(stderr, "keel mock: --port needs a number from 0 to 65535\n");
        return 2;
      }
    } else if (opt_value("--scenario", argc, argv, &i, &v)) {
      if (!v || !*v) {
        fprintf(stderr, "keel mock: --scenario needs a file\n");
        return 2;
      }
      scenario = v;
    } else if (strcmp(argv[i], "--exit-with-parent") == 0) {
      exit_with_parent = 1;
    } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
      quiet = 1;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      mock_usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "keel mock: unknown option '%s'\n", argv[i]);
      mock_usage(stderr);
      return 2;
    }
  }

  if (exit_with_parent) {
    /* SIGTERM takes the clean way out below; if the parent died before
     * prctl took effect, we were reparented already. */
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) return 1;
  }
  /* A client gone mid-write must be an error return, not a fatal signal. */
  signal(SIGPIPE, SIG_IGN);

  mock_srv s;
  memset(&s, 0, sizeof s);
  s.quiet = quiet;
  s.srv_ref = LUA_NOREF;
  int rc = 1;
  struct event *sigterm = NULL, *sigint = NULL;

  s.L = keel_newstate();
  if (!s.L) {
    fprintf(stderr, "keel mock: cannot create a Lua state: not enough memory\n");
    return 1;
  }
  /* No traceback here: a bad scenario reads best as just "file:line: msg". */
  lua_pushcfunction(s.L, p_setup);
  lua_pushlightuserdata(s.L, &s);
  lua_pushlightuserdata(s.L, (void *)scenario);
  if (lua_pcall(s.L, 2, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(s.L, -1);
    fprintf(stderr, "keel mock: %s\n", msg ? msg : "(error object is not a string)");
    lua_close(s.L);
    return 2;
  }

  s.base = event_base_new();
  s.http = s.base ? evhttp_new(s.base) : NULL;
  s.scratch = evbuffer_new();
  if (!s.base || !s.http || !s.scratch) {
    fprintf(stderr, "keel mock: cannot set up the event loop\n");
    goto done;
  }
  evhttp_set_max_body_size(s.http, MOCK_MAX_BODY);
  evhttp_set_max_headers_size(s.http, MOCK_MAX_HEADERS);
  /* Read an oversized body to its end before answering 413, so the client
   * sees the answer rather than a reset. */
  evhttp_set_flags(s.http, EVHTTP_SERVER_LINGERING_CLOSE);
  evhttp_set_default_content_type(s.http, NULL); /* plans say what they send */
  evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
  evhttp_set_gencb(s.http, on_request, &s);
  evhttp_set_bevcb(s.http, on_accept, &s);

  struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(s.http, "127.0.0.1", (ev_uint16_t)port);
  if (!bound) {
    fprintf(stderr, "keel mock: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
    goto done;
  }
  struct sockaddr_in sin;
  socklen_t slen = sizeof sin;
  if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &slen) != 0) {
    fprintf(stderr, "keel mock: getsockname: %s\n", strerror(errno));
    goto done;
  }

  sigterm = evsignal_new(s.base, SIGTERM, on_signal, s.base);
  sigint = evsignal_new(s.base, SIGINT, on_signal, s.base);
  if (!sigterm || !sigint || evsignal_add(sigterm, NULL) != 0 || evsignal_add(sigint, NULL) != 0) {
    fprintf(stderr, "keel mock: cannot handle signals\n");
    goto done;
  }

  printf("keel mock listening on http://127.0.0.1:%d\n", ntohs(sin.sin_port));
  fflush(stdout);
  rc = event_base_dispatch(s.base) < 0 ? 1 : 0;

done:
  /* Freeing the server closes every connection; their close callbacks free
   * the replies in progress (and unref their iterators), so Lua goes last. */
  if (s.http) evhttp_free(s.http);
  if (sigterm) event_free(sigterm);
  if (sigint) event_free(sigint);
  if (s.scratch) evbuffer_free(s.scratch);
  if (s.base) event_base_free(s.base);
  libevent_global_shutdown();
  if (s.srv_ref != LUA_NOREF) luaL_unref(s.L, LUA_REGISTRYINDEX, s.srv_ref);
  lua_close(s.L);
  return rc;
}
