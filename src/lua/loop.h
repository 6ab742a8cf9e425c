/* The per-Lua-state event loop shared by the bindings (http, watch).
 *
 * One kl_loop lives in a userdata in the registry. Objects with work in
 * flight (requests, watchers) are anchored in a registry table so the GC
 * cannot free them while C still points at them; keel.core.http.poll reports
 * them back to the Lua scheduler when they have news. */
#ifndef KEEL_LUA_LOOP_H
#define KEEL_LUA_LOOP_H

#include "common.h"
#include "../core/http.h"

typedef struct {
  kl_loop loop;
  void **notified;   /* keys of non-request objects with news (watchers) */
  int nnotified, capnotified;
  int open;
} keel_loop;

/* The state's loop, created on first use. */
keel_loop *keel_loop_get(lua_State *L);
/* anchors[key] = value at idx (idx is not popped). */
void keel_loop_anchor(lua_State *L, const void *key, int idx);
void keel_loop_unanchor(lua_State *L, const void *key);
/* Queues an anchored object to be reported by the next poll; safe to call
 * from C callbacks (no Lua). Returns -1 when out of memory. */
int keel_loop_notify(keel_loop *w, const void *key);

#endif
