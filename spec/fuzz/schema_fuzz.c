/* libFuzzer target for the JSON Schema compiler and validator
 * (src/core/schema*.c, jsonval.c, uri.c, jsregex.c).
 *
 * Input: "<schema>\n--\n<instance>" (no separator: the whole input is the
 * schema and the instance is the schema itself). The first byte's low bits
 * pick the default dialect and whether formats assert. Random schemas
 * mostly fail to compile; that path must give an error message and leak
 * nothing. A compiled schema validates the instance twice, verdict only
 * and collecting errors: the two verdicts must agree, an invalid verdict
 * must come with at least one error, and every error has its strings.
 * A registry document (the schema text again, at http://x/r.json) gives
 * remote $refs something to load. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

static kl_vctx *vc;

static __attribute__((destructor)) void teardown(void) { kl_vctx_free(vc); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!vc && !(vc = kl_vctx_new())) abort();
  if (size < 1) return 0;
  static const int dialects[] = { KL_D2020, KL_D2019, KL_D7, KL_D6, KL_D4, 0, KL_D2020, KL_D2019 };
  kl_schema_opts o = { .dialect = dialects[data[0] & 7], .formats = (data[0] >> 3) & 1 };
  const char *s = (const char *)data + 1;
  size_t n = size - 1;
  const char *inst = s;
  size_t in = n, sn_ = n;
  const char *sep = NULL;
  for (size_t i = 0; i + 4 <= n; i++)
    if (!memcmp(s + i, "\n--\n", 4)) { sep = s + i; break; }
  if (sep) {
    sn_ = (size_t)(sep - s);
    inst = sep + 4;
    in = n - sn_ - 4;
  }
  kl_schema_doc doc = { "http://x/r.json", s, sn_ };
  o.docs = &doc;
  o.ndocs = 1;
  o.base_uri = (data[0] & 16) ? "http://x/root.json" : NULL;
  kl_schema_err err;
  kl_schema *sc = kl_schema_compile(s, sn_, &o, &err);
  if (!sc) {
    if (err.code == KL_SCHEMA_OK || !err.msg[0]) abort();
    return 0;
  }
  int quick = kl_schema_validate(sc, vc, inst, in, 0);
  int full = kl_schema_validate(sc, vc, inst, in, 20);
  if (quick != full && quick != -2 && full != -2) abort();
  if (full == 0 && kl_vctx_nerrors(vc) == 0) abort();
  if (full == -1 && kl_vctx_nerrors(vc) != 1) abort();
  for (size_t i = 0; i < kl_vctx_nerrors(vc); i++) {
    const kl_verr *e = kl_vctx_error(vc, i);
    if (!e->instance_path || !e->schema_path || !e->absolute_path || !e->keyword || !e->message || !e->message[0])
      abort();
  }
  kl_schema_free(sc);
  return 0;
}
