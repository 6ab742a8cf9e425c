/* libFuzzer target for src/core/jsonextract.c: random text -> kl_jx_extract,
 * strict and lenient, and kl_jx_repair. Checks: no crash or leak; a found
 * span lies inside the input; what is returned (the span, or the repaired
 * buffer) is exactly one strict JSON value; strict mode never reports
 * repairs; a not-found result points inside the input; the repair output
 * stays within its cap (2n + 64) and repairing JSON that is already valid
 * changes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonextract.h"

static kl_jd jd, check;
static kl_buf out;
static int ready;

static __attribute__((destructor)) void teardown(void) {
  if (ready) kl_jd_free(&jd), kl_jd_free(&check), kl_buf_free(&out);
}

/* 1 when s[0..n) is exactly one strict JSON value. */
static int one_value(const char *s, size_t n) {
  kl_jd_start(&check, s, n, 0);
  for (;;) {
    kl_jd_token t = kl_jd_next(&check);
    if (t == KL_JD_ERROR) return 0;
    if (t == KL_JD_END) return 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ready) {
    kl_jd_init(&jd), kl_jd_init(&check);
    ready = 1;
  }
  const char *s = (const char *)data;
  for (int lenient = 0; lenient < 2; lenient++) {
    kl_buf_free(&out);
    kl_buf_init(&out, 2 * size + 64);
    kl_jx_result r;
    int rc = kl_jx_extract(s, size, lenient, &jd, &out, &r);
    if (rc < 0) continue; /* out of memory: allowed, nothing to check */
    if (rc == 1) {
      if (r.start > size || r.len > size - r.start) abort();
      if (!lenient && r.repairs) abort();
      const char *v = r.repairs ? out.data : s + r.start;
      size_t vn = r.repairs ? out.len : r.len;
      if (!vn || !one_value(v ? v : "", vn)) abort();
    } else if (r.err && (r.err_at > size || r.err_from > r.err_at)) {
      abort();
    }
  }
  kl_buf_free(&out);
  kl_buf_init(&out, 2 * size + 64);
  int rep = kl_jx_repair(s, size, &out);
  if (rep < 0) abort(); /* the cap is never reached: at most 2 bytes out per byte in */
  if (one_value(s, size) && (rep != 0 || out.len != size || memcmp(out.data ? out.data : "", s, size) != 0)) {
    /* valid JSON may still contain Python words or // in no string... only
     * outside strings, where valid JSON has no words but literals and no
     * comments: so nothing may change */
    abort();
  }
  return 0;
}
