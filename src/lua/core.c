/* keel.core: the C side of keel, one table holding every binding module,
 * plus the things they share: the error kinds, the keel.error metatable and
 * the monotonic clock. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "common.h"
#include "modules.h"
#include "../core/clock.h"

int keel_push_error(lua_State *L, kl_kind kind, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, kl_kind_name(kind));
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  luaL_setmetatable(L, KEEL_ERROR_MT);
  return lua_gettop(L);
}

int keel_fail(lua_State *L, kl_kind kind, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lua_pushnil(L);
  keel_push_error(L, kind, "%s", msg);
  return 2;
}

double keel_optnumfield(lua_State *L, int t, const char *k, double def) {
  double v = def;
  int ty = keel_getfield(L, t, k);
  if (ty != LUA_TNIL) {
    if (ty != LUA_TNUMBER) luaL_error(L, "option '%s': number expected, got %s", k, lua_typename(L, ty));
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

lua_Integer keel_optintfield(lua_State *L, int t, const char *k, lua_Integer def) {
  lua_Integer v = def;
  int ty = keel_getfield(L, t, k);
  if (ty != LUA_TNIL) {
    if (ty != LUA_TNUMBER) luaL_error(L, "option '%s': integer expected, got %s", k, lua_typename(L, ty));
    double d = lua_tonumber(L, -1);
    /* Range first: converting an out-of-range double is undefined. */
    if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != floor(d))
      luaL_error(L, "option '%s': integer expected, got %s", k, lua_tostring(L, -1));
    v = (lua_Integer)d;
  }
  lua_pop(L, 1);
  return v;
}

int keel_optboolfield(lua_State *L, int t, const char *k, int def) {
  int v = def;
  int ty = keel_getfield(L, t, k);
  if (ty != LUA_TNIL) {
    if (ty != LUA_TBOOLEAN) luaL_error(L, "option '%s': boolean expected, got %s", k, lua_typename(L, ty));
    v = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

const char *keel_optstrfield(lua_State *L, int t, const char *k, size_t *len) {
  int ty = keel_getfield(L, t, k);
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    if (len) *len = 0;
    return NULL;
  }
  if (ty != LUA_TSTRING) luaL_error(L, "option '%s': string expected, got %s", k, lua_typename(L, ty));
  const char *s = lua_tolstring(L, -1, len);
  lua_pop(L, 1); /* still referenced by the options table, so s stays valid */
  return s;
}

void keel_new_class(lua_State *L, const char *tname, const luaL_Reg *meta, const luaL_Reg *methods) {
  luaL_newmetatable(L, tname);
  lua_pushvalue(L, -1);
  luaL_setfuncs(L, meta, 1);
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, methods, 1);
  lua_setfield(L, -2, "__index");
  lua_pushstring(L, tname);
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
}

void *keel_check_self(lua_State *L, int i, const char *tname) {
  void *p = lua_touserdata(L, i);
  if (p && lua_getmetatable(L, i)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
    if (same) return p;
  }
  return luaL_checkudata(L, i, tname); /* raises the usual message */
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, kl_now());
  return 1;
}

static int error_tostring(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "message");
  const char *kind = lua_tostring(L, -2);
  const char *msg = lua_tostring(L, -1);
  lua_pushfstring(L, "%s: %s", kind ? kind : "error", msg ? msg : "(no message)");
  return 1;
}

KEEL_API int luaopen_keel_core(lua_State *L) {
  if (luaL_newmetatable(L, KEEL_ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, "keel.error");
    lua_setfield(L, -2, "__name");
  }
  lua_newtable(L);
  lua_insert(L, -2);
  lua_setfield(L, -2, "error_meta");

  lua_createtable(L, KL_E__COUNT, 0);
  for (int k = 1; k < KL_E__COUNT; k++) {
    lua_pushstring(L, kl_kind_name((kl_kind)k));
    lua_rawseti(L, -2, k);
  }
  lua_setfield(L, -2, "error_kinds");

  lua_pushcfunction(L, l_now);
  lua_setfield(L, -2, "now");

  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaded");
  lua_remove(L, -2);
#define X(name)                                     \
  lua_pushcfunction(L, luaopen_keel_core_##name);   \
  lua_call(L, 0, 1);                                \
  lua_pushvalue(L, -1);                             \
  lua_setfield(L, -3, "keel.core." #name);          \
  lua_setfield(L, -3, #name);
  KEEL_CORE_MODULES(X)
#undef X
  lua_pop(L, 1);
  return 1;
}
