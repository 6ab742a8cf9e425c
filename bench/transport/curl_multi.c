/* Peer: plain libcurl multi interface in C with K transfers in flight, each
 * finished handle re-added at once; the same POST as every other peer. It
 * bounds what any client built on libcurl can reach on this machine. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static size_t on_write(char *p, size_t s, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return s * n;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: curl_multi URL BODYFILE N K\n");
    return 2;
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) return 2;
  static char body[65536];
  size_t blen = fread(body, 1, sizeof body, f);
  fclose(f);
  long n = atol(argv[3]);
  int k = atoi(argv[4]);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *m = curl_multi_init();
  struct curl_slist *h = NULL;
  h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "Authorization: Bearer sk-bench");
  h = curl_slist_append(h, "Expect:");
  long started = 0, done = 0;
  for (int i = 0; i < k && started < n; i++, started++) {
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, argv[1]);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)blen);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_multi_add_handle(m, e);
  }
  struct timespec t0, t1;
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (done < n) {
    int running;
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL *e = msg->easy_handle;
      if (msg->data.result != CURLE_OK) {
        fprintf(stderr, "transfer failed: %s\n", curl_easy_strerror(msg->data.result));
        return 1;
      }
      curl_multi_remove_handle(m, e);
      done++;
      if (started < n) {
        curl_multi_add_handle(m, e);
        started++;
      } else {
        curl_easy_cleanup(e);
      }
    }
    if (done < n) curl_multi_poll(m, NULL, 0, 1000, NULL);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  getrusage(RUSAGE_SELF, &r1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
#define TV(a, b) ((double)((b).tv_sec - (a).tv_sec) * 1e6 + (double)((b).tv_usec - (a).tv_usec))
  printf("%.3f %.1f %.1f\n", s * 1e6 / (double)n, TV(r0.ru_utime, r1.ru_utime) / (double)n,
         TV(r0.ru_stime, r1.ru_stime) / (double)n);
  curl_multi_cleanup(m);
  curl_slist_free_all(h);
  return 0;
}
