/* keel.core.json: placeholder, being written. */
#include "common.h"

KEEL_API int luaopen_keel_core_json(lua_State *L) {
  lua_newtable(L);
  return 1;
}
