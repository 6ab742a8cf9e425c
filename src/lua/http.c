/* keel.core.http: clients, requests and the poll step of the scheduler.
 *
 * Only translates values and owns userdata lifetimes; the transport is
 * src/core/http.c. No Lua code ever runs inside a curl callback: callbacks
 * fill C buffers, and Lua reads them after poll() returns. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

#define LOOP_MT "keel.loop"
#define LOOP_KEY "keel.loop.instance" /* not LOOP_MT: that slot holds the metatable */
#define CLIENT_MT "keel.http.client"
#define REQ_MT "keel.http.request"
#define ANCHORS "keel.anchors"

#define DEFAULT_MAX_BODY ((size_t)64 << 20)
#define DEFAULT_MAX_HEADER ((size_t)256 << 10)
#define DEFAULT_MAX_EVENT ((size_t)1 << 20)

typedef struct {
  kl_client c;
  int open;
  /* request defaults */
  double connect_timeout, timeout, idle_timeout;
  size_t max_body, max_header, max_event;
  int compress;
  char *cainfo, *proxy;
} lclient;

typedef struct {
  kl_req r;
  int started;
} lreq;

/* ---- loop ------------------------------------------------------------------- */

static int loop_gc(lua_State *L) {
  keel_loop *w = luaL_checkudata(L, 1, LOOP_MT);
  if (w->open) {
    kl_loop_free(&w->loop);
    free(w->notified);
    w->notified = NULL;
    w->open = 0;
  }
  return 0;
}

keel_loop *keel_loop_get(lua_State *L) {
  if (keel_getfield(L, LUA_REGISTRYINDEX, LOOP_KEY) == LUA_TUSERDATA) {
    keel_loop *w = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return w;
  }
  lua_pop(L, 1);
  keel_loop *w = lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  if (kl_loop_init(&w->loop) != 0) luaL_error(L, "keel: curl_global_init failed");
  w->open = 1;
  if (luaL_newmetatable(L, LOOP_MT)) {
    lua_pushcfunction(L, loop_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, LOOP_KEY);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, ANCHORS);
  return w;
}

void keel_loop_anchor(lua_State *L, const void *key, int idx) {
  idx = lua_absindex(L, idx);
  lua_getfield(L, LUA_REGISTRYINDEX, ANCHORS);
  lua_pushvalue(L, idx);
  lua_rawsetp(L, -2, key);
  lua_pop(L, 1);
}

void keel_loop_unanchor(lua_State *L, const void *key) {
  lua_getfield(L, LUA_REGISTRYINDEX, ANCHORS);
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    lua_rawsetp(L, -2, key);
  }
  lua_pop(L, 1);
}

int keel_loop_notify(keel_loop *w, const void *key) {
  for (int i = 0; i < w->nnotified; i++)
    if (w->notified[i] == key) return 0;
  if (w->nnotified == w->capnotified) {
    int n = w->capnotified ? w->capnotified * 2 : 8;
    void **p = realloc(w->notified, (size_t)n * sizeof *p);
    if (!p) return -1;
    w->notified = p;
    w->capnotified = n;
  }
  w->notified[w->nnotified++] = (void *)key;
  return 0;
}

/* poll(timeout, out) -> n | false: one loop iteration; out[1..n] are the
 * objects (requests, watchers) with news. timeout nil: wait as long as the
 * loop's own deadlines and fds say; false when nothing could ever wake it. */
static int l_poll(lua_State *L) {
  double timeout = luaL_optnumber(L, 1, -1);
  luaL_checktype(L, 2, LUA_TTABLE);
  keel_loop *w = keel_loop_get(L);
  int rc = kl_loop_run_once(&w->loop, timeout);
  if (rc == KL_LOOP_IDLE && w->nnotified == 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (rc < 0 && rc != KL_LOOP_IDLE) return luaL_error(L, "keel: poll failed");
  lua_getfield(L, LUA_REGISTRYINDEX, ANCHORS);
  int anchors = lua_gettop(L), n = 0;
  kl_req *r;
  while ((r = kl_loop_next_ready(&w->loop))) {
    if (lua_rawgetp(L, anchors, r) == LUA_TNIL) {
      lua_pop(L, 1); /* closed meanwhile */
      continue;
    }
    lua_rawseti(L, 2, ++n);
    if (r->state == KL_REQ_DONE) {
      lua_pushnil(L);
      lua_rawsetp(L, anchors, r);
    }
  }
  for (int i = 0; i < w->nnotified; i++) {
    if (lua_rawgetp(L, anchors, w->notified[i]) == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    lua_rawseti(L, 2, ++n);
  }
  w->nnotified = 0;
  lua_pushinteger(L, n);
  return 1;
}

/* ---- client ------------------------------------------------------------------- */

static lclient *check_client(lua_State *L, int i) {
  lclient *c = keel_check_self(L, i, CLIENT_MT);
  if (!c->open) luaL_argerror(L, i, "client is closed");
  return c;
}

static size_t opt_size(lua_State *L, int t, const char *k, size_t def) {
  lua_Integer v = keel_optintfield(L, t, k, (lua_Integer)def);
  if (v < 0) luaL_error(L, "option '%s' must be >= 0", k);
  return (size_t)v;
}

static double opt_secs(lua_State *L, int t, const char *k, double def) {
  double v = keel_optnumfield(L, t, k, def);
  if (!(v >= 0)) luaL_error(L, "option '%s' must be >= 0 seconds", k);
  return v;
}

static char *dup_opt(lua_State *L, int t, const char *k) {
  const char *s = keel_optstrfield(L, t, k, NULL);
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) luaL_error(L, "out of memory");
  return d;
}

static int client_close(lua_State *L) {
  lclient *c = keel_check_self(L, 1, CLIENT_MT);
  if (c->open) {
    c->open = 0;
    kl_client_close(&c->c);
    free(c->cainfo);
    free(c->proxy);
    c->cainfo = c->proxy = NULL;
  }
  return 0;
}

static int client_tostring(lua_State *L) {
  lclient *c = keel_check_self(L, 1, CLIENT_MT);
  if (c->open) lua_pushfstring(L, "keel.http.client (%p)", (void *)c);
  else lua_pushliteral(L, "keel.http.client (closed)");
  return 1;
}

/* client{...} */
static int l_client(lua_State *L) {
  int has = !lua_isnoneornil(L, 1);
  if (has) luaL_checktype(L, 1, LUA_TTABLE);
  else {
    lua_newtable(L);
    lua_replace(L, 1);
  }
  keel_loop *w = keel_loop_get(L);
  kl_client_opts co = {0};
  co.max_host_connections = (long)keel_optintfield(L, 1, "max_host_connections", 0);
  co.max_total_connections = (long)keel_optintfield(L, 1, "max_connections", 0);
  co.connection_cache = (long)keel_optintfield(L, 1, "connection_cache", 0);
  double ct = opt_secs(L, 1, "connect_timeout", 0);
  double to = opt_secs(L, 1, "timeout", 0);
  double it = opt_secs(L, 1, "idle_timeout", 0);
  size_t mb = opt_size(L, 1, "max_body", DEFAULT_MAX_BODY);
  size_t mh = opt_size(L, 1, "max_header", DEFAULT_MAX_HEADER);
  size_t me = opt_size(L, 1, "max_event", DEFAULT_MAX_EVENT);
  int compress = keel_optboolfield(L, 1, "compress", 1);
  /* Everything that can raise is done; now allocate. */
  lclient *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  luaL_setmetatable(L, CLIENT_MT);
  if (kl_client_init(&c->c, &w->loop, &co) != 0) return luaL_error(L, "keel: curl_multi_init failed");
  c->open = 1;
  c->connect_timeout = ct;
  c->timeout = to;
  c->idle_timeout = it;
  c->max_body = mb;
  c->max_header = mh;
  c->max_event = me;
  c->compress = compress;
  c->cainfo = dup_opt(L, 1, "cainfo");
  c->proxy = dup_opt(L, 1, "proxy");
  return 1;
}

/* ---- request ------------------------------------------------------------------ */

static lreq *check_req(lua_State *L, int i) { return keel_check_self(L, i, REQ_MT); }

static lreq *check_open_req(lua_State *L, int i) {
  lreq *q = keel_check_self(L, i, REQ_MT);
  if (q->r.state == KL_REQ_IDLE) luaL_argerror(L, i, "request is closed");
  return q;
}

/* RFC 9110 token characters, for header names. */
static unsigned char tchar[256];
static void init_tchar(void) {
  for (int c = 33; c < 127; c++) tchar[c] = !strchr("\"(),/:;<=>?@[\\]{}", c);
}

static int valid_token(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!tchar[(unsigned char)s[i]]) return 0;
  return 1;
}

/* Adds one header; raises on a malformed name or a value with CR/LF/NUL
 * (header injection). Raising leaks nothing: the lines live in the request,
 * which its __gc frees. */
/* Messages name a header, never show a value: values carry credentials. */
/* (lua_pushfstring has no %.*s: the name goes through a Lua string.) */
static const char *name_str(lua_State *L, const char *name, size_t nl) {
  lua_pushlstring(L, name, nl > 64 ? 64 : nl); /* returns void on LuaJIT */
  return lua_tostring(L, -1);
}

static void bad_name(lua_State *L, const char *name, size_t nl) {
  size_t n = nl > 64 ? 64 : nl, i = 0;
  while (i < n && tchar[(unsigned char)name[i]]) i++; /* stop before anything odd */
  luaL_error(L, "invalid header name '%s%s'", name_str(L, name, i), i < nl ? "..." : "");
}

static void add_header(lua_State *L, lreq *q, const char *name, size_t nl, const char *val, size_t vl) {
  if (!valid_token(name, nl)) bad_name(L, name, nl);
  if (memchr(val, '\r', vl) || memchr(val, '\n', vl) || memchr(val, '\0', vl))
    luaL_error(L, "header '%s': value contains CR, LF or NUL", name_str(L, name, nl));
  /* "Name;" is curl's way to send a header with an empty value. */
  if (kl_req_add_header(&q->r, name, nl, vl ? ": " : ";", val, vl) != 0)
    luaL_error(L, "request headers too large or out of memory");
}

static void add_headers(lua_State *L, lreq *q, int t) {
  keel_getfield(L, t, "headers");
  int h = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, h)) {
    if (lua_type(L, -2) == LUA_TNUMBER) {
      /* array form: "Name: value" */
      size_t n;
      const char *line = luaL_checklstring(L, -1, &n);
      const char *colon = memchr(line, ':', n);
      if (!colon) luaL_error(L, "headers[%d]: expected a 'Name: value' string", (int)lua_tointeger(L, -2));
      const char *v = colon + 1;
      while (*v == ' ') v++;
      add_header(L, q, line, (size_t)(colon - line), v, n - (size_t)(v - line));
    } else if (lua_type(L, -2) == LUA_TSTRING) {
      size_t nl, vl;
      const char *name = lua_tolstring(L, -2, &nl);
      int vt = lua_type(L, -1);
      if (vt == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        /* name = false removes a header curl would add */
        if (!valid_token(name, nl)) bad_name(L, name, nl);
        if (kl_req_add_header(&q->r, name, nl, ":", NULL, 0) != 0) luaL_error(L, "out of memory");
      } else if (vt == LUA_TSTRING) {
        const char *val = lua_tolstring(L, -1, &vl);
        add_header(L, q, name, nl, val, vl);
      } else if (vt == LUA_TNUMBER) {
        lua_pushvalue(L, -1); /* convert a copy: keep lua_next's key intact */
        const char *val = lua_tolstring(L, -1, &vl);
        add_header(L, q, name, nl, val, vl);
        lua_pop(L, 1);
      } else {
        luaL_error(L, "header '%s': string value expected, got %s", name_str(L, name, nl), lua_typename(L, vt));
      }
    } else {
      luaL_error(L, "option 'headers': keys must be names or array indices");
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static int req_gc(lua_State *L) {
  lreq *q = check_req(L, 1);
  if (q->started) {
    keel_loop_unanchor(L, q);
    q->started = 0;
  }
  kl_req_cleanup(&q->r);
  return 0;
}

/* Request options, read in one pass over the keys present: an options table
 * usually sets 3-5 of them, and an unknown key is a typo worth an error. */
enum {
  O_URL, O_METHOD, O_HEADERS, O_BODY, O_CONNECT_TIMEOUT, O_TIMEOUT, O_IDLE_TIMEOUT,
  O_MAX_BODY, O_MAX_HEADER, O_MAX_EVENT, O_SSE, O_COMPRESS, O_FOLLOW, O_CAINFO, O_PROXY,
  O__COUNT
};
static const char *const opt_names[O__COUNT] = {
  "url", "method", "headers", "body", "connect_timeout", "timeout", "idle_timeout",
  "max_body", "max_header", "max_event", "sse", "compress", "follow_redirects", "cainfo", "proxy"};

static int opt_index(const char *k) {
  for (int i = 0; i < O__COUNT; i++)
    if (k[0] == opt_names[i][0] && strcmp(k, opt_names[i]) == 0) return i;
  return -1;
}

static double num_opt(lua_State *L, int i, const char *k) {
  if (lua_type(L, i) != LUA_TNUMBER)
    luaL_error(L, "option '%s': number expected, got %s", k, luaL_typename(L, i));
  double v = lua_tonumber(L, i);
  if (!(v >= 0)) luaL_error(L, "option '%s' must be >= 0", k);
  return v;
}

static size_t size_opt(lua_State *L, int i, const char *k) {
  double v = num_opt(L, i, k);
  /* Range first: converting an out-of-range double is undefined. */
  if (v != floor(v) || v > 9007199254740992.0) luaL_error(L, "option '%s': integer expected", k);
  return (size_t)v;
}

static int bool_opt(lua_State *L, int i, const char *k) {
  if (lua_type(L, i) != LUA_TBOOLEAN)
    luaL_error(L, "option '%s': boolean expected, got %s", k, luaL_typename(L, i));
  return lua_toboolean(L, i);
}

static const char *str_opt(lua_State *L, int i, const char *k, size_t *len) {
  if (lua_type(L, i) != LUA_TSTRING)
    luaL_error(L, "option '%s': string expected, got %s", k, luaL_typename(L, i));
  return lua_tolstring(L, i, len); /* anchored by the options table */
}

/* client:request{ url=, method=, headers=, body=, timeouts, caps, sse= } */
static int client_request(lua_State *L) {
  lclient *c = check_client(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  kl_req_opts o;
  memset(&o, 0, sizeof o);
  o.connect_timeout = c->connect_timeout;
  o.timeout = c->timeout;
  o.idle_timeout = c->idle_timeout;
  o.max_body = c->max_body;
  o.max_header = c->max_header;
  o.max_event = c->max_event;
  o.compress = c->compress;
  o.cainfo = c->cainfo;
  o.proxy = c->proxy;
  int has_headers = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "request options: keys must be option names");
    const char *k = lua_tostring(L, -2);
    int i = opt_index(k);
    switch (i) {
    case O_URL: o.url = str_opt(L, -1, k, NULL); break;
    case O_METHOD: o.method = str_opt(L, -1, k, NULL); break;
    case O_HEADERS:
      if (!lua_istable(L, -1)) luaL_error(L, "option 'headers': table expected");
      has_headers = 1;
      break;
    case O_BODY: o.body = str_opt(L, -1, k, &o.body_len); break;
    case O_CONNECT_TIMEOUT: o.connect_timeout = num_opt(L, -1, k); break;
    case O_TIMEOUT: o.timeout = num_opt(L, -1, k); break;
    case O_IDLE_TIMEOUT: o.idle_timeout = num_opt(L, -1, k); break;
    case O_MAX_BODY: o.max_body = size_opt(L, -1, k); break;
    case O_MAX_HEADER: o.max_header = size_opt(L, -1, k); break;
    case O_MAX_EVENT: o.max_event = size_opt(L, -1, k); break;
    case O_SSE: o.sse = bool_opt(L, -1, k); break;
    case O_COMPRESS: o.compress = bool_opt(L, -1, k); break;
    case O_FOLLOW: o.follow_redirects = bool_opt(L, -1, k); break;
    case O_CAINFO: o.cainfo = str_opt(L, -1, k, NULL); break;
    case O_PROXY: o.proxy = str_opt(L, -1, k, NULL); break;
    default: luaL_error(L, "unknown request option '%s'", k);
    }
    lua_pop(L, 1);
  }
  if (!o.url) return luaL_argerror(L, 2, "'url' is required");
  if (strncmp(o.url, "http://", 7) != 0 && strncmp(o.url, "https://", 8) != 0)
    return luaL_error(L, "url must start with http:// or https://"); /* not echoed: may hold a key */

  lreq *q = lua_newuserdatauv(L, sizeof *q, 1);
  kl_req_init(&q->r);
  q->started = 0;
  luaL_setmetatable(L, REQ_MT);
  int ud = lua_gettop(L);
  if (has_headers) add_headers(L, q, 2); /* may raise; __gc frees the slist */

  /* The request keeps its client alive: GC order must not free the multi
   * under a request that still points at it. */
#if LUA_VERSION_NUM >= 504
  lua_pushvalue(L, 1);
#else
  lua_createtable(L, 1, 0);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
#endif
  lua_setiuservalue(L, ud, 1);

  q->started = 1;
  keel_loop_anchor(L, q, ud);
  if (kl_req_start(&q->r, &c->c, &o) != 0) {
    /* Failed before reaching the network: it is done; nothing to poll. */
    keel_loop_unanchor(L, q);
  }
  lua_pushvalue(L, ud);
  return 1;
}

static int req_done(lua_State *L) {
  lreq *q = check_req(L, 1);
  lua_pushboolean(L, q->r.state == KL_REQ_DONE);
  return 1;
}

/* events() -> array of {event=, data=, id=, retry=} (maybe empty) */
static int req_events(lua_State *L) {
  lreq *q = check_open_req(L, 1);
  lua_newtable(L);
  kl_sse_event ev;
  int n = 0;
  while (kl_req_next_event(&q->r, &ev)) {
    lua_createtable(L, 0, 4);
    lua_pushlstring(L, ev.type, ev.type_len);
    lua_setfield(L, -2, "event");
    lua_pushlstring(L, ev.data, ev.data_len);
    lua_setfield(L, -2, "data");
    if (ev.id_len) {
      lua_pushlstring(L, ev.id, ev.id_len);
      lua_setfield(L, -2, "id");
    }
    if (ev.retry >= 0) {
      lua_pushinteger(L, ev.retry);
      lua_setfield(L, -2, "retry");
    }
    lua_rawseti(L, -2, ++n);
  }
  kl_req_resume(&q->r);
  return 1;
}

static const char *timeout_phase_name(int p) {
  switch (p) {
  case KL_TIMEOUT_CONNECT: return "connect";
  case KL_TIMEOUT_TOTAL: return "total";
  case KL_TIMEOUT_IDLE: return "idle";
  default: return NULL;
  }
}

static void push_headers(lua_State *L, const kl_buf *h) {
  const char *p = h->data, *end = h->data + h->len;
  int lines = 0;
  for (const char *x = p; x && x < end && (x = memchr(x, '\n', (size_t)(end - x))); x++) lines++;
  lua_createtable(L, 0, lines);
  int t = lua_gettop(L);
  char name[256];
  while (p && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) nl = end;
    const char *colon = memchr(p, ':', (size_t)(nl - p));
    if (colon && colon > p && (size_t)(colon - p) < sizeof name) {
      size_t n = (size_t)(colon - p);
      for (size_t i = 0; i < n; i++) name[i] = (char)tolower((unsigned char)p[i]);
      const char *v = colon + 1, *ve = nl;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      lua_pushlstring(L, name, n);
      lua_pushvalue(L, -1);
      lua_rawget(L, t);
      if (lua_type(L, -1) == LUA_TSTRING) {
        /* Repeated field: join as RFC 9110 allows (set-cookie aside). */
        lua_pushstring(L, n == 10 && memcmp(name, "set-cookie", 10) == 0 ? "\n" : ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      lua_rawset(L, t);
    }
    p = nl + 1;
  }
}

/* result() -> status, headers, body|nil, http_version, reused, total_time,
 *             first_byte_time, connect_time, sse_events|nil, incomplete
 *           | nil, err
 * Values, not a table: keel.http builds the response table with a
 * constant-key constructor, far cheaper than setting fields from C. */
static int req_result(lua_State *L) {
  lreq *q = check_open_req(L, 1);
  kl_req *r = &q->r;
  if (r->state != KL_REQ_DONE) return luaL_error(L, "request is still in flight");
  if (r->kind != KL_OK) {
    lua_pushnil(L);
    keel_push_error(L, r->kind, "%s", r->message ? r->message : kl_kind_name(r->kind));
    const char *phase = timeout_phase_name(r->timeout_phase);
    if (phase) {
      lua_pushstring(L, phase);
      lua_setfield(L, -2, "timeout");
    }
    if (r->curl_code) {
      lua_pushinteger(L, r->curl_code);
      lua_setfield(L, -2, "curl_code");
    }
    if (r->status) {
      lua_pushinteger(L, r->status);
      lua_setfield(L, -2, "status");
    }
    return 2;
  }
  luaL_checkstack(L, 10, NULL);
  lua_pushinteger(L, r->status);
  push_headers(L, &r->headers);
  if (r->mode == KL_MODE_SSE) lua_pushnil(L);
  else lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
  lua_pushnumber(L, r->http_version == 11 ? 1.1 : r->http_version == 10 ? 1.0 : (double)(r->http_version / 10));
  lua_pushboolean(L, r->num_connects == 0);
  lua_pushnumber(L, r->time_total);
  lua_pushnumber(L, r->time_starttransfer);
  lua_pushnumber(L, r->time_connect);
  if (r->mode == KL_MODE_SSE) {
    lua_pushinteger(L, (lua_Integer)r->sse.events);
    lua_pushboolean(L, kl_sse_pending(&r->sse));
  } else {
    lua_pushnil(L);
    lua_pushboolean(L, 0);
  }
  return 10;
}

static int req_cancel(lua_State *L) {
  lreq *q = check_req(L, 1);
  const char *why = luaL_optstring(L, 2, "cancelled");
  if (q->r.state == KL_REQ_ACTIVE) kl_req_cancel(&q->r, why);
  return 0;
}

static int req_tostring(lua_State *L) {
  lreq *q = check_req(L, 1);
  static const char *const st[] = {"(closed)", "(in flight)", "(done)"};
  lua_pushfstring(L, "keel.http.request %s", st[q->r.state]);
  return 1;
}

static const luaL_Reg client_methods[] = {
  {"request", client_request},
  {"close", client_close},
  {NULL, NULL}};

static const luaL_Reg client_meta[] = {
  {"__gc", client_close},
  {"__close", client_close},
  {"__tostring", client_tostring},
  {NULL, NULL}};

static const luaL_Reg req_methods[] = {
  {"done", req_done},
  {"events", req_events},
  {"result", req_result},
  {"cancel", req_cancel},
  {"close", req_gc},
  {NULL, NULL}};

static const luaL_Reg req_meta[] = {
  {"__gc", req_gc},
  {"__close", req_gc},
  {"__tostring", req_tostring},
  {NULL, NULL}};

/* A function, not a field: curl_version() pages in every TLS/IDN/SSH library
 * to ask its version (1.7 MB of RSS), which module load must not pay. */
static int l_curl_version(lua_State *L) {
  lua_pushstring(L, curl_version());
  return 1;
}

static const luaL_Reg funcs[] = {
  {"client", l_client},
  {"curl_version", l_curl_version},
  {"poll", l_poll},
  {NULL, NULL}};

KEEL_API int luaopen_keel_core_http(lua_State *L) {
  init_tchar();
  keel_new_class(L, CLIENT_MT, client_meta, client_methods);
  keel_new_class(L, REQ_MT, req_meta, req_methods);
  luaL_newlib(L, funcs);
  return 1;
}
