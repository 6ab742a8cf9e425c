/* keel.core.watch: file watchers on the state's loop. The inotify fd is
 * polled with the transfers; when it is readable the loop's callback reads
 * the changes into the watcher and queues it for keel.core.http.poll. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "../core/watch.h"

#define WATCH_MT "keel.watch"

typedef struct {
  kl_watch w;
  keel_loop *loop;
  kl_buf changed; /* NUL-separated changed paths not yet read by Lua */
  int open;
} lwatch;

static lwatch *check_watch(lua_State *L, int i) {
  lwatch *w = keel_check_self(L, i, WATCH_MT);
  if (!w->open) luaL_argerror(L, i, "watcher is closed");
  return w;
}

static void on_change(void *ud, const char *path) {
  lwatch *w = ud;
  /* Over the cap the oldest news is kept and later paths dropped: the
   * watcher still fires, and a reload rereads everything anyway. */
  if (kl_buf_add(&w->changed, path, strlen(path) + 1) != 0) return;
}

static void on_fd(void *ud, int fd, short revents) {
  (void)fd;
  (void)revents;
  lwatch *w = ud;
  if (kl_watch_read(&w->w, on_change, w) > 0 || w->changed.len > 0) keel_loop_notify(w->loop, w);
}

static int watch_close(lua_State *L) {
  lwatch *w = keel_check_self(L, 1, WATCH_MT);
  if (w->open) {
    w->open = 0;
    if (w->loop->open) kl_loop_del_fd(&w->loop->loop, w->w.fd);
    kl_watch_free(&w->w);
    kl_buf_free(&w->changed);
    keel_loop_unanchor(L, w);
  }
  return 0;
}

/* new() -> watcher */
static int l_new(lua_State *L) {
  keel_loop *loop = keel_loop_get(L);
  lwatch *w = lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  w->w.fd = -1;
  kl_buf_init(&w->changed, 1 << 20);
  luaL_setmetatable(L, WATCH_MT);
  if (kl_watch_init(&w->w) != 0) return luaL_fileresult(L, 0, "inotify");
  w->loop = loop;
  w->open = 1;
  if (kl_loop_add_fd(&loop->loop, w->w.fd, on_fd, w) != 0) {
    kl_watch_free(&w->w);
    w->open = 0;
    return luaL_error(L, "out of memory");
  }
  keel_loop_anchor(L, w, -1);
  return 1;
}

/* w:add(path) -> true | nil, msg, errno */
static int watch_add(lua_State *L) {
  lwatch *w = check_watch(L, 1);
  const char *path = luaL_checkstring(L, 2);
  if (kl_watch_add(&w->w, path) != 0) return luaL_fileresult(L, 0, path);
  lua_pushboolean(L, 1);
  return 1;
}

/* w:read() -> array of changed paths since the last read */
static int watch_read(lua_State *L) {
  lwatch *w = check_watch(L, 1);
  lua_newtable(L);
  int n = 0;
  for (size_t off = 0; off < w->changed.len;) {
    const char *p = w->changed.data + off;
    size_t len = strlen(p);
    lua_pushlstring(L, p, len);
    lua_rawseti(L, -2, ++n);
    off += len + 1;
  }
  kl_buf_reset(&w->changed);
  return 1;
}

static int watch_fd(lua_State *L) {
  lwatch *w = check_watch(L, 1);
  lua_pushinteger(L, w->w.fd);
  return 1;
}

static int watch_tostring(lua_State *L) {
  lwatch *w = keel_check_self(L, 1, WATCH_MT);
  if (w->open) lua_pushfstring(L, "keel.watch (%d paths)", w->w.n);
  else lua_pushliteral(L, "keel.watch (closed)");
  return 1;
}

static const luaL_Reg methods[] = {
  {"add", watch_add},
  {"read", watch_read},
  {"fd", watch_fd},
  {"close", watch_close},
  {NULL, NULL}};

static const luaL_Reg meta[] = {
  {"__gc", watch_close},
  {"__close", watch_close},
  {"__tostring", watch_tostring},
  {NULL, NULL}};

static const luaL_Reg funcs[] = {{"new", l_new}, {NULL, NULL}};

KEEL_API int luaopen_keel_core_watch(lua_State *L) {
  keel_new_class(L, WATCH_MT, meta, methods);
  luaL_newlib(L, funcs);
  return 1;
}
