/* Finding, checking and loading tiktoken vocabularies once per process; see
 * encoding.h for the search order. */
#include "encoding.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "sha1.h"
#include "sha256.h"

#if __has_include("../../build/gen/paths.h")
#include "../../build/gen/paths.h"
#endif

#ifndef KEEL_SHAREDIR
#define KEEL_SHAREDIR "/usr/local/share/keel"
#endif
#ifndef KEEL_BUILD_VOCAB
#define KEEL_BUILD_VOCAB ""
#endif
#define DEFAULT_BASE_URL "https://openaipublic.blob.core.windows.net/encodings"
#define MAX_DOWNLOAD ((size_t)32 << 20)

typedef struct {
  const char *text;
  uint32_t id;
} spec_def;

static const spec_def SP_R50K[] = { { "<|endoftext|>", 50256 } };
static const spec_def SP_P50K_EDIT[] = { { "<|endoftext|>", 50256 }, { "<|fim_prefix|>", 50281 },
                                         { "<|fim_middle|>", 50282 }, { "<|fim_suffix|>", 50283 } };
static const spec_def SP_CL100K[] = { { "<|endoftext|>", 100257 }, { "<|fim_prefix|>", 100258 },
                                      { "<|fim_middle|>", 100259 }, { "<|fim_suffix|>", 100260 },
                                      { "<|endofprompt|>", 100276 } };
static const spec_def SP_O200K[] = { { "<|endoftext|>", 199999 }, { "<|endofprompt|>", 200018 } };
/* o200k_harmony (gpt-oss), as tiktoken_ext/openai_public.py: o200k's plus
 * these, plus <|reserved_N|> for every N in 200013..201087 (added in code). */
static const spec_def SP_HARMONY[] = {
  { "<|endoftext|>", 199999 }, { "<|endofprompt|>", 200018 }, { "<|startoftext|>", 199998 },
  { "<|reserved_200000|>", 200000 }, { "<|reserved_200001|>", 200001 }, { "<|return|>", 200002 },
  { "<|constrain|>", 200003 }, { "<|reserved_200004|>", 200004 }, { "<|channel|>", 200005 },
  { "<|start|>", 200006 }, { "<|end|>", 200007 }, { "<|message|>", 200008 },
  { "<|reserved_200009|>", 200009 }, { "<|reserved_200010|>", 200010 },
  { "<|reserved_200011|>", 200011 }, { "<|call|>", 200012 } };
#define HARMONY_RESERVED_FIRST 200013u
#define HARMONY_RESERVED_END 201088u

enum { F_R50K, F_P50K, F_CL100K, F_O200K, F__N };
static const struct {
  const char *file, *sha256;
} FILES[F__N] = {
  { "r50k_base.tiktoken", "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930" },
  { "p50k_base.tiktoken", "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069" },
  { "cl100k_base.tiktoken", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7" },
  { "o200k_base.tiktoken", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d" },
};

/* The encodings, one row each: name, vocabulary file, split rule, special
 * tokens (o200k_harmony adds its reserved range in code). gpt2's ranks are
 * r50k_base's, byte for byte (tiktoken ships them as vocab.bpe +
 * encoder.json; the .tiktoken form is the same table). */
#define ENCODINGS(X)                                  \
  X(gpt2, F_R50K, KL_PAT_R50K, SP_R50K)               \
  X(r50k_base, F_R50K, KL_PAT_R50K, SP_R50K)          \
  X(p50k_base, F_P50K, KL_PAT_R50K, SP_R50K)          \
  X(p50k_edit, F_P50K, KL_PAT_R50K, SP_P50K_EDIT)     \
  X(cl100k_base, F_CL100K, KL_PAT_CL100K, SP_CL100K)  \
  X(o200k_base, F_O200K, KL_PAT_O200K, SP_O200K)      \
  X(o200k_harmony, F_O200K, KL_PAT_O200K, SP_HARMONY)

static const struct {
  int file;
  kl_pat pat;
  const spec_def *sp;
  size_t nsp;
} DEFS[] = {
#define X(name, file, pat, sp) { file, pat, sp, sizeof sp / sizeof *sp },
  ENCODINGS(X)
#undef X
};
#define N_ENC ((int)(sizeof DEFS / sizeof *DEFS))
static const char *const NAMES[] = {
#define X(name, file, pat, sp) #name,
  ENCODINGS(X)
#undef X
  NULL
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static kl_vocab *vocabs[F__N];
static char *sources[F__N];
static double load_ms[F__N];
static kl_encoding *encs[N_ENC];
static char *harmony_text;       /* the generated <|reserved_N|> strings */

const char *const *kl_encoding_names(void) { return NAMES; }

static void msg(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Appends "; tried X" to the list of places looked at. */
static void tried(kl_buf *t, const char *what) {
  kl_buf_add(t, t->len ? ", " : "", t->len ? 2 : 0);
  kl_buf_add(t, what, strlen(what));
}

/* Looks for FILE in each dir of the colon-separated LIST. 1 = loaded, 0 = not
 * there, -1 = there but bad (message in err). */
static int try_dirs(const char *list, const char *file, const char *sha, kl_vocab **out, char **src,
                    kl_buf *t, char *err, size_t errlen) {
  const char *p = list;
  while (p && *p) {
    const char *e = strchr(p, ':');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n) {
      char path[4096];
      if (snprintf(path, sizeof path, "%.*s/%s", (int)n, p, file) >= (int)sizeof path) goto next;
      tried(t, path);
      if (exists(path)) {
        *out = kl_vocab_load(path, sha, err, errlen);
        if (!*out) return -1;
        *src = strdup(path);
        return 1;
      }
    }
  next:
    p = e ? e + 1 : NULL;
  }
  return 0;
}

static const char *cache_dir(char *buf, size_t n) {
  /* As tiktoken: the first of the two that is set wins, and set but empty
   * turns caching off. */
  const char *d = getenv("TIKTOKEN_CACHE_DIR");
  if (!d) d = getenv("DATA_GYM_CACHE_DIR");
  if (d) return *d ? d : NULL;
  const char *tmp = getenv("TMPDIR");
  snprintf(buf, n, "%s/data-gym-cache", tmp && *tmp ? tmp : "/tmp");
  return buf;
}

static size_t on_data(char *p, size_t sz, size_t nm, void *ud) {
  return kl_buf_add(ud, p, sz * nm) ? 0 : sz * nm;
}

/* Downloads URL into B. 0 or -1 with a message. */
static int download(const char *url, kl_buf *b, char *err, size_t errlen) {
  CURL *c = curl_easy_init();
  if (!c) return msg(err, errlen, "%s: cannot start a download", url), -1;
  char ebuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK)
    return msg(err, errlen, "%s: download failed: %s", url, *ebuf ? ebuf : curl_easy_strerror(rc)), -1;
  if (status != 200) return msg(err, errlen, "%s: download failed: HTTP %ld", url, status), -1;
  return 0;
}

/* Writes DATA to DIR/NAME through a temporary file and rename, so a reader
 * never sees half a file. Failure only costs the cache, so it is silent. */
static void cache_store(const char *dir, const char *name, const char *data, size_t n) {
  char path[4096], tmp[4200];
  mkdir(dir, 0755);
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return;
  if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp) return;
  FILE *f = fopen(tmp, "wb");
  if (!f) return;
  int ok = fwrite(data, 1, n, f) == n;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) unlink(tmp);
}

static int load_file(int fi, char *err, size_t errlen) {
  const char *file = FILES[fi].file, *sha = FILES[fi].sha256;
  kl_buf t;
  kl_buf_init(&t, 8192);
  double t0 = now_ms();
  int r = 0;
  const char *d = getenv("KEEL_TOKENIZER_DIR");
  if (d && *d) r = try_dirs(d, file, sha, &vocabs[fi], &sources[fi], &t, err, errlen);
  /* tiktoken's cache: files named by the sha1 of their URL */
  const char *base = getenv("KEEL_TOKENIZER_BASE_URL");
  if (!base || !*base) base = DEFAULT_BASE_URL;
  char url[2048], key[41], cbuf[4096];
  (void)!snprintf(url, sizeof url, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", file);
  kl_sha1_hex(url, strlen(url), key);
  const char *cdir = cache_dir(cbuf, sizeof cbuf);
  if (r == 0 && cdir) {
    char path[4200];
    int pn = snprintf(path, sizeof path, "%s/%s", cdir, key);
    if (pn < (int)sizeof path) tried(&t, path);
    if (pn < (int)sizeof path && exists(path)) {
      char ignored[256];
      vocabs[fi] = kl_vocab_load(path, sha, ignored, sizeof ignored);
      if (vocabs[fi]) sources[fi] = strdup(path), r = 1;
      else kl_buf_add(&t, " (there, but it failed its sha256 check: ignored)", 49);
    }
  }
  if (r == 0) {
    const char *share = getenv("KEEL_TOKENIZER_SHARE");
    char dflt[4096];
    if (!share) {
      snprintf(dflt, sizeof dflt, "%s/vocab%s%s", KEEL_SHAREDIR, *KEEL_BUILD_VOCAB ? ":" : "", KEEL_BUILD_VOCAB);
      share = dflt;
    }
    r = try_dirs(share, file, sha, &vocabs[fi], &sources[fi], &t, err, errlen);
  }
  if (r == 0) {
    const char *off = getenv("KEEL_TOKENIZER_OFFLINE");
    if (off && *off && strcmp(off, "0") != 0) {
      msg(err, errlen, "%s not found (looked in %s; downloads are off: KEEL_TOKENIZER_OFFLINE). "
          "Run `make vocab`, or set KEEL_TOKENIZER_DIR to a directory holding it", file, t.len ? kl_buf_cstr(&t) : "no directory: none is set");
      r = -1;
    } else {
      kl_buf b;
      kl_buf_init(&b, MAX_DOWNLOAD);
      char derr[600];
      if (download(url, &b, derr, sizeof derr) != 0) {
        msg(err, errlen, "%s not found (looked in %s) and %s. Run `make vocab`, or set "
            "KEEL_TOKENIZER_DIR to a directory holding it", file, t.len ? kl_buf_cstr(&t) : "no directory: none is set", derr);
        r = -1;
      } else {
        char got[65];
        kl_sha256_hex(b.data, b.len, got);
        if (strcasecmp(got, sha) != 0) {
          msg(err, errlen, "%s: sha256 mismatch: expected %s got %s", url, sha, got);
          r = -1;
        } else {
          char perr[256];
          vocabs[fi] = kl_vocab_parse(b.data, b.len, perr, sizeof perr);
          if (!vocabs[fi]) {
            msg(err, errlen, "%s:%s", url, perr);
            r = -1;
          } else {
            if (cdir) cache_store(cdir, key, b.data, b.len);
            sources[fi] = strdup(url);
            r = 1;
          }
        }
      }
      kl_buf_free(&b);
    }
  }
  kl_buf_free(&t);
  load_ms[fi] = now_ms() - t0;
  return r == 1 ? 0 : -1;
}

static int cmp_text(const void *a, const void *b) {
  const kl_special *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->text, y->text, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}
static int cmp_id(const void *a, const void *b) {
  const kl_special *x = a, *y = b;
  if (x->id != y->id) return (x->id > y->id) - (x->id < y->id);
  return (x->len > y->len) - (x->len < y->len); /* len holds the definition order here */
}

static kl_encoding *build(int i, char *err, size_t errlen) {
  size_t n = DEFS[i].nsp;
  if (DEFS[i].sp == SP_HARMONY) n += HARMONY_RESERVED_END - HARMONY_RESERVED_FIRST;
  kl_encoding *e = calloc(1, sizeof *e);
  kl_special *sp = calloc(n, sizeof *sp), *ids = calloc(n, sizeof *ids);
  if (!e || !sp || !ids) goto oom;
  for (size_t k = 0; k < DEFS[i].nsp; k++)
    sp[k] = (kl_special){ DEFS[i].sp[k].text, (uint32_t)strlen(DEFS[i].sp[k].text), DEFS[i].sp[k].id };
  if (DEFS[i].sp == SP_HARMONY) {
    size_t m = HARMONY_RESERVED_END - HARMONY_RESERVED_FIRST;
    if (!harmony_text && !(harmony_text = malloc(m * 24))) goto oom;
    for (size_t k = 0; k < m; k++) {
      char *s = harmony_text + 24 * k;
      uint32_t id = HARMONY_RESERVED_FIRST + (uint32_t)k;
      int len = snprintf(s, 24, "<|reserved_%u|>", id);
      sp[DEFS[i].nsp + k] = (kl_special){ s, (uint32_t)len, id };
    }
  }
  /* Decoding an id named twice (harmony's 200018) gives its first name:
   * sort by id, ties by definition order, and keep the first of each id. */
  for (size_t k = 0; k < n; k++) ids[k] = sp[k], ids[k].len = (uint32_t)k;
  qsort(ids, n, sizeof *ids, cmp_id);
  size_t w = 0;
  for (size_t k = 0; k < n; k++)
    if (!w || ids[w - 1].id != ids[k].id) ids[w++] = ids[k];
  for (size_t k = 0; k < w; k++) ids[k].len = (uint32_t)strlen(ids[k].text);
  qsort(sp, n, sizeof *sp, cmp_text);
  uint32_t maxlen = 0, top = kl_vocab_rank_end(vocabs[DEFS[i].file]);
  for (size_t k = 0; k < n; k++) {
    if (sp[k].len > maxlen) maxlen = sp[k].len;
    if (sp[k].id + 1 > top) top = sp[k].id + 1;
  }
  *e = (kl_encoding){ .name = NAMES[i], .file = FILES[DEFS[i].file].file, .sha256 = FILES[DEFS[i].file].sha256,
                      .pat = DEFS[i].pat, .specials = sp, .nspecials = (uint32_t)n, .by_id = ids,
                      .nby_id = (uint32_t)w, .special_maxlen = maxlen, .n_vocab = top,
                      .vocab = vocabs[DEFS[i].file], .load_ms = load_ms[DEFS[i].file],
                      .source = sources[DEFS[i].file] };
  encs[i] = e;
  return e;
oom:
  free(e), free(sp), free(ids);
  msg(err, errlen, "out of memory");
  return NULL;
}

const kl_encoding *kl_encoding_get(const char *name, char *err, size_t errlen) {
  int i = 0;
  while (i < N_ENC && strcmp(NAMES[i], name) != 0) i++;
  if (i == N_ENC) {
    char known[256] = "";
    for (int k = 0; k < N_ENC; k++)
      snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "", NAMES[k]);
    msg(err, errlen, "unknown encoding '%s' (known: %s)", name, known);
    return NULL;
  }
  pthread_mutex_lock(&lock);
  kl_encoding *e = encs[i];
  if (!e) {
    int fi = DEFS[i].file;
    if (vocabs[fi] || load_file(fi, err, errlen) == 0) e = build(i, err, errlen);
  }
  pthread_mutex_unlock(&lock);
  return e;
}

const kl_special *kl_encoding_special(const kl_encoding *e, const char *t, size_t n) {
  size_t lo = 0, hi = e->nspecials;
  kl_special key = { t, (uint32_t)n, 0 };
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = cmp_text(&key, &e->specials[mid]);
    if (c == 0) return &e->specials[mid];
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}

const kl_special *kl_encoding_special_id(const kl_encoding *e, uint32_t id) {
  size_t lo = 0, hi = e->nby_id;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (e->by_id[mid].id == id) return &e->by_id[mid];
    if (e->by_id[mid].id > id) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}

/* Frees everything when the process exits or the module is unloaded for
 * the last time, so leak checkers see a clean heap. */
__attribute__((destructor)) static void unload(void) {
  for (int i = 0; i < N_ENC; i++) {
    if (!encs[i]) continue;
    free((void *)encs[i]->specials), free((void *)encs[i]->by_id), free(encs[i]);
    encs[i] = NULL;
  }
  for (int f = 0; f < F__N; f++) {
    kl_vocab_free(vocabs[f]), free(sources[f]);
    vocabs[f] = NULL, sources[f] = NULL;
  }
  free(harmony_text);
  harmony_text = NULL;
}
