#ifndef KEEL_EMBED_H
#define KEEL_EMBED_H

#include <stddef.h>

/* One Lua module compiled into the interpreter (see embed.lua). */
typedef struct {
  const char *name;      /* module name, e.g. "keel.http" */
  const char *chunkname; /* "@keel/http.lua", for tracebacks */
  const char *src;
  size_t len;
} keel_embedded;

extern const keel_embedded keel_embedded_modules[];

#endif
