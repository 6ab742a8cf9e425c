/* Helpers shared by the binding files. */
#ifndef KEEL_LUA_COMMON_H
#define KEEL_LUA_COMMON_H

#include "compat.h"
#include "../core/kerr.h"

#define KEEL_API __attribute__((visibility("default")))

/* Registry name of the keel.error metatable. */
#define KEEL_ERROR_MT "keel.error"

/* Pushes a keel.error value {kind=, message=}; returns its stack index. */
int keel_push_error(lua_State *L, kl_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The usual runtime-failure return: nil, keel.error. Returns 2. */
int keel_fail(lua_State *L, kl_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Registers a class: a metatable named tname holding the metamethods in
 * meta, methods under __index, and __name. Every function gets the metatable
 * as upvalue 1, which keel_check_self compares against. */
void keel_new_class(lua_State *L, const char *tname, const luaL_Reg *meta, const luaL_Reg *methods);
/* The userdata at i if its metatable is upvalue 1 of the running C function
 * (one registered by keel_new_class); raises like luaL_checkudata otherwise.
 * Much cheaper than luaL_checkudata's lookup of the metatable by name, on
 * paths taken several times per request. */
void *keel_check_self(lua_State *L, int i, const char *tname);

/* Optional typed fields of an options table at index t. */
double keel_optnumfield(lua_State *L, int t, const char *k, double def);
lua_Integer keel_optintfield(lua_State *L, int t, const char *k, lua_Integer def);
int keel_optboolfield(lua_State *L, int t, const char *k, int def);
/* Returns NULL when absent; the string stays on the stack's field slot only
 * until the next pop, so callers copy it if they keep it. */
const char *keel_optstrfield(lua_State *L, int t, const char *k, size_t *len);

#define X(name) KEEL_API int luaopen_keel_core_##name(lua_State *L);
#include "modules.h"
KEEL_CORE_MODULES(X)
#undef X
KEEL_API int luaopen_keel_core(lua_State *L);

#endif
