#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* Close-after-write, not every write: a reload must not see a half-written
 * file. Renames and creates catch editors that save by replacing. */
#define KL_WATCH_MASK \
  (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF)

int kl_watch_init(kl_watch *w) {
  memset(w, 0, sizeof *w);
  w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  return w->fd < 0 ? -1 : 0;
}

void kl_watch_free(kl_watch *w) {
  if (w->fd >= 0) close(w->fd);
  for (int i = 0; i < w->n; i++) {
    free(w->entries[i].dir);
    free(w->entries[i].name);
    free(w->entries[i].path);
  }
  free(w->entries);
  memset(w, 0, sizeof *w);
  w->fd = -1;
}

int kl_watch_add(kl_watch *w, const char *path) {
  struct stat st;
  int isdir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
  char *dir, *name = NULL;
  if (isdir) {
    dir = strdup(path);
  } else {
    const char *slash = strrchr(path, '/');
    if (!slash) {
      dir = strdup(".");
      name = strdup(path);
    } else {
      dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
      name = strdup(slash + 1);
    }
    if (name && !*name) {
      free(dir);
      free(name);
      errno = EINVAL;
      return -1;
    }
  }
  char *p = strdup(path);
  if (!dir || !p || (!isdir && !name)) goto nomem;
  for (int i = 0; i < w->n; i++)
    if (strcmp(w->entries[i].path, path) == 0) { /* already watched */
      free(dir);
      free(name);
      free(p);
      return 0;
    }
  int wd = inotify_add_watch(w->fd, dir, KL_WATCH_MASK | IN_MASK_ADD);
  if (wd < 0) {
    int e = errno;
    free(dir);
    free(name);
    free(p);
    errno = e;
    return -1;
  }
  if (w->n == w->cap) {
    int n = w->cap ? w->cap * 2 : 8;
    kl_watch_entry *e = realloc(w->entries, (size_t)n * sizeof *e);
    if (!e) goto nomem;
    w->entries = e;
    w->cap = n;
  }
  w->entries[w->n++] = (kl_watch_entry){wd, dir, name, p};
  return 0;
nomem:
  free(dir);
  free(name);
  free(p);
  errno = ENOMEM;
  return -1;
}

int kl_watch_read(kl_watch *w, void (*cb)(void *ud, const char *path), void *ud) {
  /* Aligned as inotify(7) asks. */
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  int calls = 0;
  /* One flag per entry so a burst of events for one file reports it once. */
  char *hit = calloc((size_t)w->n + 1, 1);
  if (!hit) return -1;
  for (;;) {
    ssize_t len = read(w->fd, buf, sizeof buf);
    if (len <= 0) break;
    for (char *q = buf; q < buf + len;) {
      const struct inotify_event *ev = (const struct inotify_event *)q;
      q += sizeof *ev + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        /* Events were lost: anything may have changed. */
        for (int i = 0; i < w->n; i++)
          if (!hit[i]) {
            hit[i] = 1;
            cb(ud, w->entries[i].path);
            calls++;
          }
        continue;
      }
      if (ev->mask & IN_IGNORED) {
        /* The directory went away (deleted, unmounted): watch it again if
         * it is back, and report its paths as changed. */
        for (int i = 0; i < w->n; i++) {
          kl_watch_entry *e = &w->entries[i];
          if (e->wd != ev->wd) continue;
          e->wd = inotify_add_watch(w->fd, e->dir, KL_WATCH_MASK | IN_MASK_ADD);
          if (!hit[i]) {
            hit[i] = 1;
            cb(ud, e->path);
            calls++;
          }
        }
        continue;
      }
      for (int i = 0; i < w->n; i++) {
        kl_watch_entry *e = &w->entries[i];
        if (e->wd != ev->wd) continue;
        if (e->name) {
          if (ev->len && strcmp(ev->name, e->name) == 0 && !hit[i]) {
            hit[i] = 1;
            cb(ud, e->path);
            calls++;
          }
        } else if (ev->len) {
          char full[PATH_MAX];
          snprintf(full, sizeof full, "%s/%s", e->path, ev->name);
          cb(ud, full);
          calls++;
        }
      }
    }
  }
  free(hit);
  return calls;
}
