/* keel.core.yaml: placeholder, being written. */
#include "common.h"

KEEL_API int luaopen_keel_core_yaml(lua_State *L) {
  lua_newtable(L);
  return 1;
}
