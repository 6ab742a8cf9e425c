/* keel.core.http: clients, requests and the poll step of the scheduler.
 *
 * Only translates values and owns userdata lifetimes; the transport is
 * src/core/http.c. No Lua code ever runs inside a curl callback: callbacks
 * fill C buffers, and Lua reads them after poll() returns. */
#include <ctype.h>
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

/* poll(timeout, out) -> n: one loop iteration; out[1..n] are the objects
 * (requests, watchers) with news. timeout < 0 or nil waits for the loop's own
 * next deadline only. */
static int l_poll(lua_State *L) {
  double timeout = luaL_optnumber(L, 1, -1);
  luaL_checktype(L, 2, LUA_TTABLE);
  keel_loop *w = keel_loop_get(L);
  if (kl_loop_run_once(&w->loop, timeout) < 0) return luaL_error(L, "keel: poll failed");
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

/* Seconds until the loop needs attention by itself, or nil. */
static int l_next_deadline(lua_State *L) {
  keel_loop *w = keel_loop_get(L);
  double d = kl_loop_next_deadline(&w->loop);
  if (d < 0) lua_pushnil(L);
  else lua_pushnumber(L, d);
  return 1;
}

/* ---- client ------------------------------------------------------------------- */

static lclient *check_client(lua_State *L, int i) {
  lclient *c = luaL_checkudata(L, i, CLIENT_MT);
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
  lclient *c = luaL_checkudata(L, 1, CLIENT_MT);
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
  lclient *c = luaL_checkudata(L, 1, CLIENT_MT);
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

static lreq *check_req(lua_State *L, int i) { return luaL_checkudata(L, i, REQ_MT); }

static lreq *check_open_req(lua_State *L, int i) {
  lreq *q = luaL_checkudata(L, i, REQ_MT);
  if (q->r.state == KL_REQ_IDLE) luaL_argerror(L, i, "request is closed");
  return q;
}

static int valid_token(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch <= 32 || ch >= 127 || strchr("\"(),/:;<=>?@[\\]{}", ch)) return 0;
  }
  return 1;
}

/* Adds one header; raises on a malformed name or a value with CR/LF (header
 * injection). Runs before any curl state exists, so raising leaks nothing
 * except the slist, which the request's __gc frees. */
static void add_header(lua_State *L, lreq *q, const char *name, size_t nl, const char *val, size_t vl) {
  if (!valid_token(name, nl)) luaL_error(L, "invalid header name '%s'", name);
  for (size_t i = 0; i < vl; i++)
    if (val[i] == '\r' || val[i] == '\n' || val[i] == '\0')
      luaL_error(L, "header '%s': value contains CR, LF or NUL", name);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, name, nl);
  /* "Name;" is curl's way to send a header with an empty value. */
  luaL_addstring(&b, vl ? ": " : ";");
  luaL_addlstring(&b, val, vl);
  luaL_pushresult(&b);
  if (kl_req_add_header(&q->r, lua_tostring(L, -1)) != 0) luaL_error(L, "out of memory");
  lua_pop(L, 1);
}

static void add_headers(lua_State *L, lreq *q, int t) {
  if (keel_getfield(L, t, "headers") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1)) luaL_error(L, "option 'headers': table expected");
  int h = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, h)) {
    if (lua_type(L, -2) == LUA_TNUMBER) {
      /* array form: "Name: value" */
      size_t n;
      const char *line = luaL_checklstring(L, -1, &n);
      const char *colon = memchr(line, ':', n);
      if (!colon) luaL_error(L, "header '%s': expected 'Name: value'", line);
      const char *v = colon + 1;
      while (*v == ' ') v++;
      add_header(L, q, line, (size_t)(colon - line), v, n - (size_t)(v - line));
    } else if (lua_type(L, -2) == LUA_TSTRING) {
      size_t nl, vl;
      const char *name = lua_tolstring(L, -2, &nl);
      int vt = lua_type(L, -1);
      if (vt == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        /* name = false removes a header curl would add */
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addlstring(&b, name, nl);
        luaL_addchar(&b, ':');
        luaL_pushresult(&b);
        if (!valid_token(name, nl)) luaL_error(L, "invalid header name '%s'", name);
        kl_req_add_header(&q->r, lua_tostring(L, -1));
        lua_pop(L, 1);
      } else {
        if (vt != LUA_TSTRING && vt != LUA_TNUMBER)
          luaL_error(L, "header '%s': string value expected, got %s", name, lua_typename(L, vt));
        lua_pushvalue(L, -1);
        const char *val = lua_tolstring(L, -1, &vl); /* copy: keep lua_next's key intact */
        add_header(L, q, name, nl, val, vl);
        lua_pop(L, 1);
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

/* client:request{ url=, method=, headers=, body=, timeouts, caps, sse= } */
static int client_request(lua_State *L) {
  lclient *c = check_client(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  kl_req_opts o;
  memset(&o, 0, sizeof o);
  o.url = keel_optstrfield(L, 2, "url", NULL);
  if (!o.url) return luaL_argerror(L, 2, "'url' is required");
  if (strncmp(o.url, "http://", 7) != 0 && strncmp(o.url, "https://", 8) != 0)
    return luaL_error(L, "url must start with http:// or https://: %s", o.url);
  o.method = keel_optstrfield(L, 2, "method", NULL);
  o.body = keel_optstrfield(L, 2, "body", &o.body_len);
  o.connect_timeout = opt_secs(L, 2, "connect_timeout", c->connect_timeout);
  o.timeout = opt_secs(L, 2, "timeout", c->timeout);
  o.idle_timeout = opt_secs(L, 2, "idle_timeout", c->idle_timeout);
  o.max_body = opt_size(L, 2, "max_body", c->max_body);
  o.max_header = opt_size(L, 2, "max_header", c->max_header);
  o.max_event = opt_size(L, 2, "max_event", c->max_event);
  o.sse = keel_optboolfield(L, 2, "sse", 0);
  o.compress = keel_optboolfield(L, 2, "compress", c->compress);
  o.follow_redirects = keel_optboolfield(L, 2, "follow_redirects", 0);
  o.cainfo = keel_optstrfield(L, 2, "cainfo", NULL);
  if (!o.cainfo) o.cainfo = c->cainfo;
  o.proxy = keel_optstrfield(L, 2, "proxy", NULL);
  if (!o.proxy) o.proxy = c->proxy;

  lreq *q = lua_newuserdatauv(L, sizeof *q, 1);
  kl_req_init(&q->r);
  q->started = 0;
  luaL_setmetatable(L, REQ_MT);
  int ud = lua_gettop(L);
  add_headers(L, q, 2); /* may raise; __gc frees the slist */

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
  lua_newtable(L);
  int t = lua_gettop(L);
  const char *p = h->data, *end = h->data + h->len;
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

/* result() -> resp | nil, err ; only once the request is done */
static int req_result(lua_State *L) {
  lreq *q = check_open_req(L, 1);
  kl_req *r = &q->r;
  if (r->state != KL_REQ_DONE) return luaL_error(L, "request is still in flight");
  if (r->kind != KL_OK) {
    lua_pushnil(L);
    keel_push_error(L, r->kind, "%s", r->message[0] ? r->message : kl_kind_name(r->kind));
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
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, r->status);
  lua_setfield(L, -2, "status");
  push_headers(L, &r->headers);
  lua_setfield(L, -2, "headers");
  if (r->mode == KL_MODE_SSE) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "sse");
    lua_pushinteger(L, (lua_Integer)r->sse.events);
    lua_setfield(L, -2, "events");
    lua_pushboolean(L, kl_sse_pending(&r->sse));
    lua_setfield(L, -2, "incomplete");
  } else {
    lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
    lua_setfield(L, -2, "body");
  }
  lua_pushnumber(L, r->http_version == 11 ? 1.1 : r->http_version == 10 ? 1.0 : (double)(r->http_version / 10));
  lua_setfield(L, -2, "http_version");
  lua_pushboolean(L, r->num_connects == 0);
  lua_setfield(L, -2, "reused");
  lua_pushnumber(L, r->time_total);
  lua_setfield(L, -2, "total_time");
  lua_pushnumber(L, r->time_starttransfer);
  lua_setfield(L, -2, "first_byte_time");
  lua_pushnumber(L, r->time_connect);
  lua_setfield(L, -2, "connect_time");
  return 1;
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

static const luaL_Reg funcs[] = {
  {"client", l_client},
  {"poll", l_poll},
  {"next_deadline", l_next_deadline},
  {NULL, NULL}};

static void new_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
}

KEEL_API int luaopen_keel_core_http(lua_State *L) {
  new_class(L, CLIENT_MT, client_meta, client_methods);
  new_class(L, REQ_MT, req_meta, req_methods);
  luaL_newlib(L, funcs);
  lua_pushstring(L, curl_version());
  lua_setfield(L, -2, "curl_version");
  return 1;
}
