/* Shared by the keel interpreter's source files. */
#ifndef KEEL_CLI_H
#define KEEL_CLI_H

#include <lua.h>

#define KEEL_VERSION "0.1.0"

/* A Lua state with the standard libraries and every keel module built in. */
lua_State *keel_newstate(void);
/* Calls the function below narg arguments under a traceback handler with
 * SIGINT turned into a Lua error; returns the lua_pcall status. */
int keel_docall(lua_State *L, int narg, int nres);
/* Prints a failed status's message to stderr; returns status. */
int keel_report(lua_State *L, const char *progname, int status);
/* Runs a script file (NULL or "-" for stdin) with arg set from argv[first..];
 * then runs the scheduler until spawned tasks and watchers are done.
 * Returns the process exit status. */
int keel_run_script(lua_State *L, char **argv, int argc, int script_index);

/* Subcommands (each returns the process exit status). */
int keel_mock_main(int argc, char **argv);  /* keel mock ...  (mock.c) */
int keel_watch_main(int argc, char **argv); /* keel run --watch ... (runwatch.c) */

#endif
