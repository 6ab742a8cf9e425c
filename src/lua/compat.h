/* Lua 5.4 API on top of Lua 5.1 / LuaJIT 2.1.
 *
 * The bindings are written against 5.4; this header maps the handful of calls
 * they use down to what LuaJIT offers, so the same sources build core.so for
 * OpenResty and Neovim. Keep it small: add a mapping only when a binding needs
 * it. */
#ifndef KEEL_LUA_COMPAT_H
#define KEEL_LUA_COMPAT_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#if LUA_VERSION_NUM < 502
/* LuaJIT 2.1 already has luaL_setfuncs, luaL_testudata, luaL_setmetatable,
 * luaL_traceback, luaL_fileresult and luaL_newlib. */
#define LUA_OK 0
#define lua_absindex(L, i) \
  ((i) > 0 || (i) <= LUA_REGISTRYINDEX ? (i) : lua_gettop(L) + (i) + 1)
#define lua_rawlen(L, i) lua_objlen((L), (i))

/* A full userdata's environment table stands in for 5.4's user values; the
 * bindings only ever store tables there. */
static inline void *keel_newuserdatauv(lua_State *L, size_t sz, int nuv) {
  (void)nuv;
  return lua_newuserdata(L, sz);
}
#define lua_newuserdatauv(L, sz, nuv) keel_newuserdatauv((L), (sz), (nuv))

static inline int keel_getiuservalue(lua_State *L, int idx, int n) {
  (void)n;
  lua_getfenv(L, idx);
  return lua_type(L, -1);
}
#define lua_getiuservalue(L, idx, n) keel_getiuservalue((L), (idx), (n))

static inline int keel_setiuservalue(lua_State *L, int idx, int n) {
  (void)n;
  return lua_setfenv(L, idx);
}
#define lua_setiuservalue(L, idx, n) keel_setiuservalue((L), (idx), (n))

static inline int keel_rawgetp(lua_State *L, int idx, const void *p) {
  idx = lua_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)p);
  lua_rawget(L, idx);
  return lua_type(L, -1);
}
#define lua_rawgetp(L, idx, p) keel_rawgetp((L), (idx), (p))

static inline void keel_rawsetp(lua_State *L, int idx, const void *p) {
  idx = lua_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)p);
  lua_insert(L, -2);
  lua_rawset(L, idx);
}
#define lua_rawsetp(L, idx, p) keel_rawsetp((L), (idx), (p))

static inline int keel_rawgeti_t(lua_State *L, int idx, lua_Integer n) {
  lua_rawgeti(L, idx, (int)n);
  return lua_type(L, -1);
}

static inline int keel_getfield_t(lua_State *L, int idx, const char *k) {
  lua_getfield(L, idx, k);
  return lua_type(L, -1);
}

#define lua_pushfail(L) lua_pushnil(L)
#define luaL_pushfail(L) lua_pushnil(L)

#else /* 5.2+ */

static inline int keel_rawgeti_t(lua_State *L, int idx, lua_Integer n) {
  return lua_rawgeti(L, idx, n);
}
static inline int keel_getfield_t(lua_State *L, int idx, const char *k) {
  return lua_getfield(L, idx, k);
}
#if LUA_VERSION_NUM < 504
#define lua_newuserdatauv(L, sz, nuv) lua_newuserdata((L), (sz))
#define lua_getiuservalue(L, idx, n) lua_getuservalue((L), (idx))
#define lua_setiuservalue(L, idx, n) (lua_setuservalue((L), (idx)), 1)
#define luaL_pushfail(L) lua_pushnil(L)
#endif

#endif

/* Typed-return helpers usable on every version: the 5.1 API returns void
 * from lua_getfield/lua_rawgeti. */
#define keel_getfield(L, idx, k) keel_getfield_t((L), (idx), (k))
#define keel_rawgeti(L, idx, n) keel_rawgeti_t((L), (idx), (n))

#endif
