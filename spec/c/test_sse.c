/* C unit tests of the SSE parser (src/core/sse.c), TAP output.
 *
 * Each table case is fed whole, split into two chunks at every offset, into
 * three chunks at every pair of offsets, and one byte at a time with empty
 * chunks in between; every way must give the same events, return code and
 * pending flag, which are pinned in the table. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "tap.h"


/* ---- events rendered as one string: "type|data|id|retry\n" per event ---- */

typedef struct {
  char s[8192];
  size_t len;
  int overflow;
  int abort_after; /* ask to stop after this many events; 0 = never */
  int count;
} render;

static void put(render *r, const char *p, size_t n) {
  if (n > sizeof r->s - 1 - r->len) {
    r->overflow = 1;
    return;
  }
  memcpy(r->s + r->len, p, n);
  r->len += n;
  r->s[r->len] = '\0';
}

/* Escapes the bytes that would make the rendering ambiguous or unreadable. */
static void put_esc(render *r, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    char tmp[8];
    switch (c) {
    case '\n': put(r, "\\n", 2); break;
    case '\r': put(r, "\\r", 2); break;
    case '\0': put(r, "\\0", 2); break;
    case '\\': put(r, "\\\\", 2); break;
    case '|': put(r, "\\|", 2); break;
    default:
      if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f) {
        snprintf(tmp, sizeof tmp, "\\x%02X", (unsigned char)c);
        put(r, tmp, 4);
      } else {
        put(r, &c, 1);
      }
    }
  }
}

static int on_event(void *ud, const kl_sse_event *ev) {
  render *r = ud;
  char tmp[32];
  put_esc(r, ev->type, ev->type_len);
  put(r, "|", 1);
  put_esc(r, ev->data, ev->data_len);
  put(r, "|", 1);
  put_esc(r, ev->id, ev->id_len);
  snprintf(tmp, sizeof tmp, "|%ld\n", ev->retry);
  put(r, tmp, strlen(tmp));
  /* The documented extras: C strings, and the default type. */
  if (ev->data[ev->data_len] != '\0' || ev->id[ev->id_len] != '\0') put(r, "<not NUL-terminated>", 20);
  r->count++;
  return r->abort_after && r->count >= r->abort_after;
}

/* ---- the table ------------------------------------------------------------ */

#define S(lit) lit, sizeof(lit) - 1

typedef struct {
  const char *name;
  const char *in;
  size_t len;
  const char *want; /* rendered events */
  int rc;           /* kl_sse_feed result at the end (first failure) */
  int pending;      /* kl_sse_pending after the last chunk (when rc is OK) */
  size_t max;       /* max_event; 0 here means 1 MiB */
  int abort_after;
} tcase;

#define OK KL_SSE_OK
#define BIG KL_SSE_TOO_LARGE
#define ABRT KL_SSE_ABORT

static const tcase cases[] = {
  /* fields and values */
  {"simple data event", S("data: hello\n\n"), "message|hello||-1\n", OK, 0, 0, 0},
  {"no space after colon", S("data:hello\n\n"), "message|hello||-1\n", OK, 0, 0, 0},
  {"only one leading space removed", S("data:  hello\n\n"), "message| hello||-1\n", OK, 0, 0, 0},
  {"trailing space kept", S("data: hello \n\n"), "message|hello ||-1\n", OK, 0, 0, 0},
  {"tab after colon is not removed", S("data:\thello\n\n"), "message|\\x09hello||-1\n", OK, 0, 0, 0},
  {"multi-line data joined with LF", S("data: a\ndata: b\ndata: c\n\n"), "message|a\\nb\\nc||-1\n", OK, 0, 0, 0},
  {"only the final LF removed", S("data: a\ndata:\n\n"), "message|a\\n||-1\n", OK, 0, 0, 0},
  {"data without colon is empty data", S("data\n\n"), "message|||-1\n", OK, 0, 0, 0},
  {"data with empty value dispatches", S("data:\n\n"), "message|||-1\n", OK, 0, 0, 0},
  {"two empty data lines give one LF", S("data\ndata\n\n"), "message|\\n||-1\n", OK, 0, 0, 0},
  {"colon inside value kept", S("data: a:b: c\n\n"), "message|a:b: c||-1\n", OK, 0, 0, 0},
  {"value starting with colon", S("data::x\n\n"), "message|:x||-1\n", OK, 0, 0, 0},
  {"NUL bytes in data kept", S("data: a\0b\n\n"), "message|a\\0b||-1\n", OK, 0, 0, 0},
  {"UTF-8 in data kept", S("data: caf\xC3\xA9\n\n"), "message|caf\\xC3\\xA9||-1\n", OK, 0, 0, 0},
  {"extra blank lines dispatch nothing more", S("\n\ndata: x\n\n\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"two events", S("data: 1\n\ndata: 2\n\n"), "message|1||-1\nmessage|2||-1\n", OK, 0, 0, 0},

  /* event type */
  {"event type", S("event: add\ndata: x\n\n"), "add|x||-1\n", OK, 0, 0, 0},
  {"event after data in block", S("data: x\nevent: add\n\n"), "add|x||-1\n", OK, 0, 0, 0},
  {"last event field wins", S("event: a\nevent: b\ndata: x\n\n"), "b|x||-1\n", OK, 0, 0, 0},
  {"empty event means message", S("event:\ndata: x\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"event without colon means message", S("event\ndata: x\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"event type space kept after first", S("event:  sp\ndata: x\n\n"), " sp|x||-1\n", OK, 0, 0, 0},
  {"type reset after dispatch", S("event: a\ndata: 1\n\ndata: 2\n\n"), "a|1||-1\nmessage|2||-1\n", OK, 0, 0, 0},
  {"type reset when block has no data", S("event: a\n\ndata: 2\n\n"), "message|2||-1\n", OK, 0, 0, 0},

  /* comments and unknown fields */
  {"comment lines ignored", S(": hi\ndata: x\n: mid\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"comment-only block dispatches nothing", S(": ping\n\n"), "", OK, 0, 0, 0},
  {"bare colon is a comment", S(":\ndata: x\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"unknown field ignored", S("foo: bar\ndata: x\nbaz\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"field names are case-sensitive", S("Data: x\nDATA: y\n\n"), "", OK, 0, 0, 0},
  {"space before colon makes another name", S("data : x\n\n"), "", OK, 0, 0, 0},
  {"leading space makes another name", S(" data: x\n\n"), "", OK, 0, 0, 0},
  {"prefix of a name is unknown", S("dat: x\nevents: y\nids: 1\nretr: 5\ndata: z\n\n"), "message|z||-1\n", OK, 0, 0, 0},

  /* id */
  {"id set", S("id: 1\ndata: x\n\n"), "message|x|1|-1\n", OK, 0, 0, 0},
  {"id persists across events", S("id: 1\ndata: a\n\ndata: b\n\n"), "message|a|1|-1\nmessage|b|1|-1\n", OK, 0, 0, 0},
  {"id from a block without data persists", S("id: 7\n\ndata: z\n\n"), "message|z|7|-1\n", OK, 0, 0, 0},
  {"empty id resets", S("id: 1\ndata: a\n\nid\ndata: b\n\n"), "message|a|1|-1\nmessage|b||-1\n", OK, 0, 0, 0},
  {"id containing NUL ignored", S("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n"), "message|a|1|-1\nmessage|b|1|-1\n", OK, 0, 0, 0},
  {"id with only NUL ignored", S("id: 3\nid: \0\ndata: b\n\n"), "message|b|3|-1\n", OK, 0, 0, 0},
  {"last id in block wins", S("id: 1\nid: 2\ndata: x\n\n"), "message|x|2|-1\n", OK, 0, 0, 0},

  /* retry */
  {"retry reported", S("retry: 1000\ndata: x\n\n"), "message|x||1000\n", OK, 0, 0, 0},
  {"retry zero", S("retry: 0\ndata: x\n\n"), "message|x||0\n", OK, 0, 0, 0},
  {"retry leading zeros", S("retry: 007\ndata: x\n\n"), "message|x||7\n", OK, 0, 0, 0},
  {"retry only for its block", S("retry: 5\ndata: a\n\ndata: b\n\n"), "message|a||5\nmessage|b||-1\n", OK, 0, 0, 0},
  {"retry in a block without data not reported later", S("retry: 5\n\ndata: b\n\n"), "message|b||-1\n", OK, 0, 0, 0},
  {"retry with letter ignored", S("retry: 10a\ndata: x\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"retry negative ignored", S("retry: -1\ndata: x\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"retry empty ignored", S("retry:\ndata: x\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"retry without colon ignored", S("retry\ndata: x\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"retry trailing space ignored", S("retry: 1 \ndata: x\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"retry second space ignored", S("retry:  1\ndata: x\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"retry decimal ignored", S("retry: 1.5\ndata: x\n\n"), "message|x||-1\n", OK, 0, 0, 0},
  {"invalid retry keeps an earlier valid one", S("retry: 9\nretry: x\ndata: x\n\n"), "message|x||9\n", OK, 0, 0, 0},
  {"retry overflow saturates", S("retry: 99999999999999999999999999999\ndata: x\n\n"), "", OK, 0, 0, 0},

  /* line ends */
  {"CR line ends", S("data: a\rdata: b\r\r"), "message|a\\nb||-1\n", OK, 0, 0, 0},
  {"CRLF line ends", S("data: a\r\ndata: b\r\n\r\n"), "message|a\\nb||-1\n", OK, 0, 0, 0},
  {"mixed line ends", S("data: a\r\ndata: b\rdata: c\n\r\n"), "message|a\\nb\\nc||-1\n", OK, 0, 0, 0},
  {"LF CR is two line ends", S("data: a\n\rdata: b\n\n"), "message|a||-1\nmessage|b||-1\n", OK, 0, 0, 0},
  {"CR CR LF is two line ends", S("data: a\r\r\ndata: b\n\n"), "message|a||-1\nmessage|b||-1\n", OK, 0, 0, 0},
  {"CRLF CRLF dispatches once", S("data: a\r\n\r\n\r\n"), "message|a||-1\n", OK, 0, 0, 0},
  {"CR CR dispatches", S("data: a\r\r"), "message|a||-1\n", OK, 0, 0, 0},
  {"CR then LF-only lines", S("data: a\r\ndata: b\n\ndata: c\r\r"),
   "message|a\\nb||-1\nmessage|c||-1\n", OK, 0, 0, 0},

  /* byte order mark */
  {"leading BOM stripped", S("\xEF\xBB\xBF" "data: a\n\n"), "message|a||-1\n", OK, 0, 0, 0},
  {"BOM then blank line", S("\xEF\xBB\xBF\ndata: a\n\n"), "message|a||-1\n", OK, 0, 0, 0},
  {"only one BOM stripped", S("\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\n"), "", OK, 0, 0, 0},
  {"BOM later in stream not stripped", S("data: a\n\n\xEF\xBB\xBF" "data: b\n\n"), "message|a||-1\n", OK, 0, 0, 0},
  {"partial BOM is part of first line", S("\xEF\xBB" "data: a\n\ndata: b\n\n"), "message|b||-1\n", OK, 0, 0, 0},
  {"partial BOM then line end", S("\xEF\ndata: a\n\n"), "message|a||-1\n", OK, 0, 0, 0},
  {"partial BOM then CR", S("\xEF\xBB\rdata: a\r\n\r\n"), "message|a||-1\n", OK, 0, 0, 0},
  {"BOM then CRLF", S("\xEF\xBB\xBF\r\ndata: a\r\n\r\n"), "message|a||-1\n", OK, 0, 0, 0},
  {"partial BOM prefix is field name", S("\xEF\xBB" "data\n\n"), "", OK, 0, 0, 0},
  {"BOM only", S("\xEF\xBB\xBF"), "", OK, 0, 0, 0},

  /* pending: the stream ends inside an event */
  {"empty stream", S(""), "", OK, 0, 0, 0},
  {"no final blank line", S("data: a\n"), "", OK, 1, 0, 0},
  {"partial line", S("data: a"), "", OK, 1, 0, 0},
  {"partial comment line", S(": keep"), "", OK, 1, 0, 0},
  {"event field pending", S("data: a\n\nevent: x\n"), "message|a||-1\n", OK, 1, 0, 0},
  {"id field pending", S("id: 1\n"), "", OK, 1, 0, 0},
  {"retry field pending", S("retry: 1\n"), "", OK, 1, 0, 0},
  {"ends after CR", S("data: a\r"), "", OK, 1, 0, 0},
  {"ends after CR blank line", S("data: a\r\r"), "message|a||-1\n", OK, 0, 0, 0},
  {"complete comment not pending", S(": ping\n"), "", OK, 0, 0, 0},
  {"complete unknown field not pending", S("foo: 1\n"), "", OK, 0, 0, 0},
  {"partial BOM pending", S("\xEF\xBB"), "", OK, 1, 0, 0},
  {"dispatched not pending", S("data: a\n\n"), "message|a||-1\n", OK, 0, 0, 0},

  /* the cap: max_event bytes of data + type + id, and of one line */
  {"line exactly at cap", S("data: 0123456789\n\n"), "message|0123456789||-1\n", OK, 0, 16, 0},
  {"line one over cap", S("data: 0123456789\n\n"), "", BIG, 0, 15, 0},
  {"partial line over cap", S("data: 0123456789"), "", BIG, 0, 15, 0},
  {"partial line at cap", S("data: 012345678"), "", OK, 1, 15, 0},
  {"comment over cap", S(": 0123456789\ndata: x\n\n"), "", BIG, 0, 10, 0},
  {"unknown field over cap", S("xxxxxxxxxxx\n"), "", BIG, 0, 10, 0},
  {"multi-line data exactly at cap", S("data:01234\ndata:5678\n\n"), "message|01234\\n5678||-1\n", OK, 0, 10, 0},
  {"multi-line data one over cap", S("data:01234\ndata:56789\n\n"), "", BIG, 0, 10, 0},
  /* (lines kept within the cap, so only the event sum can trip) */
  {"data+type+id exactly at cap", S("id:abcd\nevent:efgh\ndata:ijkl\n\n"), "efgh|ijkl|abcd|-1\n", OK, 0, 12, 0},
  {"data+type+id one over cap", S("id:abcd\nevent:efgh\ndata:ijklm\n\n"), "", BIG, 0, 12, 0},
  {"type set after data counts", S("data:abcdefg\nevent:hijklm\n\n"), "", BIG, 0, 12, 0},
  {"type set after data at cap", S("data:abcdefg\nevent:hijkl\n\n"), "hijkl|abcdefg||-1\n", OK, 0, 12, 0},
  {"id set after data counts", S("data:abcdefg\nid:hijklm\n\n"), "", BIG, 0, 12, 0},
  {"persisting id counts in later events", S("id:abcdefg\n\ndata:hijklm\n\n"), "", BIG, 0, 12, 0},
  {"events before the error are delivered", S("data:a\n\ndata:0123456789\n\n"), "message|a||-1\n", BIG, 0, 10, 0},
  {"many events each under cap", S("data:0123\n\ndata:4567\n\ndata:89ab\n\n"),
   "message|0123||-1\nmessage|4567||-1\nmessage|89ab||-1\n", OK, 0, 10, 0},
  {"cap 1 allows blank lines only", S("\n\r\n\ra"), "", OK, 1, 1, 0},
  {"cap 1 rejects two-byte line", S("\n\nab"), "", BIG, 0, 1, 0},
  {"partial BOM over cap", S("\xEF\xBBx\n"), "", BIG, 0, 2, 0},

  /* abort */
  {"abort after first event", S("data: 1\n\ndata: 2\n\ndata: 3\n\n"), "message|1||-1\n", ABRT, 0, 0, 1},
  {"abort after second event", S("data: 1\n\ndata: 2\n\ndata: 3\n\n"), "message|1||-1\nmessage|2||-1\n", ABRT, 0, 0, 2},
  {"no abort when fewer events", S("data: 1\n\ndata: 2\n\n"), "message|1||-1\nmessage|2||-1\n", OK, 0, 0, 3},
};

/* The saturated retry value depends on the platform's LONG_MAX; that case
 * gets its expectation filled in at run time. */
static char retry_sat_want[64];

/* ---- running one case in many splits ----------------------------------- */

typedef struct {
  render r;
  int rc;
  int pending;
} outcome;

/* Feeds the input in the chunks given by cuts (ascending offsets), adding an
 * empty chunk before each cut when empties is set. */
static void run_split(const tcase *c, const size_t *cuts, size_t ncuts, int empties, outcome *o) {
  kl_sse p;
  kl_sse_init(&p, c->max ? c->max : 1 << 20);
  memset(o, 0, sizeof *o);
  o->r.abort_after = c->abort_after;
  size_t at = 0;
  o->rc = KL_SSE_OK;
  for (size_t i = 0; i <= ncuts && o->rc == KL_SSE_OK; i++) {
    size_t to = i < ncuts ? cuts[i] : c->len;
    if (empties) o->rc = kl_sse_feed(&p, c->in + at, 0, on_event, &o->r);
    if (o->rc == KL_SSE_OK) o->rc = kl_sse_feed(&p, c->in + at, to - at, on_event, &o->r);
    at = to;
  }
  o->pending = kl_sse_pending(&p);
  kl_sse_free(&p);
}

static int check(const tcase *c, const char *want, const outcome *o, const char *how) {
  int good = !o->r.overflow && strcmp(o->r.s, want) == 0 && o->rc == c->rc &&
             (c->rc != KL_SSE_OK || o->pending == c->pending);
  if (!good) {
    printf("# %s: %s\n#   got rc=%d pending=%d events:\n", c->name, how, o->rc, o->pending);
    printf("#   %s\n#   want rc=%d pending=%d events:\n#   %s\n", o->r.s, c->rc, c->pending, want);
  }
  return good;
}

static void run_case(const tcase *c) {
  const char *want = c->want;
  if (strstr(c->name, "overflow saturates")) want = retry_sat_want;
  outcome o;
  int good = 1;
  char how[64];

  run_split(c, NULL, 0, 0, &o);
  good &= check(c, want, &o, "whole");

  for (size_t i = 0; i <= c->len && good; i++) {
    size_t cuts[1] = {i};
    run_split(c, cuts, 1, 0, &o);
    snprintf(how, sizeof how, "split at %zu", i);
    good &= check(c, want, &o, how);
  }
  for (size_t i = 1; i < c->len && good; i++)
    for (size_t j = i + 1; j < c->len && good; j++) {
      size_t cuts[2] = {i, j};
      run_split(c, cuts, 2, 0, &o);
      snprintf(how, sizeof how, "split at %zu and %zu", i, j);
      good &= check(c, want, &o, how);
    }
  if (good && c->len > 0) {
    size_t *cuts = malloc(c->len * sizeof *cuts);
    if (!cuts) abort();
    for (size_t i = 0; i < c->len; i++) cuts[i] = i + 1;
    run_split(c, cuts, c->len - 1, 1, &o);
    good &= check(c, want, &o, "byte at a time with empty chunks");
    free(cuts);
  }
  ok(good, "%s", c->name);
}

/* ---- tests that are not about one stream -------------------------------- */

static int count_cb(void *ud, const kl_sse_event *ev) {
  (void)ev;
  (*(int *)ud)++;
  return 0;
}

/* Counts events and folds every field into an FNV-1a hash. */
typedef struct {
  int n;
  unsigned long long h;
} digest;

static void fold(digest *d, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) d->h = (d->h ^ (unsigned char)p[i]) * 1099511628211ull;
  d->h = (d->h ^ 0xFF) * 1099511628211ull; /* field separator */
}

static int digest_cb(void *ud, const kl_sse_event *ev) {
  digest *d = ud;
  d->n++;
  fold(d, ev->type, ev->type_len);
  fold(d, ev->data, ev->data_len);
  fold(d, ev->id, ev->id_len);
  fold(d, (const char *)&ev->retry, sizeof ev->retry);
  return 0;
}

static void test_reset(void) {
  kl_sse p;
  render r;
  memset(&r, 0, sizeof r);
  kl_sse_init(&p, 1 << 20);
  /* Leave every kind of state behind: id, type, data, partial line, CR. */
  static const char a[] = "id: 9\n\nevent: e\ndata: x\r";
  int rc = kl_sse_feed(&p, a, sizeof a - 1, on_event, &r);
  ok(rc == KL_SSE_OK && kl_sse_pending(&p) && p.events == 0, "state left before reset");
  kl_sse_reset(&p);
  ok(!kl_sse_pending(&p) && p.events == 0, "reset clears pending");
  /* After reset: the BOM is stripped again, a leading LF is a blank line
   * (not the second half of the old CRLF), and id and type are gone. */
  static const char b[] = "\xEF\xBB\xBF" "data: y\n\n";
  rc = kl_sse_feed(&p, "\n", 1, on_event, &r);
  ok(rc == KL_SSE_OK && r.len == 0, "LF after reset is a blank line, no event");
  kl_sse_reset(&p);
  rc = kl_sse_feed(&p, b, sizeof b - 1, on_event, &r);
  ok(rc == KL_SSE_OK && strcmp(r.s, "message|y||-1\n") == 0 && p.events == 1,
     "reset restores start-of-stream state");

  /* Reset after an error makes the parser usable again. */
  kl_sse_free(&p);
  kl_sse_init(&p, 8);
  memset(&r, 0, sizeof r);
  rc = kl_sse_feed(&p, "data: 0123456789\n\n", 18, on_event, &r);
  ok(rc == KL_SSE_TOO_LARGE, "too large before reset");
  kl_sse_reset(&p);
  rc = kl_sse_feed(&p, "data: ok\n\n", 10, on_event, &r);
  ok(rc == KL_SSE_OK && strcmp(r.s, "message|ok||-1\n") == 0, "usable after error and reset");
  kl_sse_free(&p);
  kl_sse_free(&p); /* free twice is harmless */
}

/* Steady state: after the first events the buffers keep their allocation. */
static void test_no_realloc(void) {
  kl_sse p;
  int n = 0;
  kl_sse_init(&p, 1 << 20);
  static const char ev[] = "event: delta\nid: 42\ndata: {\"x\":\"0123456789012345678901234567890\"}\n\n";
  int rc = kl_sse_feed(&p, ev, sizeof ev - 1, count_cb, &n);
  const char *d = p.data.data, *t = p.type.data, *i = p.id.data;
  size_t dc = p.data.cap;
  for (int k = 0; k < 1000 && rc == KL_SSE_OK; k++) {
    /* split in the middle so the carry buffer is exercised too */
    rc = kl_sse_feed(&p, ev, 20, count_cb, &n);
    if (rc == KL_SSE_OK) rc = kl_sse_feed(&p, ev + 20, sizeof ev - 1 - 20, count_cb, &n);
  }
  ok(rc == KL_SSE_OK && n == 1001 && p.events == 1001, "1001 events dispatched (%d)", n);
  ok(p.data.data == d && p.type.data == t && p.id.data == i && p.data.cap == dc,
     "no reallocation in steady state");
  kl_sse_free(&p);
}

/* A long, varied stream against one reference feed, cut at varied sizes. */
static void test_chunk_sizes(void) {
  static char big[64 * 1024];
  size_t len = 0;
  unsigned seed = 12345;
  const char *eols[] = {"\n", "\r\n", "\r"};
  while (len < sizeof big - 512) {
    seed = seed * 1103515245u + 12345u;
    const char *eol = eols[(seed >> 16) % 3];
    int k = (int)((seed >> 8) % 7);
    len += (size_t)snprintf(big + len, sizeof big - len, "%s%sid: %u%sdata: {\"n\":%u}%sdata: x%s%s",
                            k == 0 ? ": c" : "", k == 0 ? eol : "", seed % 100, eol, seed, eol,
                            eol, eol);
  }
  kl_sse p;
  digest whole = {0, 14695981039346656037ull}, d;
  kl_sse_init(&p, 1 << 20);
  int rc = kl_sse_feed(&p, big, len, digest_cb, &whole);
  kl_sse_free(&p);
  int good = rc == KL_SSE_OK && whole.n > 500;
  for (size_t cs = 1; cs <= 4099 && good; cs = cs * 2 + 1) {
    d = (digest){0, 14695981039346656037ull};
    kl_sse_init(&p, 1 << 20);
    for (size_t at = 0; at < len && rc == KL_SSE_OK; at += cs)
      rc = kl_sse_feed(&p, big + at, len - at < cs ? len - at : cs, digest_cb, &d);
    good = rc == KL_SSE_OK && d.n == whole.n && d.h == whole.h && !kl_sse_pending(&p);
    kl_sse_free(&p);
  }
  ok(good, "64 KiB mixed-EOL stream, same %d events at chunk sizes 1..4095", whole.n);
}

int main(void) {
  snprintf(retry_sat_want, sizeof retry_sat_want, "message|x||%ld\n", LONG_MAX);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
  test_reset();
  test_no_realloc();
  test_chunk_sizes();
  return tap_done();
}
