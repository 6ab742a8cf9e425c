/* Peer: the plain libcurl loop a C programmer would write. One easy handle
 * reused (keep-alive), the same POST as every other peer, body collected,
 * compressed responses accepted (as keel, node fetch and the OpenAI SDKs). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t on_write(char *p, size_t s, size_t n, void *ud) {
  size_t *len = ud;
  (void)p;
  *len += s * n;
  return s * n;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: curl_loop URL BODYFILE N\n");
    return 2;
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) return 2;
  static char body[65536];
  size_t blen = fread(body, 1, sizeof body, f);
  fclose(f);
  long n = atol(argv[3]);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *e = curl_easy_init();
  struct curl_slist *h = NULL;
  h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "Authorization: Bearer sk-bench");
  h = curl_slist_append(h, "Expect:");
  size_t got = 0;
  curl_easy_setopt(e, CURLOPT_URL, argv[1]);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)blen);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &got);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  /* The same work keel does by default: ask for compressed responses. */
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
      fprintf(stderr, "request %ld failed: %s %ld\n", i, curl_easy_strerror(rc), status);
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  printf("%.3f\n", s * 1e6 / (double)n);
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  curl_global_cleanup();
  return got ? 0 : 1;
}
