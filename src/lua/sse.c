/* keel.core.sse: the SSE parser (src/core/sse.c) as a Lua handle.
 *
 *   local p = sse.parser{max_event = 1048576}
 *   local events, err = p:feed(chunk)  -- {{event=, data=, id=?, retry=?}, ...}
 *   p:pending()  p:reset()  p:close()
 *
 * The parser state lives inside the userdata, so its buffers are always owned
 * by a Lua value: if building the result raises (out of memory), __gc still
 * frees them. */
#include <string.h>

#include "common.h"
#include "../core/sse.h"

#define SSE_MT "keel.sse.parser"
#define SSE_DEFAULT_MAX_EVENT ((lua_Integer)1 << 20)

typedef struct {
  kl_sse p;
  int open;   /* kl_sse_init has run and close has not */
  int failed; /* a feed hit the cap: feeds fail until reset */
  int busy;   /* inside kl_sse_feed; still set afterwards only if it raised */
} sse_handle;

static sse_handle *check_handle(lua_State *L) {
  sse_handle *h = keel_check_self(L, 1, SSE_MT);
  if (!h->open) luaL_error(L, "attempt to use a closed keel.sse.parser");
  return h;
}

typedef struct {
  lua_State *L;
  lua_Integer n;
} feed_ctx;

/* Appends one event table to the array on top of the stack. */
static int push_event(void *ud, const kl_sse_event *ev) {
  feed_ctx *c = ud;
  lua_State *L = c->L;
  lua_createtable(L, 0, 4);
  lua_pushlstring(L, ev->type, ev->type_len);
  lua_setfield(L, -2, "event");
  lua_pushlstring(L, ev->data, ev->data_len);
  lua_setfield(L, -2, "data");
  if (ev->id_len) {
    lua_pushlstring(L, ev->id, ev->id_len);
    lua_setfield(L, -2, "id");
  }
  if (ev->retry >= 0) {
    lua_pushinteger(L, (lua_Integer)ev->retry);
    lua_setfield(L, -2, "retry");
  }
  lua_rawseti(L, -2, ++c->n);
  return 0;
}

static int too_large(lua_State *L, const sse_handle *h) {
  return keel_fail(L, KL_E_too_large, "SSE event or line exceeds max_event (%zu bytes)",
                   h->p.max_event);
}

/* p:feed(chunk) -> events | nil, err, events_before_the_error */
static int l_feed(lua_State *L) {
  sse_handle *h = check_handle(L);
  luaL_checktype(L, 2, LUA_TSTRING);
  size_t len;
  const char *chunk = lua_tolstring(L, 2, &len);
  if (h->busy)
    return luaL_error(L, "keel.sse.parser: an earlier feed raised midway; call reset()");
  if (h->failed) return too_large(L, h);

  lua_settop(L, 2);
  lua_newtable(L);
  feed_ctx c = {L, 0};
  h->busy = 1;
  int rc = kl_sse_feed(&h->p, chunk, len, push_event, &c);
  h->busy = 0;
  switch (rc) {
  case KL_SSE_OK:
    return 1;
  case KL_SSE_TOO_LARGE:
    h->failed = 1;
    too_large(L, h);
    lua_pushvalue(L, 3); /* the events dispatched before the error */
    return 3;
  default:
    /* NOMEM (push_event never aborts): the parser state is half-updated. */
    h->busy = 1;
    return luaL_error(L, "keel.sse.parser: out of memory");
  }
}

static int l_pending(lua_State *L) {
  sse_handle *h = check_handle(L);
  lua_pushboolean(L, kl_sse_pending(&h->p));
  return 1;
}

static int l_reset(lua_State *L) {
  sse_handle *h = check_handle(L);
  kl_sse_reset(&h->p);
  h->failed = 0;
  h->busy = 0;
  return 0;
}

/* close, __gc and __close: idempotent. */
static int l_close(lua_State *L) {
  sse_handle *h = keel_check_self(L, 1, SSE_MT);
  if (h->open) {
    h->open = 0;
    kl_sse_free(&h->p);
  }
  return 0;
}

static int l_tostring(lua_State *L) {
  sse_handle *h = keel_check_self(L, 1, SSE_MT);
  if (h->open)
    lua_pushfstring(L, "keel.sse.parser (%p)", (void *)h);
  else
    lua_pushliteral(L, "keel.sse.parser (closed)");
  return 1;
}

/* sse.parser{max_event = bytes} */
static int l_parser(lua_State *L) {
  lua_Integer max = SSE_DEFAULT_MAX_EVENT;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    max = keel_optintfield(L, 1, "max_event", SSE_DEFAULT_MAX_EVENT);
    luaL_argcheck(L, max >= 1, 1, "max_event must be a positive integer");
  }
  sse_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
  /* Closed until initialised, so a __gc at any point is safe. */
  memset(h, 0, sizeof *h);
  luaL_setmetatable(L, SSE_MT);
  kl_sse_init(&h->p, (size_t)max); /* allocates nothing yet */
  h->open = 1;
  return 1;
}

static const luaL_Reg methods[] = {
  {"feed", l_feed},
  {"pending", l_pending},
  {"reset", l_reset},
  {"close", l_close},
  {NULL, NULL}
};

static const luaL_Reg metamethods[] = {
  {"__gc", l_close},
  {"__close", l_close},
  {"__tostring", l_tostring},
  {NULL, NULL}
};

static const luaL_Reg functions[] = {
  {"parser", l_parser},
  {NULL, NULL}
};

KEEL_API int luaopen_keel_core_sse(lua_State *L) {
  keel_new_class(L, SSE_MT, metamethods, methods);
  luaL_newlib(L, functions);
  return 1;
}
