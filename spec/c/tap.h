/* TAP output for the C tests: "ok N - what" / "not ok N - what", SKIPs, and
 * the plan line at the end; spec/run counts these lines. */
#ifndef KEEL_SPEC_TAP_H
#define KEEL_SPEC_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tests_run, tests_failed;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...) {
  va_list ap;
  tests_run++;
  if (!cond) tests_failed++;
  printf("%sok %d - ", cond ? "" : "not ", tests_run);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static __attribute__((unused, format(printf, 1, 2))) void skip(const char *fmt, ...) {
  va_list ap;
  tests_run++;
  printf("ok %d - # SKIP ", tests_run);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

/* Prints the plan; the exit status of the test program. */
static int tap_done(void) {
  printf("1..%d\n", tests_run);
  return tests_failed ? 1 : 0;
}

#endif
