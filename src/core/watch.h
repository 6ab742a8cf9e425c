/* File change notification over inotify (Linux).
 *
 * A watched file is watched through its directory, filtered by name: editors
 * save by writing a new file and renaming it over the old one, which a watch
 * on the file's own inode would miss. A watched directory reports changes to
 * any entry directly inside it (not recursive). No Lua. */
#ifndef KEEL_WATCH_H
#define KEEL_WATCH_H

#include <stddef.h>

typedef struct {
  int wd;          /* inotify watch descriptor of the directory */
  char *dir;       /* directory as given ("." for a bare file name) */
  char *name;      /* file name inside dir, or NULL: the whole directory */
  char *path;      /* the path as the caller gave it */
} kl_watch_entry;

typedef struct {
  int fd;
  kl_watch_entry *entries;
  int n, cap;
} kl_watch;

/* 0, or -1 with errno set. */
int kl_watch_init(kl_watch *w);
void kl_watch_free(kl_watch *w);
/* Starts watching path (a file, existing or not yet, or a directory); its
 * directory must exist. 0, or -1 with errno set. */
int kl_watch_add(kl_watch *w, const char *path);
/* Reads the pending notifications without blocking and calls cb once per
 * changed path in this batch (the caller's path for files, dir/name for
 * entries of watched directories). Returns the number of calls, or -1. */
int kl_watch_read(kl_watch *w, void (*cb)(void *ud, const char *path), void *ud);

#endif
