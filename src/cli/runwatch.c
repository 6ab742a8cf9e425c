/* keel run --watch script [args]: run the script in a child process and
 * re-run it when the script or any project Lua file it loaded changes.
 *
 * A child process (not a fresh Lua state in-process) because a script may
 * loop forever, hold sockets, or crash; killing and restarting a process is
 * the only reload that always works. The child reports each Lua file it
 * loads (require, dofile, loadfile) through a pipe; the parent watches the
 * ones inside the project (the current directory or the script's). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "cli.h"
#include "../core/clock.h"
#include "../core/watch.h"

static volatile sig_atomic_t stop_sig;
static void on_stop(int sig) { stop_sig = sig; }

static int report_fd = -1;

static int l_report(lua_State *L) {
  size_t n;
  const char *p = luaL_checklstring(L, 1, &n);
  if (report_fd >= 0 && n < PATH_MAX) {
    char line[PATH_MAX + 1];
    memcpy(line, p, n);
    line[n] = '\n';
    if (write(report_fd, line, n + 1) < 0) report_fd = -1;
  }
  return 0;
}

static const char hook_src[] =
  "local report = ...\n"
  "local searchers = package.searchers or package.loaders\n"
  "local lua_searcher = searchers[2]\n"
  "searchers[2] = function(name, ...)\n"
  "  local loader, path = lua_searcher(name, ...)\n"
  "  if type(loader) == 'function' and type(path) == 'string' then report(path) end\n"
  "  return loader, path\n"
  "end\n"
  "local dofile0, loadfile0 = dofile, loadfile\n"
  "function dofile(f, ...) if type(f) == 'string' then report(f) end return dofile0(f, ...) end\n"
  "function loadfile(f, ...) if type(f) == 'string' then report(f) end return loadfile0(f, ...) end\n";

static int child_main(int fd, int argc, char **argv) {
  report_fd = fd;
  lua_State *L = keel_newstate();
  if (!L) return 1;
  if (luaL_loadbuffer(L, hook_src, sizeof hook_src - 1, "=keel-watch") != LUA_OK) return 1;
  lua_pushcfunction(L, l_report);
  lua_call(L, 1, 0);
  int rc = keel_run_script(L, argv, argc, 1);
  lua_close(L);
  return rc;
}

static int under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  return strncmp(path, dir, n) == 0 && (path[n] == '/' || (n == 1 && dir[0] == '/'));
}

static void msg(const char *fmt, const char *a, long b) {
  fprintf(stderr, "[keel] ");
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  fflush(stderr);
}

/* The child leads its own process group, so what the script started (a
 * `keel mock` through io.popen, say) goes with it on every restart. */
static void kill_child(pid_t pid) {
  kill(-pid, SIGTERM);
  double until = kl_now() + 2.0;
  while (kl_now() < until) {
    if (waitpid(pid, NULL, WNOHANG) == pid) {
      kill(-pid, SIGTERM); /* stragglers of the group */
      return;
    }
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  kill(-pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

static void on_changed(void *ud, const char *path) {
  const char **first = ud;
  if (!*first) *first = strdup(path);
}

int keel_watch_main(int argc, char **argv) {
  /* argv[0] is "--watch", argv[1] the script */
  if (argc < 2) {
    fprintf(stderr, "usage: keel run --watch script.lua [args]\n");
    return 2;
  }
  char cwd[PATH_MAX], sdir[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return 1;
  if (!realpath(argv[1], sdir)) {
    fprintf(stderr, "keel: cannot open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  char *slash = strrchr(sdir, '/');
  if (slash && slash != sdir) *slash = '\0';

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  for (;;) {
    int pfd[2];
    kl_watch w;
    if (kl_watch_init(&w) != 0) {
      perror("keel: inotify");
      return 1;
    }
    /* Close-on-exec: programs the script runs must not hold the pipe. */
    if (pipe2(pfd, O_CLOEXEC) != 0) {
      kl_watch_free(&w);
      return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
      kl_watch_free(&w);
      close(pfd[0]);
      close(pfd[1]);
      return 1;
    }
    if (pid == 0) {
      setpgid(0, 0);
      close(pfd[0]);
      kl_watch_free(&w);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      int rc = child_main(pfd[1], argc, argv);
      fflush(NULL); /* _exit skips stdio: keep the script's last output */
      _exit(rc);
    }
    setpgid(pid, pid); /* also here: no race with the child's own call */
    close(pfd[1]);

    kl_watch_add(&w, argv[1]);
    char buf[PATH_MAX * 2];
    size_t blen = 0;
    int running = 1, pipe_open = 1;
    const char *changed = NULL;
    while (!changed && !stop_sig) {
      struct pollfd fds[2] = {{w.fd, POLLIN, 0}, {pipe_open ? pfd[0] : -1, POLLIN, 0}};
      int n = poll(fds, 2, running ? 100 : 500);
      if (n > 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
        ssize_t r = read(pfd[0], buf + blen, sizeof buf - blen - 1);
        if (r <= 0) {
          pipe_open = 0;
        } else {
          blen += (size_t)r;
          char *start = buf, *nl;
          while ((nl = memchr(start, '\n', blen - (size_t)(start - buf)))) {
            *nl = '\0';
            char real[PATH_MAX];
            if (realpath(start, real) && (under(real, cwd) || under(real, sdir))) kl_watch_add(&w, start);
            start = nl + 1;
          }
          blen -= (size_t)(start - buf);
          memmove(buf, start, blen);
          if (blen >= sizeof buf - 1) blen = 0; /* a path longer than PATH_MAX: drop */
        }
      }
      if (n > 0 && (fds[0].revents & POLLIN)) {
        /* Let the editor finish its write-rename burst, then read it all. */
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        kl_watch_read(&w, on_changed, &changed);
      }
      int status;
      if (running && waitpid(pid, &status, WNOHANG) == pid) {
        running = 0;
        long code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        msg("%s exited with status %ld; watching for changes (Ctrl-C to quit)", argv[1], code);
      }
    }
    if (running) kill_child(pid);
    close(pfd[0]);
    kl_watch_free(&w);
    if (stop_sig) {
      free((void *)changed);
      return 128 + stop_sig;
    }
    msg("%s changed; restarting%.0ld", changed, 0);
    free((void *)changed);
  }
}
