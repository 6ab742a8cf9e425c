#include "uri.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *s;
  size_t n;
  int has;
} part;
typedef struct {
  part scheme, auth, path, query, frag;
} parts;

/* RFC 3986 appendix B, by hand. */
static void split(const char *s, parts *p) {
  memset(p, 0, sizeof *p);
  size_t n = strlen(s), i = 0;
  size_t c = strcspn(s, ":/?#");
  if (c < n && s[c] == ':' && c > 0) {
    p->scheme = (part){ s, c, 1 };
    i = c + 1;
  }
  if (i + 1 < n + 1 && s[i] == '/' && s[i + 1] == '/') {
    size_t a = i + 2, e = a;
    while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#') e++;
    p->auth = (part){ s + a, e - a, 1 };
    i = e;
  }
  size_t e = i;
  while (e < n && s[e] != '?' && s[e] != '#') e++;
  p->path = (part){ s + i, e - i, 1 };
  i = e;
  if (i < n && s[i] == '?') {
    e = i + 1;
    while (e < n && s[e] != '#') e++;
    p->query = (part){ s + i + 1, e - i - 1, 1 };
    i = e;
  }
  if (i < n && s[i] == '#') p->frag = (part){ s + i + 1, n - i - 1, 1 };
}

/* Section 5.2.4, into out (at least n + 1 bytes); returns the length. */
static size_t remove_dots(const char *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  while (i < n) {
    if (n - i >= 3 && !memcmp(in + i, "../", 3)) i += 3;
    else if (n - i >= 2 && !memcmp(in + i, "./", 2)) i += 2;
    else if (n - i >= 3 && !memcmp(in + i, "/./", 3)) i += 2;
    else if (n - i == 2 && !memcmp(in + i, "/.", 2)) { i += 1; out[o++] = '/'; i += 1; }
    else if (n - i >= 4 && !memcmp(in + i, "/../", 4)) {
      i += 3;
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--;
    } else if (n - i == 3 && !memcmp(in + i, "/..", 3)) {
      i += 3;
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--;
      out[o++] = '/';
    } else if ((n - i == 1 && in[i] == '.') || (n - i == 2 && !memcmp(in + i, "..", 2))) i = n;
    else {
      if (in[i] == '/') out[o++] = in[i++];
      while (i < n && in[i] != '/') out[o++] = in[i++];
    }
  }
  return o;
}

static char *put(char *d, const char *s, size_t n) {
  memcpy(d, s, n);
  return d + n;
}

char *kl_uri_resolve(const char *base, const char *ref) {
  parts b, r;
  split(base, &b);
  split(ref, &r);
  size_t cap = strlen(base) + strlen(ref) + 8;
  char *out = malloc(cap), *tmp = malloc(cap), *d = out;
  if (!out || !tmp) { free(out); free(tmp); return NULL; }
  part scheme, auth, query;
  size_t plen;
  if (r.scheme.has) {
    scheme = r.scheme, auth = r.auth, query = r.query;
    plen = remove_dots(r.path.s, r.path.n, tmp);
  } else {
    scheme = b.scheme;
    if (r.auth.has) {
      auth = r.auth, query = r.query;
      plen = remove_dots(r.path.s, r.path.n, tmp);
    } else {
      auth = b.auth;
      if (r.path.n == 0) {
        memcpy(tmp, b.path.s, b.path.n);
        plen = b.path.n;
        query = r.query.has ? r.query : b.query;
      } else {
        query = r.query;
        if (r.path.s[0] == '/') plen = remove_dots(r.path.s, r.path.n, tmp);
        else { /* merge (5.2.3) */
          char *m = malloc(cap);
          if (!m) { free(out); free(tmp); return NULL; }
          size_t mn = 0;
          if (b.auth.has && b.path.n == 0) m[mn++] = '/';
          else {
            size_t last = b.path.n;
            while (last > 0 && b.path.s[last - 1] != '/') last--;
            memcpy(m, b.path.s, last);
            mn = last;
          }
          memcpy(m + mn, r.path.s, r.path.n);
          mn += r.path.n;
          plen = remove_dots(m, mn, tmp);
          free(m);
        }
      }
    }
  }
  if (scheme.has) { d = put(d, scheme.s, scheme.n); *d++ = ':'; }
  if (auth.has) { d = put(d, "//", 2); d = put(d, auth.s, auth.n); }
  d = put(d, tmp, plen);
  if (query.has) { *d++ = '?'; d = put(d, query.s, query.n); }
  if (r.frag.has) { *d++ = '#'; d = put(d, r.frag.s, r.frag.n); }
  *d = 0;
  free(tmp);
  return out;
}

size_t kl_uri_frag(const char *s) {
  const char *h = strchr(s, '#');
  return h ? (size_t)(h - s) : strlen(s);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

size_t kl_uri_unescape(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') { out[o++] = s[i]; continue; }
    if (i + 2 >= n) return (size_t)-1;
    int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
    if (h < 0 || l < 0) return (size_t)-1;
    out[o++] = (char)(h * 16 + l);
    i += 2;
  }
  out[o] = 0;
  return o;
}
