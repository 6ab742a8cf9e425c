/* keel.core.yaml: YAML text to Lua values, built on libyaml's event API.
 *
 *   local value, marks = yaml.load(text [, name])  -- raises "name:LINE:COL: message"
 *   yaml.null                                      -- lightuserdata NULL, as cjson.null
 *
 * Mappings and sequences become tables, plain scalars resolve by the YAML 1.2
 * core schema, keys stay strings (config keys are names), aliases return the
 * same table as their anchor, and `<<` merges. marks[tbl] holds the 1-based
 * positions a config loader needs to point at a key or a value:
 *   { line=, col=, keys = {[k] = {line=, col=}}, values = {[k] = {line=, col=}} }
 * (sequences have no `keys`; that absence is also how merges tell the kinds
 * apart).
 *
 * Integers are exact or an error, never wrapped: hex/octal and !!int past
 * the range raise; an untagged decimal past it is read as a float, as JSON
 * parsers do (the range is int64 on 5.4, +-2^53 on LuaJIT).
 *
 * The parser and its current event live in a userdata with __gc, so a raise
 * from any Lua call (out of memory while building tables) leaves them to the
 * collector; the loader's own errors free them at once. The event API hands
 * control back between events, so no Lua call ever runs inside a libyaml
 * frame. */
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common.h"

#define YAML_MT "keel.yaml.parser"
#define YAML_MAX_DEPTH 200
#define TAG_PREFIX "tag:yaml.org,2002:"
#define TAG_PREFIX_LEN (sizeof TAG_PREFIX - 1)

/* The largest integer magnitudes pushed exactly. LuaJIT numbers are doubles:
 * past 2^53 an integer would round silently, so it is out of range there. */
#if LUA_VERSION_NUM >= 503
#define INT_POS_LIMIT ((uint64_t)INT64_MAX)
#define INT_NEG_LIMIT ((uint64_t)INT64_MAX + 1)
#else
#define INT_POS_LIMIT ((uint64_t)1 << 53)
#define INT_NEG_LIMIT ((uint64_t)1 << 53)
#endif

typedef struct {
  yaml_parser_t parser;
  yaml_event_t event;
  int parser_ready; /* yaml_parser_initialize succeeded, not yet deleted */
  int event_ready;  /* event holds a parsed event, not yet deleted */
} yaml_box;

/* Idempotent: used by __gc, on success and before raising. */
static void box_free(yaml_box *b) {
  if (b->event_ready) {
    b->event_ready = 0;
    yaml_event_delete(&b->event);
  }
  if (b->parser_ready) {
    b->parser_ready = 0;
    yaml_parser_delete(&b->parser);
  }
}

static int box_gc(lua_State *L) {
  box_free(luaL_checkudata(L, 1, YAML_MT));
  return 0;
}

typedef struct {
  lua_State *L;
  yaml_box *b;
  const char *name; /* for messages; a string on the Lua stack */
  const char *text;
  size_t len;
  int anchors;    /* stack index: anchor name -> value */
  int anchor_raw; /* stack index: anchor name -> scalar text (keys use it) */
  int marks;      /* stack index: the marks table returned */
  int depth;      /* collections open */
} loader;

/* ---- errors ---------------------------------------------------------------- */

static void fail_vlc(loader *ld, int line, int col, const char *fmt, va_list ap)
    __attribute__((noreturn));
static void fail_vlc(loader *ld, int line, int col, const char *fmt, va_list ap) {
  lua_State *L = ld->L;
  lua_pushfstring(L, "%s:%d:%d: ", ld->name, line, col);
  lua_pushvfstring(L, fmt, ap);
  lua_concat(L, 2);
  /* The message is a Lua string now (it may quote event text), so the
   * parser's memory can go at once rather than at the next collection. */
  box_free(ld->b);
  lua_error(L);
  __builtin_unreachable();
}

static void fail_lc(loader *ld, int line, int col, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
static void fail_lc(loader *ld, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fail_vlc(ld, line, col, fmt, ap);
}

static void fail_at(loader *ld, yaml_mark_t m, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
static void fail_at(loader *ld, yaml_mark_t m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fail_vlc(ld, (int)m.line + 1, (int)m.column + 1, fmt, ap);
}

static void fail_nomem(loader *ld) __attribute__((noreturn));
static void fail_nomem(loader *ld) {
  box_free(ld->b);
  luaL_error(ld->L, "%s: out of memory", ld->name);
  __builtin_unreachable();
}

/* libyaml's own failure. Reader errors (bad UTF-8, control characters) carry
 * only a byte offset: the line and column are counted here the way libyaml
 * counts them (columns in characters). */
static void parser_fail(loader *ld) __attribute__((noreturn));
static void parser_fail(loader *ld) {
  yaml_parser_t *p = &ld->b->parser;
  const char *problem = p->problem ? p->problem : "invalid YAML";
  if (p->error == YAML_MEMORY_ERROR) fail_nomem(ld);
  if (p->error == YAML_READER_ERROR) {
    size_t off = p->problem_offset < ld->len ? p->problem_offset : ld->len;
    int line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
      unsigned char c = (unsigned char)ld->text[i];
      if (c == '\n' || (c == '\r' && (i + 1 >= off || ld->text[i + 1] != '\n'))) {
        line++;
        col = 1;
      } else if ((c & 0xC0) != 0x80) {
        col++;
      }
    }
    if (p->problem_value >= 0) {
      char hex[16];
      snprintf(hex, sizeof hex, "0x%02X", (unsigned)p->problem_value);
      fail_lc(ld, line, col, "%s (%s)", problem, hex);
    }
    fail_lc(ld, line, col, "%s", problem);
  }
  if (p->context)
    fail_at(ld, p->problem_mark, "%s (%s at %d:%d)", problem, p->context,
            (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
  fail_at(ld, p->problem_mark, "%s", problem);
}

/* Frees the current event and parses the next one into the box. */
static void next_event(loader *ld) {
  yaml_box *b = ld->b;
  if (b->event_ready) {
    b->event_ready = 0;
    yaml_event_delete(&b->event);
  }
  if (!yaml_parser_parse(&b->parser, &b->event)) parser_fail(ld);
  b->event_ready = 1;
}

/* Pushes text for quoting in a message, cut short (at a character boundary)
 * so a 10 MB scalar does not make a 10 MB message. */
static const char *shown(lua_State *L, const char *s, size_t n) {
  if (n <= 64) {
    lua_pushlstring(L, s, n);
  } else {
    size_t cut = 60;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    lua_pushlstring(L, s, cut);
    lua_pushliteral(L, "...");
    lua_concat(L, 2);
  }
  return lua_tostring(L, -1);
}

/* ---- tags and scalars ------------------------------------------------------ */

/* T_STR..T_SEQ are in the order of names[] in tag_kind. */
enum { T_NONE, T_NONSPECIFIC, T_STR, T_INT, T_FLOAT, T_BOOL, T_NULL, T_MAP, T_SEQ, T_UNKNOWN };

static int tag_kind(const yaml_char_t *utag) {
  static const char *const names[] = {"str", "int", "float", "bool", "null", "map", "seq"};
  const char *tag = (const char *)utag;
  if (!tag) return T_NONE;
  if (!strcmp(tag, "!")) return T_NONSPECIFIC;
  if (strncmp(tag, TAG_PREFIX, TAG_PREFIX_LEN)) return T_UNKNOWN;
  for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
    if (!strcmp(tag + TAG_PREFIX_LEN, names[i])) return T_STR + i;
  return T_UNKNOWN;
}

/* Pushes the tag as written in the usual shorthand and returns it. */
static const char *push_tag_name(lua_State *L, const yaml_char_t *utag) {
  const char *tag = (const char *)utag;
  if (!strncmp(tag, TAG_PREFIX, TAG_PREFIX_LEN))
    return lua_pushfstring(L, "!!%s", tag + TAG_PREFIX_LEN);
  lua_pushstring(L, tag); /* returns void on 5.1 */
  return tag;
}

static void fail_tag(loader *ld, yaml_mark_t m, const yaml_char_t *tag, const char *what)
    __attribute__((noreturn));
static void fail_tag(loader *ld, yaml_mark_t m, const yaml_char_t *tag, const char *what) {
  const char *shown = push_tag_name(ld->L, tag);
  if (tag_kind(tag) == T_UNKNOWN) fail_at(ld, m, "unknown tag '%s'", shown);
  fail_at(ld, m, "tag '%s' does not apply to a %s", shown, what);
}

static int is_null(const char *s, size_t n) {
  return n == 0 || (n == 1 && s[0] == '~') ||
         (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* 1 true, 0 false, -1 not a bool. */
static int bool_value(const char *s, size_t n) {
  if (n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4))) return 1;
  if (n == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5)))
    return 0;
  return -1;
}

enum { INT_NO, INT_OK, INT_RANGE };

/* Core schema ints: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+. Overflow is
 * reported, never wrapped. */
static int scan_int(const char *s, size_t n, lua_Integer *out) {
  size_t i = 0;
  unsigned base = 10;
  int neg = 0, range = 0;
  if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    base = s[1] == 'o' ? 8 : 16;
    i = 2;
  } else {
    if (n && (s[0] == '-' || s[0] == '+')) neg = s[i++] == '-';
    if (i == n) return INT_NO;
  }
  uint64_t limit = neg ? INT_NEG_LIMIT : INT_POS_LIMIT, v = 0;
  for (; i < n; i++) {
    unsigned c = (unsigned char)s[i], d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return INT_NO;
    if (d >= base) return INT_NO;
    if (range || v > (limit - d) / base) range = 1; /* keep scanning: "9...9x" is a string */
    else v = v * base + d;
  }
  if (range) return INT_RANGE;
  /* -(v-1)-1 reaches INT64_MIN without overflowing. */
  *out = !neg ? (lua_Integer)v : v == 0 ? 0 : -(lua_Integer)(v - 1) - 1;
  return INT_OK;
}

/* strtod in the C locale's notation whatever the process locale (Neovim sets
 * one): the '.' is swapped for the locale's decimal point, as Lua does.
 * Returns 0 only when out of memory. */
static int str2d(const char *s, size_t n, double *out) {
  char buf[64], *p = n < sizeof buf ? buf : malloc(n + 1);
  if (!p) return 0;
  char dp = localeconv()->decimal_point[0];
  for (size_t i = 0; i < n; i++) p[i] = s[i] == '.' ? dp : s[i];
  p[n] = '\0';
  *out = strtod(p, NULL);
  if (p != buf) free(p);
  return 1;
}

enum { FLOAT_NO, FLOAT_OK, FLOAT_NOMEM };

/* Core schema floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?,
 * [-+]?\.(inf|Inf|INF), \.(nan|NaN|NAN). The grammar is checked here so
 * strtod's extras (hex floats, "infinity") stay strings. */
static int scan_float(const char *s, size_t n, double *out) {
  size_t i = 0, intd = 0, fracd = 0;
  int neg = 0;
  if (n == 4 && (!memcmp(s, ".nan", 4) || !memcmp(s, ".NaN", 4) || !memcmp(s, ".NAN", 4))) {
    *out = NAN;
    return FLOAT_OK;
  }
  if (n && (s[0] == '-' || s[0] == '+')) neg = s[i++] == '-';
  if (n - i == 4 && (!memcmp(s + i, ".inf", 4) || !memcmp(s + i, ".Inf", 4) ||
                     !memcmp(s + i, ".INF", 4))) {
    *out = neg ? -HUGE_VAL : HUGE_VAL;
    return FLOAT_OK;
  }
  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) intd++;
  if (i < n && s[i] == '.')
    for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) fracd++;
  if (intd == 0 && fracd == 0) return FLOAT_NO;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    size_t expd = 0;
    i++;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) expd++;
    if (expd == 0) return FLOAT_NO;
  }
  if (i != n) return FLOAT_NO;
  return str2d(s, n, out) ? FLOAT_OK : FLOAT_NOMEM;
}

/* A !!int scalar. */
static void push_int(loader *ld, const char *s, size_t n, yaml_mark_t m) {
  lua_Integer v;
  switch (scan_int(s, n, &v)) {
  case INT_OK:
    lua_pushinteger(ld->L, v);
    return;
  case INT_RANGE:
    fail_at(ld, m, "integer out of range: %s", shown(ld->L, s, n));
  default:
    fail_at(ld, m, "invalid !!int value '%s'", shown(ld->L, s, n));
  }
}

static void push_float(loader *ld, const char *s, size_t n, yaml_mark_t m) {
  double d;
  switch (scan_float(s, n, &d)) {
  case FLOAT_OK:
    lua_pushnumber(ld->L, d);
    return;
  case FLOAT_NOMEM:
    fail_nomem(ld);
  default:
    fail_at(ld, m, "invalid !!float value '%s'", shown(ld->L, s, n));
  }
}

/* An untagged plain scalar: null, bool, int, float, else string. */
static void resolve_plain(loader *ld, const char *s, size_t n, yaml_mark_t m) {
  lua_State *L = ld->L;
  int b;
  lua_Integer i;
  double d;
  /* Most scalars are words: skip the number grammar for them. */
  if (n && !strchr("-+.0123456789~nNtTfF", s[0])) {
    lua_pushlstring(L, s, n);
    return;
  }
  if (is_null(s, n)) {
    lua_pushlightuserdata(L, NULL);
  } else if ((b = bool_value(s, n)) >= 0) {
    lua_pushboolean(L, b);
  } else {
    switch (scan_int(s, n, &i)) {
    case INT_OK:
      lua_pushinteger(L, i);
      return;
    case INT_RANGE:
      /* A decimal past the integer range reads as the float it is closest
       * to, as JSON parsers do: JavaScript writes 2^63 as
       * 9223372036854776000 (OpenAI's openapi.yaml has it). Hex and octal
       * are bit patterns: no float is meant, so they raise. */
      if (s[0] == '0' && n > 2 && (s[1] == 'x' || s[1] == 'o'))
        fail_at(ld, m, "integer out of range: %s", shown(L, s, n));
    }
    switch (scan_float(s, n, &d)) {
    case FLOAT_OK:
      lua_pushnumber(L, d);
      return;
    case FLOAT_NOMEM:
      fail_nomem(ld);
    }
    lua_pushlstring(L, s, n);
  }
}

/* Remembers the value at idx under the anchor; raw is the scalar's text
 * (NULL for collections, which cannot be keys). */
static void set_anchor(loader *ld, const yaml_char_t *anchor, int idx, const char *raw, size_t n) {
  lua_State *L = ld->L;
  idx = lua_absindex(L, idx);
  lua_pushvalue(L, idx);
  lua_setfield(L, ld->anchors, (const char *)anchor);
  if (raw) lua_pushlstring(L, raw, n);
  else lua_pushnil(L);
  lua_setfield(L, ld->anchor_raw, (const char *)anchor);
}

/* Pushes the value of the current scalar event and registers its anchor. */
static void push_scalar(loader *ld) {
  lua_State *L = ld->L;
  yaml_event_t *ev = &ld->b->event;
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  yaml_mark_t m = ev->start_mark;
  const yaml_char_t *tag = ev->data.scalar.tag;
  int b;
  switch (tag_kind(tag)) {
  case T_NONE:
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
      resolve_plain(ld, s, n, m);
      break;
    }
    __attribute__((fallthrough));
  case T_NONSPECIFIC: /* `! x` asks for no resolution: a string */
  case T_STR:
    lua_pushlstring(L, s, n);
    break;
  case T_INT:
    push_int(ld, s, n, m);
    break;
  case T_FLOAT:
    push_float(ld, s, n, m);
    break;
  case T_BOOL:
    if ((b = bool_value(s, n)) < 0) fail_at(ld, m, "invalid !!bool value '%s'", shown(L, s, n));
    lua_pushboolean(L, b);
    break;
  case T_NULL:
    if (!is_null(s, n)) fail_at(ld, m, "invalid !!null value '%s'", shown(L, s, n));
    lua_pushlightuserdata(L, NULL);
    break;
  default:
    fail_tag(ld, m, tag, "scalar");
  }
  if (ev->data.scalar.anchor) set_anchor(ld, ev->data.scalar.anchor, -1, s, n);
}

/* ---- collections ----------------------------------------------------------- */

static void parse_node(loader *ld);

static void push_mark(lua_State *L, yaml_mark_t m) {
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)m.line + 1);
  lua_setfield(L, -2, "line");
  lua_pushinteger(L, (lua_Integer)m.column + 1);
  lua_setfield(L, -2, "col");
}

/* Reads line and col of the mark table on top of the stack, and pops it. */
static void pop_mark(lua_State *L, int *line, int *col) {
  lua_getfield(L, -1, "line");
  lua_getfield(L, -2, "col");
  *line = (int)lua_tointeger(L, -2);
  *col = (int)lua_tointeger(L, -1);
  lua_pop(L, 3);
}

/* Starts a collection: checks the tag and depth, then pushes the table, its
 * marks entry, [keys marks,] values marks, and registers the anchor. Returns
 * the stack index of the table. */
static int open_collection(loader *ld, int is_map) {
  lua_State *L = ld->L;
  yaml_event_t *ev = &ld->b->event;
  yaml_mark_t m = ev->start_mark;
  const yaml_char_t *tag = is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
  const yaml_char_t *anchor =
      is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
  int k = tag_kind(tag);
  if (k != T_NONE && k != T_NONSPECIFIC && k != (is_map ? T_MAP : T_SEQ))
    fail_tag(ld, m, tag, is_map ? "mapping" : "sequence");
  if (++ld->depth > YAML_MAX_DEPTH) fail_at(ld, m, "nesting deeper than %d", YAML_MAX_DEPTH);
  /* This level's slots, plus room for an error message. */
  luaL_checkstack(L, 16, "YAML nesting too deep");
  lua_newtable(L);
  int t = lua_gettop(L);
  /* Registered before the children so an alias inside refers back to it. */
  if (anchor) set_anchor(ld, anchor, t, NULL, 0);
  lua_createtable(L, 0, 4);
  push_mark(L, m);
  lua_getfield(L, -1, "line");
  lua_setfield(L, -3, "line");
  lua_getfield(L, -1, "col");
  lua_setfield(L, -3, "col");
  lua_pop(L, 1);
  if (is_map) {
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, t + 1, "keys");
  }
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, t + 1, "values");
  lua_pushvalue(L, t);
  lua_pushvalue(L, t + 1);
  lua_rawset(L, ld->marks);
  return t;
}

static void parse_sequence(loader *ld) {
  lua_State *L = ld->L;
  yaml_event_t *ev = &ld->b->event;
  int t = open_collection(ld, 0), mv = t + 2;
  lua_Integer n = 0;
  for (;;) {
    next_event(ld);
    if (ev->type == YAML_SEQUENCE_END_EVENT) break;
    push_mark(L, ev->start_mark);
    lua_rawseti(L, mv, n + 1);
    parse_node(ld);
    lua_rawseti(L, t, ++n);
  }
  lua_settop(L, t);
  ld->depth--;
}

/* A table made from a mapping? Its marks entry has `keys`. */
static int is_mapping(loader *ld, int idx) {
  lua_State *L = ld->L;
  int yes = 0;
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  lua_pushvalue(L, idx);
  lua_rawget(L, ld->marks);
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "keys");
    yes = !lua_isnil(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return yes;
}

/* The `<<` value on top must be a mapping or a sequence of mappings; a bad
 * element is reported where it is written. */
static void check_merge(loader *ld, yaml_mark_t m) {
  lua_State *L = ld->L;
  int v = lua_gettop(L);
  static const char msg[] = "merge value must be a mapping or a sequence of mappings";
  if (is_mapping(ld, v)) return;
  if (lua_type(L, v) != LUA_TTABLE) fail_at(ld, m, "%s", msg);
  size_t n = lua_rawlen(L, v);
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, v, (int)i);
    int ok = is_mapping(ld, -1);
    lua_pop(L, 1);
    if (!ok) {
      int line, col;
      lua_pushvalue(L, v);
      lua_rawget(L, ld->marks);
      lua_getfield(L, -1, "values");
      lua_rawgeti(L, -1, (int)i);
      pop_mark(L, &line, &col);
      fail_lc(ld, line, col, "%s", msg);
    }
  }
}

/* Copies from[key] to to[key] if present; key at index key. */
static void copy_field(lua_State *L, int from, int to, int key) {
  lua_pushvalue(L, key);
  lua_rawget(L, from);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, key);
  lua_insert(L, -2);
  lua_rawset(L, to);
}

/* Adds the keys of mapping src missing from t, with their marks (so errors
 * about a merged key point at its definition). */
static void merge_from(loader *ld, int t, int mk, int mv, int src) {
  lua_State *L = ld->L;
  src = lua_absindex(L, src);
  lua_pushvalue(L, src);
  lua_rawget(L, ld->marks);
  lua_getfield(L, -1, "keys");
  lua_getfield(L, -2, "values");
  int smk = lua_gettop(L) - 1, smv = smk + 1;
  lua_pushnil(L);
  while (lua_next(L, src)) {
    int key = lua_gettop(L) - 1;
    lua_pushvalue(L, key);
    lua_rawget(L, t);
    int absent = lua_isnil(L, -1);
    lua_pop(L, 1);
    if (absent) {
      lua_pushvalue(L, key);
      lua_pushvalue(L, key + 1);
      lua_rawset(L, t);
      copy_field(L, smk, mk, key);
      copy_field(L, smv, mv, key);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 3);
}

/* Pushes the current key event as a string. Returns 1 for a merge key. */
static int push_key(loader *ld) {
  lua_State *L = ld->L;
  yaml_event_t *ev = &ld->b->event;
  yaml_mark_t m = ev->start_mark;
  if (ev->type == YAML_ALIAS_EVENT) {
    const char *a = (const char *)ev->data.alias.anchor;
    lua_getfield(L, ld->anchor_raw, a);
    if (!lua_isnil(L, -1)) return 0;
    lua_getfield(L, ld->anchors, a);
    if (lua_isnil(L, -1)) fail_at(ld, m, "undefined alias '*%s'", a);
    fail_at(ld, m, "mapping keys must be scalars");
  }
  if (ev->type != YAML_SCALAR_EVENT) fail_at(ld, m, "mapping keys must be scalars");
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  const yaml_char_t *tag = ev->data.scalar.tag;
  int k = tag_kind(tag);
  if (k == T_NONE || k == T_NONSPECIFIC || k == T_STR) {
    lua_pushlstring(L, s, n);
    if (ev->data.scalar.anchor) set_anchor(ld, ev->data.scalar.anchor, -1, s, n);
  } else {
    /* A tagged key still has to be valid for its tag; the key is its text. */
    push_scalar(ld);
    lua_pop(L, 1);
    lua_pushlstring(L, s, n);
  }
  return k == T_NONE && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && n == 2 &&
         s[0] == '<' && s[1] == '<';
}

static void parse_mapping(loader *ld) {
  lua_State *L = ld->L;
  yaml_event_t *ev = &ld->b->event;
  int t = open_collection(ld, 1), mk = t + 2, mv = t + 3, merge = t + 4, key = t + 5;
  int has_merge = 0;
  lua_pushnil(L); /* merge slot */
  for (;;) {
    next_event(ld);
    if (ev->type == YAML_MAPPING_END_EVENT) break;
    yaml_mark_t km = ev->start_mark;
    if (push_key(ld)) {
      if (has_merge) fail_at(ld, km, "duplicate key '<<'");
      has_merge = 1;
      lua_pop(L, 1);
      next_event(ld);
      yaml_mark_t vm = ev->start_mark;
      parse_node(ld);
      check_merge(ld, vm);
      lua_replace(L, merge);
      continue;
    }
    lua_pushvalue(L, key);
    lua_rawget(L, mk);
    if (!lua_isnil(L, -1)) {
      int line, col;
      size_t kn;
      const char *ks = lua_tolstring(L, key, &kn);
      pop_mark(L, &line, &col);
      fail_at(ld, km, "duplicate key '%s' (first at %d:%d)", shown(L, ks, kn), line, col);
    }
    lua_pop(L, 1);
    lua_pushvalue(L, key);
    push_mark(L, km);
    lua_rawset(L, mk);
    next_event(ld);
    lua_pushvalue(L, key);
    push_mark(L, ev->start_mark);
    lua_rawset(L, mv);
    parse_node(ld);
    lua_rawset(L, t);
  }
  /* After the explicit keys so they win; in order so earlier sources win. */
  if (has_merge) {
    if (is_mapping(ld, merge)) {
      merge_from(ld, t, mk, mv, merge);
    } else {
      size_t n = lua_rawlen(L, merge);
      for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, merge, (int)i);
        merge_from(ld, t, mk, mv, -1);
        lua_pop(L, 1);
      }
    }
  }
  lua_settop(L, t);
  ld->depth--;
}

/* Pushes the node whose first event is current; leaves its last one current. */
static void parse_node(loader *ld) {
  lua_State *L = ld->L;
  yaml_event_t *ev = &ld->b->event;
  switch (ev->type) {
  case YAML_SCALAR_EVENT:
    push_scalar(ld);
    break;
  case YAML_ALIAS_EVENT:
    lua_getfield(L, ld->anchors, (const char *)ev->data.alias.anchor);
    if (lua_isnil(L, -1))
      fail_at(ld, ev->start_mark, "undefined alias '*%s'", (const char *)ev->data.alias.anchor);
    break;
  case YAML_SEQUENCE_START_EVENT:
    parse_sequence(ld);
    break;
  case YAML_MAPPING_START_EVENT:
    parse_mapping(ld);
    break;
  default:
    fail_at(ld, ev->start_mark, "unexpected YAML event");
  }
}

/* yaml.load(text [, name]) -> value, marks */
static int l_load(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  const char *name = luaL_optstring(L, 2, "input");
  lua_settop(L, 2);
  yaml_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b); /* nothing to free until the flags say so */
  luaL_setmetatable(L, YAML_MT);
  lua_newtable(L);
  lua_newtable(L);
  lua_newtable(L);
  loader ld = {L, b, name, text, len, 4, 5, 6, 0};
  if (!yaml_parser_initialize(&b->parser)) return luaL_error(L, "%s: out of memory", name);
  b->parser_ready = 1;
  /* libyaml reads straight from the argument string, which stays on the stack. */
  yaml_parser_set_input_string(&b->parser, (const unsigned char *)text, len);

  yaml_event_t *ev = &b->event;
  next_event(&ld); /* STREAM-START */
  next_event(&ld);
  if (ev->type == YAML_DOCUMENT_START_EVENT) {
    next_event(&ld);
    /* "---" alone, or only comments after it: an empty document. */
    if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 0 && !ev->data.scalar.tag &&
        ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
      lua_pushnil(L);
    else
      parse_node(&ld);
    next_event(&ld); /* DOCUMENT-END */
    next_event(&ld);
    if (ev->type == YAML_DOCUMENT_START_EVENT)
      fail_at(&ld, ev->start_mark, "expected a single YAML document");
  } else {
    lua_pushnil(L); /* no document at all */
  }
  box_free(b);
  lua_pushvalue(L, ld.marks);
  return 2;
}

static const luaL_Reg functions[] = {
  {"load", l_load},
  {NULL, NULL}
};

KEEL_API int luaopen_keel_core_yaml(lua_State *L) {
  if (luaL_newmetatable(L, YAML_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  lua_pushlightuserdata(L, NULL); /* the same value as cjson.null */
  lua_setfield(L, -2, "null");
  return 1;
}
