/* keel.core.json: a deterministic JSON encoder and a strict decoder.
 *
 *   json.encode(value) -> string   raises "keel.json: <what> at <JSON pointer>"
 *   json.decode(text [, opts]) -> value | nil, "keel.json: <what> at byte N
 *                                  (line L, column C)"; raises only on misuse
 *                                  (text not a string, bad opts)
 *   json.null                      lightuserdata NULL (== cjson.null) <-> null
 *   json.array_mt                  a table with it is always an array ({} -> [])
 *   json.array(t)                  setmetatable(t or {}, array_mt), returns t
 *
 * Why not lua-cjson: Debian's 2.1.0 writes {} for an empty array, keys in
 * hash order and floats with 14 digits, and decodes [] as a plain {} and every
 * number as a float under 5.4. keel needs `[]` in tool schemas and tool
 * inputs, the same bytes for the same value under Lua 5.4 and LuaJIT (cache
 * keys, cassettes), floats that round-trip and integer token counts.
 *
 * Decoding (the parser is src/core/jsondec.c, which has the full rules): RFC
 * 8259, strictly. Arrays are tables with array_mt, so encode(decode(s)) == s
 * for canonical s ([] stays []); objects are plain tables, the last of
 * duplicate keys winning (as JSON.parse); null is json.null. An integer
 * literal that fits int64 is a Lua integer under 5.4 ("-0" is 0; LuaJIT: the
 * nearest double); any other number is a float, correctly rounded whatever
 * LC_NUMERIC says; beyond a double's range is an error. opts.max_depth
 * (1..1000, default 1000) limits nesting. A leading BOM is an error.
 *
 * Rules: strings must be valid UTF-8 (RFC 3629: no overlongs, surrogates or
 * values above U+10FFFF) and are escaped per RFC 8259, plus DEL as \u007f.
 * Integers print as integers; a float with an integral value below 2^53 in
 * magnitude prints as an integer too, so both runtimes agree (-0.0 -> 0);
 * other floats print in the shortest of %.15g/%.16g/%.17g that reads back
 * as the same double; NaN and infinities raise. A table with array_mt, or
 * with keys exactly 1..n, is an array; a table with only string keys is an
 * object with its keys in bytewise order; {} is {}; anything else raises.
 * Metatables other than array_mt are ignored (raw access only), so encoding
 * never runs Lua code.
 *
 * Errors name the first offending value in output order by its JSON pointer
 * (RFC 6901, indexes from 0, "(root)" for the value itself, cut to about 200
 * bytes); a table's keys are all checked before its values are written, so
 * the message is the same on every runtime.
 *
 * Memory: the output buffer and the key scratch array live in a userdata with
 * __gc, so nothing leaks when an error unwinds midway. One such state is kept
 * as an upvalue and reused, so a typical call allocates only its result.
 * Strings and tables being encoded stay referenced from the Lua stack, except
 * in objects too big for the stack (more than STACK_PAIRS_MAX keys), whose key
 * strings are referenced by the table only: the table must not be changed
 * while it is encoded (only a __gc finalizer running mid-encode could).
 * The decoder builds its values on the Lua stack (nothing to free if an
 * allocation raises) and keeps the parser's scratch buffer in a userdata
 * state of its own, reused the same way. */
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../core/buf.h"
#include "../core/jsondec.h"

#define JSON_MAX_DEPTH 128
#define JSON_MAX_OUTPUT ((size_t)1 << 30) /* LuaJIT strings stop just under 2 GiB */
#define JSON_KEEP_BYTES ((size_t)1 << 20) /* larger buffers are freed after a call */
#define STACK_PAIRS_MAX 1024 /* object pairs held on the Lua stack (LuaJIT: ~65k slots) */
#define SMALL_KEYS 32        /* objects up to this many keys sort in a C array */
#define POINTER_MAX 200      /* bytes of JSON pointer shown in an error */
#define ARRAY_MT "keel.json.array"
#define STATE_MT "keel.json.state"

/* Upvalues of encode. */
#define UV_STATE lua_upvalueindex(1)
#define UV_ARRAY_MT lua_upvalueindex(2)
#define UV_STATE_MT lua_upvalueindex(3)

typedef struct {
  const char *s;
  size_t len;
  int slot; /* stack index of the value (stack mode only) */
} jkey;

/* One step of the path to the value being encoded: a key or an index. */
typedef struct {
  const char *key; /* NULL for an array index */
  size_t klen;
  lua_Integer idx; /* 0-based, as in a JSON pointer */
} jstep;

typedef struct {
  kl_buf out;
  jkey *keys; /* scratch for sorting big objects; a stack, one segment per object */
  size_t nkeys, capkeys;
  int busy;   /* in use by an encode: a re-entrant call takes a fresh state */
  jstep path[JSON_MAX_DEPTH + 1]; /* path[d] leads to the value at depth d */
} jstate;

typedef struct {
  lua_State *L;
  jstate *st;
  kl_buf *b;
} enc;

/* ---- errors ---------------------------------------------------------------- */

typedef struct {
  char *p, *end;
} sbuf;

static int sb_put(sbuf *s, const char *t, size_t n) {
  if ((size_t)(s->end - s->p) < n) return 0;
  memcpy(s->p, t, n);
  s->p += n;
  return 1;
}

/* Appends "/" and one key, escaped per RFC 6901 (~0, ~1); bytes that would
 * garble the message (controls, DEL, invalid UTF-8) appear as \xNN. When the
 * key does not fit, stops at a whole unit and returns 0; p is left where it
 * was if none of the key fitted. */
static int ptr_key(sbuf *s, const char *k, size_t len) {
  char *start = s->p;
  if (!sb_put(s, "/", 1)) return 0;
  for (size_t i = 0; i < len;) {
    unsigned char c = (unsigned char)k[i];
    char tmp[8];
    size_t n = 1, m;
    if (c == '~') memcpy(tmp, "~0", m = 2);
    else if (c == '/') memcpy(tmp, "~1", m = 2);
    else if (c < 0x20 || c == 0x7f) m = (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", c);
    else if (c < 0x80) tmp[0] = (char)c, m = 1;
    else if ((n = kl_utf8_seq((const unsigned char *)k + i, len - i)) != 0) memcpy(tmp, k + i, m = n);
    else n = 1, m = (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", c);
    if (!sb_put(s, tmp, m)) {
      if (s->p == start + 1) s->p = start;
      return 0;
    }
    i += n;
  }
  return 1;
}

/* Writes the JSON pointer of the value at depth: at most POINTER_MAX bytes,
 * then "..." (inside a key) or "/..." when cut. s must have POINTER_MAX + 4
 * bytes of room. */
static void put_pointer(sbuf *s, const jstate *st, int depth) {
  if (depth == 0) {
    sb_put(s, "(root)", 6);
    return;
  }
  sbuf ps = {s->p, s->p + POINTER_MAX};
  for (int d = 1; d <= depth; d++) {
    const jstep *step = &st->path[d];
    char *before = ps.p;
    int whole;
    if (step->key) {
      whole = ptr_key(&ps, step->key, step->klen);
    } else {
      char tmp[32];
      whole = sb_put(&ps, tmp, (size_t)snprintf(tmp, sizeof tmp, "/%lld", (long long)step->idx));
    }
    if (!whole) {
      ps.end += 4; /* the room held back for the marker */
      if (ps.p == before) sb_put(&ps, "/...", 4);
      else sb_put(&ps, "...", 3);
      break;
    }
  }
  s->p = ps.p;
}

/* Called on every way out of an encode (a raise or a result): frees the
 * shared state for the next call and drops buffers a huge value grew. */
static void release(jstate *st) {
  st->busy = 0;
  if (st->out.cap > JSON_KEEP_BYTES) kl_buf_free(&st->out);
  if (st->capkeys > 4096) {
    free(st->keys);
    st->keys = NULL;
    st->nkeys = st->capkeys = 0;
  }
}

/* Raises "keel.json: <what> at <pointer to the value at depth>". */
static void json_fail(enc *e, int depth, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static void json_fail(enc *e, int depth, const char *fmt, ...) {
  char msg[128 + POINTER_MAX + 8];
  const size_t head = sizeof "keel.json: " - 1, what = 100;
  memcpy(msg, "keel.json: ", head);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg + head, what, fmt, ap);
  va_end(ap);
  sbuf s = {msg + head + (n < 0 ? 0 : (size_t)n < what ? (size_t)n : what - 1), msg + sizeof msg};
  sb_put(&s, " at ", 4);
  put_pointer(&s, e->st, depth);
  release(e->st);
  lua_pushlstring(e->L, msg, (size_t)(s.p - msg));
  lua_error(e->L);
  __builtin_unreachable(); /* lua_error longjmps; lua.h just doesn't say so */
}

/* ---- output ------------------------------------------------------------------ */

static void grow(enc *e, size_t n) {
  if (kl_buf_reserve(e->b, n) != 0) {
    lua_State *L = e->L;
    int too_big = n > JSON_MAX_OUTPUT - e->b->len;
    release(e->st);
    if (too_big) luaL_error(L, "keel.json: output larger than %d MiB", (int)(JSON_MAX_OUTPUT >> 20));
    luaL_error(L, "keel.json: out of memory");
  }
}

/* Room for n more bytes (kl_buf keeps one spare for its NUL). */
static inline char *room(enc *e, size_t n) {
  kl_buf *b = e->b;
  if (b->cap - b->len <= n) grow(e, n);
  return b->data + b->len;
}

static inline void put(enc *e, const char *s, size_t n) {
  char *o = room(e, n);
  if (n <= 16) { /* keys and literals: cheaper than a call to memcpy */
    for (size_t i = 0; i < n; i++) o[i] = s[i];
  } else {
    memcpy(o, s, n);
  }
  e->b->len += n;
}

static inline void putc_(enc *e, char c) {
  *room(e, 1) = c;
  e->b->len++;
}

/* ---- strings ----------------------------------------------------------------- */

/* What each byte needs in a string: 0 copy, 'u' \u00XX, 8 start of a
 * multi-byte UTF-8 sequence (validated), any other value: the letter after a
 * backslash. */
static const unsigned char esc[256] = {
  'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
  'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
  0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'u',
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
};

/* Is any byte of the 8 in w one that esc[] marks? (< 0x20, '"', '\\', >= 0x7f) */
static inline int word_special(uint64_t w) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t lt20 = (w - ones * 0x20) & ~w;
  uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
  uint64_t isq = (q - ones) & ~q, isbs = (bs - ones) & ~bs;
  uint64_t ge7f = (w + ones * 0x01) | w; /* high bit set: byte >= 0x7f (or >= 0x80) */
  return ((lt20 | isq | isbs | ge7f) & high) != 0;
}

/* Writes s as a JSON string; is_key only changes the error message (the
 * caller has put the key on the path). */
static void put_string(enc *e, const char *s, size_t len, int depth, int is_key) {
  static const char hex[] = "0123456789abcdef";
  /* The common case, nothing to escape: check and copy 8 bytes at a time,
   * the tail padded with harmless bytes (so 8 bytes of slack). */
  char *o = room(e, len + 2 + 8);
  size_t i = 0, run = 0;
  uint64_t w;
  *o++ = '"';
  for (; len - i >= 8; i += 8) {
    memcpy(&w, s + i, 8);
    if (word_special(w)) goto slow;
    memcpy(o + i, &w, 8);
  }
  w = 0x6161616161616161ull; /* "aaaaaaaa" */
  memcpy(&w, s + i, len - i);
  if (word_special(w)) goto slow;
  memcpy(o + i, &w, 8);
  o[len] = '"';
  e->b->len += len + 2;
  return;

slow:
  /* s[0..i) is plain and already copied. */
  e->b->len += 1 + i;
  run = i;
  while (i < len) {
    /* Skip 8 plain ASCII bytes at a time: most text has no escapes. */
    while (len - i >= 8) {
      memcpy(&w, s + i, 8);
      if (word_special(w)) break;
      i += 8;
    }
    /* Then the word that stopped it, byte by byte. */
    size_t stop = len - i > 8 ? i + 8 : len;
    while (i < stop) {
      unsigned char c = (unsigned char)s[i];
      unsigned k = esc[c];
      if (k == 0) {
        i++;
        continue;
      }
      if (k == 8) {
        size_t m = kl_utf8_seq((const unsigned char *)s + i, len - i);
        if (!m) json_fail(e, depth, is_key ? "invalid UTF-8 in object key" : "invalid UTF-8 in string");
        i += m;
        continue;
      }
      put(e, s + run, i - run);
      o = room(e, 6 + (len - i)); /* the escape and the rest if it needs none */
      o[0] = '\\';
      if (k == 'u') {
        memcpy(o + 1, "u00", 3);
        o[4] = hex[c >> 4];
        o[5] = hex[c & 15];
        e->b->len += 6;
      } else {
        o[1] = (char)k;
        e->b->len += 2;
      }
      run = ++i;
    }
  }
  put(e, s + run, len - run);
  putc_(e, '"');
}

/* ---- numbers ----------------------------------------------------------------- */

static char *fmt_int(char *p, lua_Integer v) {
  static const char pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";
  char tmp[24], *t = tmp + sizeof tmp;
  unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
  if (v < 0) *p++ = '-';
  if (u < 10) { /* the common case: counts, flags, indexes */
    *p++ = (char)('0' + u);
    return p;
  }
  while (u >= 100) { /* two digits per division */
    t -= 2;
    memcpy(t, pairs + 2 * (u % 100), 2);
    u /= 100;
  }
  if (u >= 10) {
    t -= 2;
    memcpy(t, pairs + 2 * u, 2);
  } else {
    *--t = (char)('0' + u);
  }
  size_t n = (size_t)(tmp + sizeof tmp - t);
  memcpy(p, t, n);
  return p + n;
}

/* The locale's decimal point (a "," or even two bytes) becomes ".". */
static size_t fix_decimal_point(char *s, size_t n) {
  size_t i = 0;
  while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '-')) i++;
  if (i == n || s[i] == '.' || s[i] == 'e') return n;
  size_t dl = strlen(localeconv()->decimal_point);
  if (dl == 0 || i + dl > n) return n;
  s[i] = '.';
  memmove(s + i + 1, s + i + dl, n - i - dl);
  return n - dl + 1;
}

/* Writes finite d; returns the length. At least 32 bytes at p. */
static size_t fmt_double(char *p, double d) {
  static const double two53 = 9007199254740992.0;
  if (d > -two53 && d < two53) {
    lua_Integer i = (lua_Integer)d;
    if ((double)i == d) return (size_t)(fmt_int(p, i) - p); /* also -0.0 -> "0" */
    /* Short decimals (0.7, 123.45) without printf: if m = d*10^k is an
     * integer and m/10^k == d (both correctly rounded, m and 10^k exact), the
     * decimal m/10^k reads back as d; with at most 15 digits and
     * 1e-4 <= |d| < 1e14 it is exactly what %.15g prints. */
    double a = fabs(d);
    if (a >= 1e-4 && a < 1e14) {
      double scale = 1;
      for (int k = 1; k <= 8; k++) {
        scale *= 10;
        double m = d * scale;
        if (fabs(m) >= 1e15) break;
        if (m == floor(m) && m / scale == d) {
          unsigned long long u = (unsigned long long)fabs(m), pk = (unsigned long long)scale;
          char *q = p;
          if (d < 0) *q++ = '-';
          q = fmt_int(q, (lua_Integer)(u / pk));
          *q++ = '.';
          unsigned long long f = u % pk;
          for (int j = k - 1; j >= 0; j--) q[j] = (char)('0' + f % 10), f /= 10;
          q += k;
          while (q[-1] == '0') q--; /* f != 0, so a digit stays */
          return (size_t)(q - p);
        }
      }
    }
  }
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(p, 32, "%.*g", prec, d);
    if (prec == 17 || strtod(p, NULL) == d) break;
  }
  return fix_decimal_point(p, (size_t)n);
}

static void put_number(enc *e, int idx, int depth) {
  lua_State *L = e->L;
  char *o;
#if LUA_VERSION_NUM >= 503
  /* One call for the usual small integers: lua_tointegerx also accepts
   * integral floats, which print the same below 2^53. */
  int isint;
  lua_Integer i = lua_tointegerx(L, idx, &isint);
  if (isint && ((i > -((lua_Integer)1 << 53) && i < ((lua_Integer)1 << 53)) || lua_isinteger(L, idx))) {
    o = room(e, 24);
    e->b->len += (size_t)(fmt_int(o, i) - o);
    return;
  }
#endif
  double d = lua_tonumber(L, idx);
  if (!isfinite(d)) {
    json_fail(e, depth, "NaN or infinity");
    return;
  }
  o = room(e, 32);
  e->b->len += fmt_double(o, d);
}

/* ---- tables ------------------------------------------------------------------ */

static void enc_value(enc *e, int idx, int depth);

/* Is the key at i an integer (5.4: an integer key; LuaJIT: an integral
 * double)? Float keys with integral values are integers in 5.3+ anyway. */
static int key_index(lua_State *L, int i, lua_Integer *out) {
#if LUA_VERSION_NUM >= 503
  if (lua_isinteger(L, i)) {
    *out = lua_tointeger(L, i);
    return 1;
  }
  return 0;
#else
  if (lua_type(L, i) != LUA_TNUMBER) return 0;
  double d = lua_tonumber(L, i);
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d)) return 0;
  *out = (lua_Integer)d;
  return 1;
#endif
}

/* Raises for a table at t whose keys make it neither an array nor an
 * object. It looks at all the keys first, so the message does not depend on
 * the order lua_next happens to give them in (which differs between
 * runtimes and table histories). */
static void bad_keys(enc *e, int t, int depth, int is_arr) __attribute__((noreturn));
static void bad_keys(enc *e, int t, int depth, int is_arr) {
  lua_State *L = e->L;
  int strings = 0, indexes = 0, odd = LUA_TNONE; /* odd: lowest unsupported key type */
  lua_Integer k;
  if (lua_checkstack(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, t)) {
      int kt = lua_type(L, -2);
      if (kt == LUA_TSTRING) strings = 1;
      else if (key_index(L, -2, &k)) indexes = 1;
      else if (odd == LUA_TNONE || kt < odd) odd = kt;
      lua_pop(L, 1);
    }
  }
  if (odd == LUA_TNUMBER) json_fail(e, depth, "unsupported table key (a non-integer number)");
  if (odd == LUA_TLIGHTUSERDATA) json_fail(e, depth, "unsupported table key (a light userdata)");
  if (odd != LUA_TNONE) json_fail(e, depth, "unsupported table key (a %s)", lua_typename(L, odd));
  if (is_arr && strings) json_fail(e, depth, "string key in a json.array");
  if (strings && indexes) json_fail(e, depth, "mixed table keys");
  json_fail(e, depth, "sparse array");
}

/* Array elements: the first key/value pair from lua_next is at base+1/+2.
 * The keys are checked first (distinct integers, all >= 1, as many as the
 * largest: exactly 1..n), then the elements are written by index. Checking
 * first keeps which error is reported independent of traversal order. */
static void enc_array(enc *e, int t, int depth, int base, int is_arr) {
  lua_State *L = e->L;
  jstep *step = &e->st->path[depth + 1];
  lua_Integer n = 0, maxk = 0, k;
  do {
    if (!key_index(L, base + 1, &k) || k < 1) bad_keys(e, t, depth, is_arr);
    n++;
    if (k > maxk) maxk = k;
    lua_settop(L, base + 1);
  } while (lua_next(L, t));
  if (maxk != n) bad_keys(e, t, depth, is_arr);
  putc_(e, '[');
  for (lua_Integer i = 1; i <= n; i++) {
    keel_rawgeti(L, t, i);
    if (i > 1) putc_(e, ',');
    step->key = NULL; /* a nested value may have used the slot */
    step->idx = i - 1;
    enc_value(e, base + 1, depth + 1);
    lua_settop(L, base);
  }
  putc_(e, ']');
}

static int key_less(const jkey *a, const jkey *b) {
  /* Keys mostly differ in their first byte: decide that without memcmp. */
  if (a->len && b->len && a->s[0] != b->s[0])
    return (unsigned char)a->s[0] < (unsigned char)b->s[0];
  size_t m = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->s, b->s, m);
  return c < 0 || (c == 0 && a->len < b->len);
}

static int key_cmp(const void *pa, const void *pb) {
  const jkey *a = pa, *b = pb;
  return key_less(a, b) ? -1 : key_less(b, a) ? 1 : 0;
}

static void sort_keys(jkey *k, size_t n) {
  if (n > 16) {
    qsort(k, n, sizeof *k, key_cmp);
    return;
  }
  for (size_t i = 1; i < n; i++) { /* insertion sort: requests have few keys */
    jkey x = k[i];
    size_t j = i;
    for (; j > 0 && key_less(&x, &k[j - 1]); j--) k[j] = k[j - 1];
    k[j] = x;
  }
}

/* n more entries on the scratch stack; returns the index of the first. */
static size_t scratch_push(enc *e, size_t n) {
  jstate *st = e->st;
  if (st->capkeys - st->nkeys < n) {
    size_t cap = st->capkeys ? st->capkeys : 64;
    while (cap - st->nkeys < n) cap *= 2;
    jkey *p = realloc(st->keys, cap * sizeof *p);
    if (!p) {
      release(st);
      luaL_error(e->L, "keel.json: out of memory");
    }
    st->keys = p;
    st->capkeys = cap;
  }
  size_t at = st->nkeys;
  st->nkeys += n;
  return at;
}

/* Writes one member: the key (already on the path) and the value at slot. */
static void put_member(enc *e, const jkey *k, int first, int slot, int depth) {
  jstep *step = &e->st->path[depth + 1];
  if (!first) putc_(e, ',');
  step->key = k->s;
  step->klen = k->len;
  put_string(e, k->s, k->len, depth + 1, 1);
  putc_(e, ':');
  enc_value(e, slot, depth + 1);
}

/* An object too big for the Lua stack: sort pointers to the key strings
 * (kept alive by the table) and look each value up. */
static void enc_object_big(enc *e, int t, int depth, int base) {
  lua_State *L = e->L;
  jstate *st = e->st;
  size_t mark = st->nkeys, n = 0;
  lua_settop(L, base);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING) bad_keys(e, t, depth, 0);
    size_t at = scratch_push(e, 1);
    st->keys[at].s = lua_tolstring(L, -2, &st->keys[at].len);
    n++;
    lua_pop(L, 1);
  }
  sort_keys(st->keys + mark, n);
  putc_(e, '{');
  for (size_t j = 0; j < n; j++) {
    jkey k = st->keys[mark + j]; /* a copy: nested objects may move the array */
    lua_pushlstring(L, k.s, k.len);
    lua_rawget(L, t);
    put_member(e, &k, j == 0, base + 1, depth);
    lua_settop(L, base);
  }
  putc_(e, '}');
  st->nkeys = mark;
}

/* Object members: the first pair (a string key) is at base+1/+2. Pairs are
 * collected on the Lua stack (keeping keys and values alive and saving a
 * lookup per member), their keys sorted, then written in order. */
static void enc_object(enc *e, int t, int depth, int base) {
  lua_State *L = e->L;
  jstate *st = e->st;
  int n = 0;
  for (;;) {
    if (lua_type(L, -2) != LUA_TSTRING) bad_keys(e, t, depth, 0);
    /* Room for 16 more pairs at a time: one check, not one per pair. */
    if ((n++ & 15) == 0 && (n >= STACK_PAIRS_MAX || !lua_checkstack(L, 2 * 16 + 1))) {
      enc_object_big(e, t, depth, base);
      return;
    }
    lua_pushvalue(L, -2);
    if (!lua_next(L, t)) break;
  }
  jkey small[SMALL_KEYS], *keys = small;
  size_t mark = st->nkeys;
  if (n > SMALL_KEYS) {
    size_t at = scratch_push(e, (size_t)n); /* may move st->keys: read it after */
    keys = st->keys + at;
  }
  for (int j = 0; j < n; j++) {
    keys[j].s = lua_tolstring(L, base + 1 + 2 * j, &keys[j].len);
    keys[j].slot = base + 2 + 2 * j;
  }
  sort_keys(keys, (size_t)n);
  putc_(e, '{');
  for (int j = 0; j < n; j++) {
    /* A copy: nested objects may move the scratch array. */
    jkey k = n > SMALL_KEYS ? st->keys[mark + (size_t)j] : small[j];
    put_member(e, &k, j == 0, k.slot, depth);
  }
  putc_(e, '}');
  st->nkeys = mark;
  lua_settop(L, base);
}

static void enc_table(enc *e, int t, int depth) {
  lua_State *L = e->L;
  if (depth >= JSON_MAX_DEPTH)
    json_fail(e, depth, "nesting deeper than %d (a cycle?)", JSON_MAX_DEPTH);
  if (!lua_checkstack(L, 4)) json_fail(e, depth, "Lua stack exhausted");
  int is_arr = 0;
  if (lua_getmetatable(L, t)) {
    is_arr = lua_rawequal(L, -1, UV_ARRAY_MT);
    lua_pop(L, 1);
  }
  int base = lua_gettop(L);
  lua_pushnil(L);
  if (!lua_next(L, t)) {
    put(e, is_arr ? "[]" : "{}", 2);
    return;
  }
  if (is_arr || lua_type(L, -2) != LUA_TSTRING)
    enc_array(e, t, depth, base, is_arr);
  else
    enc_object(e, t, depth, base);
  lua_settop(L, base);
}

static void enc_value(enc *e, int idx, int depth) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    put(e, "null", 4);
    break;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx)) put(e, "true", 4);
    else put(e, "false", 5);
    break;
  case LUA_TNUMBER:
    put_number(e, idx, depth);
    break;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    put_string(e, s, len, depth, 0);
    break;
  }
  case LUA_TTABLE:
    enc_table(e, idx, depth);
    break;
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) {
      put(e, "null", 4);
      break;
    }
    json_fail(e, depth, "cannot encode a light userdata");
    break;
  default:
    json_fail(e, depth, "cannot encode a %s", luaL_typename(L, idx));
  }
}

/* ---- decoding ------------------------------------------------------------------ */

/* Tables are built on the Lua stack: a container's members are pushed above
 * a placeholder slot and stored in batches, the first batch into a table
 * made with room for exactly that many (so small objects and arrays, the
 * usual case, are sized once, never rehashed). Frames at depth < DEC_SHALLOW
 * gather up to DEC_CHUNK members; deeper ones store each member at once, so
 * 1000 levels take about 2 slots each: under LuaJIT's 8000-slot limit on a
 * C function's stack, whatever the input. */
#define DEC_SHALLOW 16
#define DEC_CHUNK 64
#define DEC_KEEP_SCRATCH ((size_t)1 << 20) /* a larger scratch is freed after a call */
#define DSTATE_MT "keel.json.dstate"

/* Upvalues of decode. */
#define UV_DSTATE lua_upvalueindex(1)
#define UV_DARRAY_MT lua_upvalueindex(2)
#define UV_DSTATE_MT lua_upvalueindex(3)

typedef struct {
  int base;      /* stack slot of the table (a nil placeholder until it is made) */
  int is_object;
  int made;
  int limit;     /* members gathered before they are stored */
  int pending;   /* members on the stack above base (key/value pairs for objects) */
  lua_Integer n; /* array elements stored so far */
} dframe;

typedef struct {
  kl_jd p;       /* owns the scratch buffer for strings with escapes */
  int busy;      /* in use by a decode: a re-entrant call takes a fresh state */
  dframe f[KL_JD_MAX_DEPTH + 1];
} dstate;

static inline void seti(lua_State *L, int t, lua_Integer i) {
#if LUA_VERSION_NUM >= 503
  lua_rawseti(L, t, i);
#else
  lua_rawseti(L, t, (int)i);
#endif
}

/* Stores the pending members of f into its table (made now if need be) and
 * leaves the table on top. Object members are set in input order, so the
 * last of duplicate keys wins. */
static void store(lua_State *L, dframe *f) {
  int base = f->base, k = f->pending;
  if (!f->made) {
    lua_createtable(L, f->is_object ? 0 : k, f->is_object ? k : 0);
    lua_replace(L, base);
    f->made = 1;
    if (!f->is_object) { /* into the array part sized for them: pop from the top */
      for (int i = k; i >= 1; i--) seti(L, base, f->n + i);
      f->n += k;
      f->pending = 0;
      return;
    }
  }
  if (f->is_object) {
    for (int i = 0; i < k; i++) {
      lua_pushvalue(L, base + 1 + 2 * i);
      lua_pushvalue(L, base + 2 + 2 * i);
      lua_rawset(L, base);
    }
  } else {
    for (int i = 1; i <= k; i++) { /* in order: the table grows as it would */
      lua_pushvalue(L, base + i);
      seti(L, base, f->n + i);
    }
    f->n += k;
  }
  f->pending = 0;
  lua_settop(L, base);
}

static void dstate_release(dstate *st) {
  st->busy = 0;
  if (st->p.scratch.cap > DEC_KEEP_SCRATCH) kl_buf_free(&st->p.scratch);
}

static int dstate_gc(lua_State *L) {
  dstate *st = lua_touserdata(L, 1);
  kl_jd_free(&st->p);
  return 0;
}

/* Pushes a new decoder state; its metatable is at mt. */
static dstate *new_dstate(lua_State *L, int mt) {
  dstate *st = lua_newuserdatauv(L, sizeof *st, 0);
  kl_jd_init(&st->p);
  st->busy = 0;
  lua_pushvalue(L, mt);
  lua_setmetatable(L, -2);
  return st;
}

static int l_decode(lua_State *L) {
  size_t len;
  luaL_checktype(L, 1, LUA_TSTRING);
  const char *text = lua_tolstring(L, 1, &len);
  int max_depth = KL_JD_MAX_DEPTH;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer md = keel_optintfield(L, 2, "max_depth", KL_JD_MAX_DEPTH);
    luaL_argcheck(L, md >= 1 && md <= KL_JD_MAX_DEPTH, 2, "max_depth must be 1..1000");
    max_depth = (int)md;
  }
  lua_settop(L, 1);
  dstate *st = lua_touserdata(L, UV_DSTATE);
  /* Busy: a finalizer running mid-decode called decode again, or an earlier
   * call died of out-of-memory inside a Lua API call. */
  if (st->busy) st = new_dstate(L, UV_DSTATE_MT);
  st->busy = 1;
  kl_jd *p = &st->p;
  kl_jd_start(p, text, len, max_depth);
  dframe *f = NULL;
  int depth = 0;
  for (;;) {
    switch (kl_jd_next(p)) {
    case KL_JD_OBJECT:
    case KL_JD_ARRAY: {
      int limit = depth < DEC_SHALLOW ? DEC_CHUNK : 1;
      if (!lua_checkstack(L, 2 * limit + 4)) {
        kl_jd_fail(p, KL_JD_E_STACK, (size_t)(p->raw - text));
        goto fail;
      }
      lua_pushnil(L);
      f = &st->f[++depth];
      f->base = lua_gettop(L);
      f->is_object = *p->raw == '{';
      f->made = 0;
      f->limit = limit;
      f->pending = 0;
      f->n = 0;
      continue;
    }
    case KL_JD_OBJECT_END:
    case KL_JD_ARRAY_END:
      if (f->pending || !f->made) store(L, f);
      if (!f->is_object) {
        lua_pushvalue(L, UV_DARRAY_MT);
        lua_setmetatable(L, f->base);
      }
      f = --depth ? &st->f[depth] : NULL;
      break;
    case KL_JD_KEY:
      lua_pushlstring(L, p->str, p->len);
      continue;
    case KL_JD_STRING:
      lua_pushlstring(L, p->str, p->len);
      break;
    case KL_JD_INT:
#if LUA_VERSION_NUM >= 503
      lua_pushinteger(L, (lua_Integer)p->i);
#else
      lua_pushnumber(L, (lua_Number)p->i); /* beyond 2^53: the nearest double */
#endif
      break;
    case KL_JD_DOUBLE:
      lua_pushnumber(L, p->d);
      break;
    case KL_JD_TRUE:
      lua_pushboolean(L, 1);
      break;
    case KL_JD_FALSE:
      lua_pushboolean(L, 0);
      break;
    case KL_JD_NULL:
      lua_pushlightuserdata(L, NULL);
      break;
    case KL_JD_END:
      dstate_release(st);
      return 1;
    default:
      goto fail;
    }
    if (f && ++f->pending >= f->limit) store(L, f);
  }

fail: {
  char msg[160];
  int nomem = p->err == KL_JD_E_NOMEM;
  memcpy(msg, "keel.json: ", 11);
  kl_jd_errmsg(p, msg + 11, sizeof msg - 11);
  dstate_release(st);
  if (nomem) luaL_error(L, "keel.json: out of memory");
  lua_settop(L, 1);
  lua_pushnil(L);
  lua_pushstring(L, msg);
  return 2;
}
}

/* ---- the module ---------------------------------------------------------------- */

static int state_gc(lua_State *L) {
  jstate *st = lua_touserdata(L, 1);
  kl_buf_free(&st->out);
  free(st->keys);
  st->keys = NULL;
  st->nkeys = st->capkeys = 0;
  return 0;
}

/* Pushes a new state; its metatable is at mt. */
static jstate *new_state(lua_State *L, int mt) {
  jstate *st = lua_newuserdatauv(L, sizeof *st, 0);
  kl_buf_init(&st->out, JSON_MAX_OUTPUT);
  st->keys = NULL;
  st->nkeys = st->capkeys = 0;
  st->busy = 0;
  lua_pushvalue(L, mt);
  lua_setmetatable(L, -2);
  return st;
}

static int l_encode(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  jstate *st = lua_touserdata(L, UV_STATE);
  /* Busy means a finalizer running mid-encode called encode again, or an
   * earlier call died of out-of-memory inside a Lua API call (the only exit
   * that does not clear the flag): either way use a state of our own. */
  if (st->busy) st = new_state(L, UV_STATE_MT);
  st->busy = 1;
  st->out.len = 0;
  st->nkeys = 0;
  enc e = {L, st, &st->out};
  enc_value(&e, 1, 0);
  /* Still busy while the result is copied: LuaJIT may run a finalizer (a
   * GC step) before it copies, and one that encodes must not reuse out. */
  lua_pushlstring(L, st->out.data ? st->out.data : "", st->out.len);
  release(st);
  return 1;
}

static int l_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  } else {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, 1);
  return 1;
}

static const luaL_Reg state_meta[] = {
  {"__gc", state_gc},
  {NULL, NULL}
};

static const luaL_Reg dstate_meta[] = {
  {"__gc", dstate_gc},
  {NULL, NULL}
};

static const luaL_Reg no_methods[] = {
  {NULL, NULL}
};

KEEL_API int luaopen_keel_core_json(lua_State *L) {
  keel_new_class(L, STATE_MT, state_meta, no_methods);
  lua_createtable(L, 0, 5);
  int mod = lua_gettop(L);

  /* In the registry too, so other bindings (a YAML or JSON decoder) can mark
   * the arrays they build. */
  luaL_newmetatable(L, ARRAY_MT);
  lua_pushliteral(L, ARRAY_MT);
  lua_setfield(L, -2, "__name");
  int mt = lua_gettop(L);

  lua_pushvalue(L, mt);
  lua_pushcclosure(L, l_array, 1);
  lua_setfield(L, mod, "array");

  luaL_getmetatable(L, STATE_MT);
  new_state(L, lua_gettop(L)); /* the shared state */
  lua_pushvalue(L, mt);
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_encode, 3);
  lua_setfield(L, mod, "encode");
  lua_pop(L, 1); /* the state metatable */

  keel_new_class(L, DSTATE_MT, dstate_meta, no_methods);
  luaL_getmetatable(L, DSTATE_MT);
  int dmt = lua_gettop(L);
  new_dstate(L, dmt); /* the shared decoder state */
  lua_pushvalue(L, mt);
  lua_pushvalue(L, dmt);
  lua_pushcclosure(L, l_decode, 3);
  lua_setfield(L, mod, "decode");
  lua_pop(L, 1); /* the decoder state metatable */

  lua_setfield(L, mod, "array_mt");
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, mod, "null");
  return 1;
}
