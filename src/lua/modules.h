/* The C submodules of keel.core: one binding file each, each exporting
 * luaopen_keel_core_<name>. luaopen_keel_core opens them all and also
 * registers them as package.loaded["keel.core.<name>"]. */
#ifndef KEEL_LUA_MODULES_H
#define KEEL_LUA_MODULES_H

#define KEEL_CORE_MODULES(X) \
  X(extract)                 \
  X(http)                    \
  X(json)                    \
  X(schema)                  \
  X(sse)                     \
  X(tokenizer)               \
  X(watch)                   \
  X(yaml)

#endif
