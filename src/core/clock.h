#ifndef KEEL_CLOCK_H
#define KEEL_CLOCK_H

#include <time.h>

/* Monotonic seconds, for deadlines and keel.now(); never goes backwards. */
static inline double kl_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
