/* keel: the bundled interpreter (after Lua's lua.c).
 *
 *   keel [options] [script [args]]   run a script (like lua5.4), keel built in
 *   keel run [--watch] script [args] the same; --watch re-runs it on change
 *   keel mock [--port N] ...         local fake LLM provider
 *   keel <cmd> ...                   subcommands written in Lua (keel.cli.<cmd>)
 *
 * Everything runs under lua_pcall with a traceback handler; uncaught errors
 * print the traceback and exit 1. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "cli.h"
#include "embed.h"
#include "../lua/common.h"

static const char *progname = "keel";

/* ---- state ------------------------------------------------------------------ */

static int load_embedded(lua_State *L) {
  const keel_embedded *m = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbuffer(L, m->src, m->len, m->chunkname) != LUA_OK) return lua_error(L);
  lua_pushstring(L, m->name);
  lua_pushstring(L, m->chunkname + 1);
  lua_call(L, 2, 1);
  return 1;
}

lua_State *keel_newstate(void) {
  lua_State *L = luaL_newstate();
  if (!L) return NULL;
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_keel_core);
  lua_setfield(L, -2, "keel.core");
  for (const keel_embedded *m = keel_embedded_modules; m->name; m++) {
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 2);
  return L;
}

/* ---- calls under a traceback handler, SIGINT as a Lua error (lua.c) ------------ */

static lua_State *globalL;

static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void laction(int sig) {
  signal(sig, SIG_DFL); /* a second Ctrl-C kills */
  lua_sethook(globalL, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    /* An error object (keel.error): its __tostring, with a traceback too. */
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
    else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int keel_docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  globalL = L;
  signal(SIGINT, laction);
  int status = lua_pcall(L, narg, nres, base);
  signal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  return status;
}

int keel_report(lua_State *L, const char *prog, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s: %s\n", prog ? prog : progname, msg ? msg : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}

/* ---- running scripts --------------------------------------------------------------- */

/* arg = { [0] = script, [1..] = args, [-n..-1] = interpreter and options } */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  int narg = argc - (script + 1);
  lua_createtable(L, narg, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* After the main chunk: let spawned tasks and watchers finish, as a script
 * author expects from `keel.spawn(...)` at top level. */
static int drain_scheduler(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaded");
  lua_getfield(L, -1, "keel.sched");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 3);
    return LUA_OK;
  }
  lua_getfield(L, -1, "run");
  lua_remove(L, -2);
  lua_remove(L, -2);
  lua_remove(L, -2);
  int status = keel_docall(L, 0, 1);
  if (status != LUA_OK) return status;
  int all_done = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!all_done) {
    /* Tasks wait on each other with nothing that could wake them. */
    lua_pushliteral(L, "tasks are still waiting with nothing left to wake them (deadlock)");
    return LUA_ERRRUN;
  }
  return LUA_OK;
}

int keel_run_script(lua_State *L, char **argv, int argc, int script) {
  create_arg_table(L, argv, argc, script);
  const char *fname = argv[script];
  if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) fname = NULL;
  int status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int n = argc - (script + 1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
    status = keel_docall(L, n, 0);
  }
  if (status == LUA_OK) status = drain_scheduler(L);
  return keel_report(L, NULL, status) == LUA_OK ? 0 : 1;
}

/* ---- REPL ---------------------------------------------------------------------------- */

static int incomplete(lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    if (lmsg >= 5 && strcmp(msg + lmsg - 5, "<eof>") == 0) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

static int read_line(lua_State *L, const char *prompt) {
  char buf[4096];
  fputs(prompt, stdout);
  fflush(stdout);
  if (!fgets(buf, sizeof buf, stdin)) return 0;
  size_t l = strlen(buf);
  if (l > 0 && buf[l - 1] == '\n') buf[--l] = '\0';
  lua_pushlstring(L, buf, l);
  return 1;
}

static void repl(lua_State *L) {
  const char *saved = progname;
  progname = NULL;
  while (read_line(L, "> ")) {
    const char *line = lua_tostring(L, -1);
    /* First try it as an expression, to print its value. */
    lua_pushfstring(L, "return %s;", line);
    int status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
    lua_remove(L, -2);
    if (status == LUA_OK) {
      lua_remove(L, -2);
    } else {
      lua_pop(L, 1);
      for (;;) {
        size_t len;
        const char *code = lua_tolstring(L, -1, &len);
        status = luaL_loadbuffer(L, code, len, "=stdin");
        if (!incomplete(L, status)) break;
        if (!read_line(L, ">> ")) break;
        lua_pushliteral(L, "\n");
        lua_insert(L, -2);
        lua_concat(L, 3);
      }
      lua_remove(L, -2);
    }
    int base = lua_gettop(L);
    if (status == LUA_OK) status = keel_docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK) {
      int n = lua_gettop(L) - base + 1;
      if (n > 0) {
        lua_getglobal(L, "print");
        lua_insert(L, -(n + 1));
        if (lua_pcall(L, n, 0, 0) != LUA_OK) keel_report(L, "keel", LUA_ERRRUN);
      }
    } else {
      keel_report(L, "keel", status);
    }
    lua_settop(L, 0);
  }
  fputs("\n", stdout);
  progname = saved;
}

/* ---- options ------------------------------------------------------------------------------ */

static void print_version(void) {
  printf("keel %s (%s, %s)\n", KEEL_VERSION, LUA_RELEASE, curl_version());
}

static void usage(void) {
  fprintf(stderr,
          "usage: keel [options] [script [args]]\n"
          "       keel run [--watch] script [args]\n"
          "       keel mock [--port N] [--scenario FILE] [--exit-with-parent] [--quiet]\n"
          "       keel chat [options] [prompt]      (keel chat --help)\n"
          "       keel tokens count|encode|decode [--encoding E | --model M] [FILE|-]\n"
          "       keel schema validate [options] SCHEMA.json [INSTANCE.json|-]   (keel schema --help)\n"
          "Options:\n"
          "  -e stat   execute string 'stat'\n"
          "  -l mod    require 'mod' into global 'mod'\n"
          "  -i        enter interactive mode after running script\n"
          "  -v        show version information\n"
          "  --        stop handling options\n"
          "  -         execute stdin and stop handling options\n");
}

static int dostring(lua_State *L, const char *s, const char *name) {
  int status = luaL_loadbuffer(L, s, strlen(s), name);
  if (status == LUA_OK) status = keel_docall(L, 0, 0);
  return keel_report(L, NULL, status);
}

static int dolibrary(lua_State *L, const char *name) {
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  int status = keel_docall(L, 1, 1);
  if (status == LUA_OK) {
    const char *dot = strrchr(name, '.');
    lua_setglobal(L, dot ? dot + 1 : name);
  }
  return keel_report(L, NULL, status);
}

/* A Lua subcommand is a module keel.cli.<name> taking the argument list. */
static int lua_subcommand(int argc, char **argv) {
  lua_State *L = keel_newstate();
  if (!L) return 1;
  char mod[128];
  snprintf(mod, sizeof mod, "keel.cli.%s", argv[1]);
  lua_getglobal(L, "require");
  lua_pushstring(L, mod);
  int status = keel_docall(L, 1, 1);
  int rc = 1;
  if (status == LUA_OK) {
    lua_createtable(L, argc, 0);
    for (int i = 2; i < argc; i++) {
      lua_pushstring(L, argv[i]);
      lua_rawseti(L, -2, i - 1);
    }
    status = keel_docall(L, 1, 1);
    if (status == LUA_OK) {
      rc = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
      lua_pop(L, 1);
      if (drain_scheduler(L) != LUA_OK) rc = 1;
    }
  }
  if (status != LUA_OK) keel_report(L, NULL, status);
  lua_close(L);
  return rc;
}

static int has_lua_subcommand(const char *name) {
  char mod[128];
  snprintf(mod, sizeof mod, "keel.cli.%s", name);
  for (const keel_embedded *m = keel_embedded_modules; m->name; m++)
    if (strcmp(m->name, mod) == 0) return 1;
  return 0;
}

static int is_word(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || *s == '-')) return 0;
  return 1;
}

int main(int argc, char **argv) {
  /* Lua's collector frees memory in bursts; with glibc's default 128 KiB
   * trim threshold each burst hands the top of the heap back to the kernel
   * and the next requests fault it in again (measured: one page fault per
   * request at 64 in flight, a third of the CPU time in a VM). Setting the
   * trim threshold also switches off glibc's sliding mmap threshold, so
   * every block of 128 KiB or more became a fresh mmap, faulted in and
   * unmapped on free (a Lua table of 500k token ids is 8 MB: 27 of the 49
   * ms keel took to encode 2 MB). So blocks up to 32 MiB come from the heap
   * and up to 32 MiB of free heap is kept, which costs no RSS that was not
   * already in use. The interpreter owns its process; core.so, loaded into
   * other hosts, leaves their allocator alone (README: Performance). */
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  if (argc >= 2 && is_word(argv[1])) {
    if (strcmp(argv[1], "mock") == 0) return keel_mock_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "help") == 0) {
      usage();
      return 0;
    }
    if (strcmp(argv[1], "version") == 0) {
      print_version();
      return 0;
    }
    if (strcmp(argv[1], "run") == 0) {
      if (argc >= 3 && strcmp(argv[2], "--watch") == 0) return keel_watch_main(argc - 2, argv + 2);
      /* plain `keel run script args` is `keel script args` */
      argv[1] = argv[0];
      argv++;
      argc--;
    } else if (has_lua_subcommand(argv[1])) {
      return lua_subcommand(argc, argv);
    }
  }

  int has_i = 0, has_v = 0, has_e = 0, script = 0;
  int i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') break;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "-") == 0) break;
    if (strcmp(a, "-i") == 0) has_i = has_v = 1;
    else if (strcmp(a, "-v") == 0) has_v = 1;
    else if (strcmp(a, "-e") == 0 || strcmp(a, "-l") == 0) {
      if (a[1] == 'e') has_e = 1;
      if (++i >= argc) {
        fprintf(stderr, "keel: '%s' needs argument\n", a);
        usage();
        return 1;
      }
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage();
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      has_v = 1;
    } else {
      fprintf(stderr, "keel: unrecognized option '%s'\n", a);
      usage();
      return 1;
    }
  }
  if (i < argc) script = i;

  lua_State *L = keel_newstate();
  if (!L) {
    fprintf(stderr, "keel: cannot create state: not enough memory\n");
    return 1;
  }
  if (has_v) print_version();
  /* arg exists for -e/-l too, as in lua.c */
  create_arg_table(L, argv, argc, script ? script : 0);
  int rc = 0;
  for (int j = 1; j < (script ? script : argc) && rc == 0; j++) {
    if (strcmp(argv[j], "-e") == 0) rc = dostring(L, argv[++j], "=(command line)") != LUA_OK;
    else if (strcmp(argv[j], "-l") == 0) rc = dolibrary(L, argv[++j]) != LUA_OK;
  }
  if (rc == 0 && script) rc = keel_run_script(L, argv, argc, script);
  else if (rc == 0 && has_e && drain_scheduler(L) != LUA_OK) rc = keel_report(L, NULL, LUA_ERRRUN) != 0;
  if (rc == 0 && has_i) repl(L);
  else if (rc == 0 && !script && !has_e && !has_v) {
    if (isatty(0)) {
      print_version();
      repl(L);
    } else {
      char dash[] = "-";
      char *args[] = {argv[0], dash, NULL};
      rc = keel_run_script(L, args, 2, 1);
    }
  }
  lua_close(L);
  return rc;
}
