/* The one list of keel error kinds (DESIGN.md, Conventions: Errors).
 *
 * Everything that names an error kind, in C or in Lua, derives from this
 * list: the bindings export it as keel.core.error_kinds and lua/keel/error.lua
 * builds its table from that. Order is part of nothing; names are the API. */
#ifndef KEEL_KERR_H
#define KEEL_KERR_H

#define KL_ERROR_KINDS(X)                                                    \
  X(timeout)                                                                 \
  X(connect)                                                                 \
  X(tls)                                                                     \
  X(too_large)                                                               \
  X(rate_limit)                                                              \
  X(server)                                                                  \
  X(client)                                                                  \
  X(auth)                                                                    \
  X(context_length)                                                          \
  X(content_filter)                                                          \
  X(invalid_output)                                                          \
  X(truncated)                                                               \
  X(budget)                                                                  \
  X(circuit_open)                                                            \
  X(cancelled)

typedef enum {
  KL_OK = 0,
#define KL_KIND_ENUM(name) KL_E_##name,
  KL_ERROR_KINDS(KL_KIND_ENUM)
#undef KL_KIND_ENUM
  KL_E__COUNT
} kl_kind;

/* Name of a kind ("timeout"), or "ok" for KL_OK. */
const char *kl_kind_name(kl_kind k);

#endif
