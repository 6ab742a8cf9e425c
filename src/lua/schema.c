/* keel.core.schema: the C JSON Schema validator (src/core/schema.h).
 *
 *   compile(text, {dialect=, formats=, base=, docs={{uri, text}, ...}})
 *     -> schema | nil, code, message, uri
 *        code: "json" | "invalid" | "unresolved" (uri: the document wanted)
 *   s:validate(json_text [, max_errors]) -> true | false, errors
 *     errors[i] = {instance_path=, schema_path=, absolute_path=, keyword=, message=}
 *     (not JSON: false, one error with keyword "json"); errors.capped = true
 *     when more were found than max_errors (default 100; 0: verdict only)
 *   s:dialect(), s:close() (also __close, __gc; idempotent)
 * Each schema keeps its own validation memory, so one schema is used by one
 * Lua state (as every keel handle is). */
#include <string.h>

#include "common.h"
#include "../core/schema.h"
#if __has_include("../../build/gen/paths.h")
#include "../../build/gen/paths.h"
#endif
#ifndef KEEL_SHAREDIR
#define KEEL_SHAREDIR "/usr/local/share/keel"
#endif
#ifndef KEEL_BUILD_META
#define KEEL_BUILD_META "build/metaschema"
#endif

#define SCHEMA_MT "keel.schema"

typedef struct {
  kl_schema *s;
  kl_vctx *v;
} lschema;

static lschema *check_any(lua_State *L) { return luaL_checkudata(L, 1, SCHEMA_MT); }

static lschema *check_open(lua_State *L) {
  lschema *u = check_any(L);
  if (!u->s) luaL_error(L, "keel.schema: the schema is closed");
  return u;
}

static int s_close(lua_State *L) {
  lschema *u = check_any(L);
  kl_schema_free(u->s);
  kl_vctx_free(u->v);
  u->s = NULL, u->v = NULL;
  return 0;
}

static void set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static int s_validate(lua_State *L) {
  lschema *u = check_open(L);
  size_t n;
  const char *text = luaL_checklstring(L, 2, &n);
  lua_Integer max = luaL_optinteger(L, 3, 100);
  if (max < 0) max = 0;
  int r = kl_schema_validate(u->s, u->v, text, n, (size_t)max);
  if (r == -2) return luaL_error(L, "keel.schema: out of memory");
  if (r == 1) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  size_t ne = kl_vctx_nerrors(u->v);
  lua_createtable(L, (int)ne, 1);
  for (size_t i = 0; i < ne; i++) {
    const kl_verr *e = kl_vctx_error(u->v, i);
    lua_createtable(L, 0, 5);
    set_str(L, "instance_path", e->instance_path);
    set_str(L, "schema_path", e->schema_path);
    set_str(L, "absolute_path", e->absolute_path);
    set_str(L, "keyword", e->keyword);
    set_str(L, "message", e->message);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  if (kl_vctx_capped(u->v)) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "capped");
  }
  return 2;
}

static int s_dialect(lua_State *L) {
  lua_pushinteger(L, kl_schema_dialect(check_open(L)->s));
  return 1;
}

static int s_tostring(lua_State *L) {
  lschema *u = check_any(L);
  if (u->s) lua_pushfstring(L, "keel.schema (dialect %d)", kl_schema_dialect(u->s));
  else lua_pushstring(L, "keel.schema (closed)");
  return 1;
}

static int l_compile(lua_State *L) {
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  kl_schema_opts o;
  memset(&o, 0, sizeof o);
  kl_schema_doc *docs = NULL;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "dialect");
    o.dialect = (int)luaL_optinteger(L, -1, 0);
    lua_getfield(L, 2, "formats");
    o.formats = lua_toboolean(L, -1);
    lua_getfield(L, 2, "base");
    o.base_uri = lua_tostring(L, -1);
    lua_getfield(L, 2, "docs");
    if (lua_istable(L, -1)) {
      size_t nd = (size_t)lua_rawlen(L, -1);
      docs = lua_newuserdatauv(L, (nd + 1) * sizeof *docs, 0); /* freed by the GC; strings stay on the stack */
      int dt = lua_gettop(L) - 1;
      for (size_t i = 0; i < nd; i++) {
        lua_rawgeti(L, dt, (lua_Integer)i + 1);
        luaL_checktype(L, -1, LUA_TTABLE);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        docs[i].uri = luaL_checkstring(L, -2);
        docs[i].text = luaL_checklstring(L, -1, &docs[i].len);
        /* the strings live on: the docs list is still on the stack */
        lua_pop(L, 3);
      }
      o.docs = docs;
      o.ndocs = nd;
    }
  }
  /* the handle exists before the schema does, so nothing leaks if Lua
   * cannot allocate it (raising) afterwards */
  lschema *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->s = NULL, u->v = NULL;
  luaL_setmetatable(L, SCHEMA_MT);
  kl_schema_err err;
  kl_schema *s = kl_schema_compile(text, n, &o, &err);
  if (!s) {
    if (err.code == KL_SCHEMA_E_NOMEM) return luaL_error(L, "keel.schema: out of memory");
    lua_pushnil(L);
    lua_pushstring(L, err.code == KL_SCHEMA_E_JSON ? "json" : err.code == KL_SCHEMA_E_UNRESOLVED ? "unresolved" : "invalid");
    lua_pushstring(L, err.msg);
    lua_pushstring(L, err.uri);
    return 4;
  }
  u->s = s;
  if (!(u->v = kl_vctx_new())) return luaL_error(L, "keel.schema: out of memory");
  return 1;
}

KEEL_API int luaopen_keel_core_schema(lua_State *L) {
  static const luaL_Reg meta[] = { { "__gc", s_close }, { "__close", s_close }, { "__tostring", s_tostring },
                                   { NULL, NULL } };
  static const luaL_Reg methods[] = { { "validate", s_validate }, { "dialect", s_dialect }, { "close", s_close },
                                      { NULL, NULL } };
  keel_new_class(L, SCHEMA_MT, meta, methods);
  static const luaL_Reg fns[] = { { "compile", l_compile }, { NULL, NULL } };
  luaL_newlib(L, fns);
  /* where the meta-schemas are looked for: the install's, then the build tree's */
  lua_createtable(L, 2, 0);
  lua_pushstring(L, KEEL_SHAREDIR "/metaschema");
  lua_rawseti(L, -2, 1);
  lua_pushstring(L, KEEL_BUILD_META);
  lua_rawseti(L, -2, 2);
  lua_setfield(L, -2, "metaschema_dirs");
  return 1;
}
