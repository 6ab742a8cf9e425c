/* bench/tokenizer: does a vocabulary loaded by one Lua state cost the next
 * states in the same process anything? keel.spawn runs coroutines in one
 * state, so this makes the states itself: plain Lua 5.4 (liblua5.4) loading
 * keel.core from build/5.4 through LUA_PATH / LUA_CPATH.
 *   states ENC N  ->  "first_kb first_ms state_kb get_kb get_ms"
 *   first_kb/ms  VmRSS added and wall ms of tokenizer.get(ENC) plus one count
 *                in the first state (keel.tokenizer already required)
 *   state_kb     VmRSS added per extra state by luaL_newstate + openlibs +
 *                require "keel.tokenizer" (the cost of a state, not of ENC)
 *   get_kb/ms    VmRSS added per extra state by get(ENC) plus one count, and
 *                the median wall ms of that, once ENC is loaded elsewhere */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void run(lua_State *L, const char *code) {
  if (luaL_dostring(L, code) != LUA_OK) {
    fprintf(stderr, "states: %s\n", lua_tostring(L, -1));
    exit(1);
  }
}

static lua_State *state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  run(L, "require 'keel.tokenizer'");
  return L;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: states ENC N\n");
    return 2;
  }
  int n = atoi(argv[2]);
  if (n < 1 || n > 1000) return 2;
  char get[256];
  snprintf(get, sizeof get, "assert(require('keel.tokenizer').get('%s'):count('hello world') > 0)", argv[1]);

  lua_State *main_L = state();
  lua_gc(main_L, LUA_GCCOLLECT, 0);
  long r0 = rss_kb();
  double t0 = now_ms();
  run(main_L, get);
  double first_ms = now_ms() - t0;
  long r1 = rss_kb();

  lua_State **Ls = calloc((size_t)n, sizeof *Ls);
  double *ms = calloc((size_t)n, sizeof *ms);
  for (int i = 0; i < n; i++) Ls[i] = state();
  long r2 = rss_kb();
  for (int i = 0; i < n; i++) {
    double t = now_ms();
    run(Ls[i], get);
    ms[i] = now_ms() - t;
  }
  long r3 = rss_kb();
  qsort(ms, (size_t)n, sizeof *ms, cmp);
  printf("%ld %.3f %.1f %.1f %.4f\n", r1 - r0, first_ms, (double)(r2 - r1) / n, (double)(r3 - r2) / n,
         n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2);
  for (int i = 0; i < n; i++) lua_close(Ls[i]);
  lua_close(main_L);
  free(Ls);
  free(ms);
  return 0;
}
