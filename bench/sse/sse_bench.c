/* Throughput of keel's SSE parser (src/core/sse.c) on one stream file fed in
 * fixed-size chunks, the way a transport hands bytes over.
 *
 *   sse_bench FILE [CHUNK=1024] [ROUNDS=31] [MIN_ROUND_S=0.05]
 *
 * Each round parses the whole file repeatedly for at least MIN_ROUND_S; the
 * rate of each round is recorded and the best and the median are printed as
 *   keel best_gbps=… median_gbps=… events_per_s=… events=… bytes=… chunk=…
 * (GB = 1e9 bytes). payload= is the type + data bytes of one pass, to
 * compare with the peer's count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "sse.h"

typedef struct {
  size_t events;
  size_t bytes; /* type + data bytes seen, so nothing is optimised away */
} sink;

static int on_event(void *ud, const kl_sse_event *ev) {
  sink *s = ud;
  s->events++;
  s->bytes += ev->data_len + ev->type_len;
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE [CHUNK] [ROUNDS] [MIN_ROUND_S]\n", argv[0]);
    return 2;
  }
  size_t chunk = argc > 2 ? strtoul(argv[2], NULL, 10) : 1024;
  int rounds = argc > 3 ? atoi(argv[3]) : 31;
  double min_round = argc > 4 ? atof(argv[4]) : 0.05;
  if (chunk == 0 || rounds < 1 || rounds > 1000) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }

  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  long flen = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc(flen > 0 ? (size_t)flen : 1);
  if (!buf || fread(buf, 1, (size_t)flen, f) != (size_t)flen) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  fclose(f);
  size_t len = (size_t)flen;

  kl_sse p;
  kl_sse_init(&p, 1 << 20);
  sink s = {0, 0};
  double *gbps = malloc(sizeof(double) * (size_t)rounds);
  double *evps = malloc(sizeof(double) * (size_t)rounds);
  size_t per_pass = 0, payload = 0;
  if (!gbps || !evps) return 1;

  for (int r = -1; r < rounds; r++) { /* round -1 warms up */
    size_t passes = 0, ev0 = s.events;
    double t0 = kl_now(), t;
    do {
      for (size_t at = 0; at < len; at += chunk) {
        size_t n = len - at < chunk ? len - at : chunk;
        if (kl_sse_feed(&p, buf + at, n, on_event, &s) != KL_SSE_OK) {
          fprintf(stderr, "parse error\n");
          return 1;
        }
      }
      if (kl_sse_pending(&p)) {
        fprintf(stderr, "stream ends inside an event\n");
        return 1;
      }
      kl_sse_reset(&p);
      passes++;
      t = kl_now() - t0;
    } while (t < min_round);
    per_pass = (s.events - ev0) / passes;
    if (r == -1) payload = s.bytes / passes;
    if (r >= 0) {
      gbps[r] = (double)len * (double)passes / t / 1e9;
      evps[r] = (double)(s.events - ev0) / t;
    }
  }
  double best = 0, best_ev = 0;
  for (int r = 0; r < rounds; r++) {
    if (gbps[r] > best) best = gbps[r];
    if (evps[r] > best_ev) best_ev = evps[r];
  }
  qsort(gbps, (size_t)rounds, sizeof *gbps, cmp_double);
  qsort(evps, (size_t)rounds, sizeof *evps, cmp_double);
  printf("keel best_gbps=%.3f median_gbps=%.3f best_events_per_s=%.0f median_events_per_s=%.0f "
         "events=%zu payload=%zu bytes=%zu chunk=%zu\n",
         best, gbps[rounds / 2], best_ev, evps[rounds / 2], per_pass, payload, len, chunk);
  kl_sse_free(&p);
  free(gbps);
  free(evps);
  free(buf);
  return 0;
}
