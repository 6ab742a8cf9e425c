/* JSON Schema: compile once, validate many (drafts 4, 6, 7, 2019-09 and
 * 2020-12; the default 2020-12).
 *
 * A schema compiles to a graph of nodes, one per schema object, with each
 * keyword's argument checked and pre-digested (type masks, regexes, property
 * tables); $ref and $dynamicRef are resolved at compile time, so validation
 * never looks anything up by URI. Remote references come only from the
 * documents the caller hands in (no network). Validation parses the
 * instance into an arena (jsonval.h) and walks it.
 *
 * Errors are reported as the spec's output units: an instance location, a
 * keyword location (the evaluation path, through $ref), an absolute keyword
 * location (URI of the schema resource + JSON pointer), the keyword and a
 * message; in a deterministic order (schema keyword order is fixed, instance
 * members in document order), capped by the caller. */
#ifndef KEEL_SCHEMA_H
#define KEEL_SCHEMA_H

#include <stddef.h>

enum { KL_D4 = 4, KL_D6 = 6, KL_D7 = 7, KL_D2019 = 2019, KL_D2020 = 2020 };

/* A document for remote references: its retrieval URI and its JSON text. */
typedef struct {
  const char *uri;
  const char *text;
  size_t len;
} kl_schema_doc;

typedef struct {
  int dialect;              /* when the schema has no $schema; 0 means 2020-12 */
  int formats;              /* 1: `format` asserts (default: annotation only) */
  const char *base_uri;     /* the root's retrieval URI, NULL for none */
  const kl_schema_doc *docs;
  size_t ndocs;
} kl_schema_opts;

enum {
  KL_SCHEMA_OK = 0,
  KL_SCHEMA_E_JSON,       /* the schema (or a registry document) is not JSON */
  KL_SCHEMA_E_INVALID,    /* a keyword's argument is wrong */
  KL_SCHEMA_E_UNRESOLVED, /* a $ref / $schema names a document nobody provided: see uri */
  KL_SCHEMA_E_NOMEM
};

typedef struct {
  int code;
  char uri[512];     /* KL_SCHEMA_E_UNRESOLVED: the document URI wanted */
  char msg[1024];    /* "<pointer>: <what>" (the pointer from the root document) */
} kl_schema_err;

typedef struct kl_schema kl_schema;

kl_schema *kl_schema_compile(const char *text, size_t n, const kl_schema_opts *o, kl_schema_err *err);
void kl_schema_free(kl_schema *s);
/* The dialect the root resource was compiled as. */
int kl_schema_dialect(const kl_schema *s);

/* One validation error; strings live until the next validation on the same
 * context. */
typedef struct {
  const char *instance_path;  /* JSON pointer into the instance */
  const char *schema_path;    /* keyword location: the evaluation path */
  const char *absolute_path;  /* absolute keyword location: URI#pointer */
  const char *keyword;
  const char *message;
} kl_verr;

/* Per-thread working memory for validation (instance tree, paths, errors);
 * reuse one across documents. */
typedef struct kl_vctx kl_vctx;
kl_vctx *kl_vctx_new(void);
void kl_vctx_free(kl_vctx *v);

/* Validates the JSON text[0..n). Returns 1 valid, 0 invalid (errors listed,
 * at most max_errors; 0 means only the verdict is wanted, which is faster),
 * -1 when text is not JSON (one error, keyword "json", saying where),
 * -2 when memory ran out. */
int kl_schema_validate(const kl_schema *s, kl_vctx *v, const char *text, size_t n, size_t max_errors);
size_t kl_vctx_nerrors(const kl_vctx *v);
/* Whether errors were dropped at the cap. */
int kl_vctx_capped(const kl_vctx *v);
const kl_verr *kl_vctx_error(const kl_vctx *v, size_t i);

#endif
