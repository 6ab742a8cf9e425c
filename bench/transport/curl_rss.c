/* The RSS floor: a bare C process that initialises libcurl and holds one
 * multi handle, as an idle keel with a client open does. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *m = curl_multi_init();
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      long kb = 0;
      sscanf(line + 6, "%ld", &kb);
      printf("%ld\n", kb);
    }
  if (f) fclose(f);
  curl_multi_cleanup(m);
  return 0;
}
