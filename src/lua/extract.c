/* keel.core.extract: the JSON value in a model's answer (src/core/jsonextract.h).
 *
 *   extract(text, lenient) -> json_text, source, start, stop, repairs, candidates, line, column
 *                           | nil, {what=, at=, line=, column=, from_line=, from_column=}
 *   source: "whole" | "fence" | "text"; start/stop: 1-based inclusive byte
 *   span in text (of the repaired region when repairs ~= 0); repairs: bits
 *   (see repair_names). Not found: what = the parser's message for the
 *   attempt that got furthest ("" when there was nothing that looked like
 *   JSON), at = its byte (1-based), from = where that attempt began.
 *   repair_names: { [bit] = name }
 * The Lua side (keel.json.extract) decodes json_text and words the errors. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../core/jsonextract.h"

#define XSTATE_MT "keel.extract.state"

typedef struct {
  kl_jd jd;
  kl_buf out;
} xstate;

static int xstate_gc(lua_State *L) {
  xstate *x = lua_touserdata(L, 1);
  kl_jd_free(&x->jd);
  kl_buf_free(&x->out);
  return 0;
}

static int l_extract(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  int lenient = lua_toboolean(L, 2);
  xstate *x = lua_newuserdatauv(L, sizeof *x, 0);
  kl_jd_init(&x->jd);
  kl_buf_init(&x->out, 2 * n + 64);
  luaL_setmetatable(L, XSTATE_MT);
  kl_jx_result r;
  int rc = kl_jx_extract(s, n, lenient, &x->jd, &x->out, &r);
  if (rc < 0) return luaL_error(L, "keel.json.extract: out of memory");
  size_t line, col;
  if (rc == 0) {
    lua_pushnil(L);
    lua_createtable(L, 0, 6);
    if (r.err) {
      char buf[64];
      lua_pushstring(L, kl_jd_what(r.err, KL_JD_MAX_DEPTH, buf, sizeof buf));
      lua_setfield(L, -2, "what");
      lua_pushinteger(L, (lua_Integer)r.err_at + 1);
      lua_setfield(L, -2, "at");
      kl_jd_line_col(s, n, r.err_at, &line, &col);
      lua_pushinteger(L, (lua_Integer)line);
      lua_setfield(L, -2, "line");
      lua_pushinteger(L, (lua_Integer)col);
      lua_setfield(L, -2, "column");
      kl_jd_line_col(s, n, r.err_from, &line, &col);
      lua_pushinteger(L, (lua_Integer)line);
      lua_setfield(L, -2, "from_line");
      lua_pushinteger(L, (lua_Integer)col);
      lua_setfield(L, -2, "from_column");
    }
    return 2;
  }
  if (r.repairs) lua_pushlstring(L, x->out.data, x->out.len);
  else lua_pushlstring(L, s + r.start, r.len);
  static const char *const SRC[] = { "whole", "fence", "text" };
  lua_pushstring(L, SRC[r.source]);
  lua_pushinteger(L, (lua_Integer)r.start + 1);
  lua_pushinteger(L, (lua_Integer)(r.start + r.len));
  lua_pushinteger(L, (lua_Integer)r.repairs);
  lua_pushinteger(L, (lua_Integer)r.candidates);
  kl_jd_line_col(s, n, r.start, &line, &col);
  lua_pushinteger(L, (lua_Integer)line);
  lua_pushinteger(L, (lua_Integer)col);
  return 8;
}

KEEL_API int luaopen_keel_core_extract(lua_State *L) {
  static const luaL_Reg meta[] = { { "__gc", xstate_gc }, { NULL, NULL } };
  static const luaL_Reg none[] = { { NULL, NULL } };
  keel_new_class(L, XSTATE_MT, meta, none);
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, l_extract);
  lua_setfield(L, -2, "extract");
  lua_createtable(L, 0, 5);
#define X(name, bit, str) (lua_pushstring(L, str), lua_rawseti(L, -2, bit));
  KL_JX_REPAIRS(X)
#undef X
  lua_setfield(L, -2, "repair_names");
  return 1;
}
