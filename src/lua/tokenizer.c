/* keel.core.tokenizer: tiktoken encodings for Lua.
 *
 *   tokenizer.open(name) -> tok | nil, message     (loads the vocabulary once
 *                           per process; every Lua state shares it)
 *   tokenizer.names()    -> { "gpt2", "r50k_base", ... }
 *   tok:encode(s [, opts]) -> { id, ... }    opts.allowed_special = "all" |
 *                           { "<|endoftext|>", ... } | { ["<|endoftext|>"] = true };
 *                           opts.disallowed_special = "all" (default) | list | set
 *   tok:encode_ordinary(s) -> ids           special-token text is plain text
 *   tok:count(s [, opts]) -> n               the same as #tok:encode(s, opts),
 *                                           without building a table
 *   tok:count_ordinary(s) -> n
 *   tok:decode(ids) -> string                the bytes (may end mid-character)
 *   tok:token_bytes(id) -> string
 *   tok:truncate(s, n [, opts]) -> prefix, count
 *   tok:special_tokens() -> { [text] = id }
 *   tok:info() -> { name=, source=, load_ms=, n_vocab=, vocab_bytes= }
 *   tok:set_cache(on), tok:clear_cache(), tok:cache_stats() -> hits, misses
 *   tok.name, tok.n_vocab, tok.closed
 *   tok:close() (also __close, __gc): frees its working memory; idempotent
 *
 * Errors (a disallowed special token, an id that is not a token, an unknown
 * special name in opts) raise "keel.tokenizer: ...". The working memory of
 * a tok (BPE scratch, ids, piece cache) is its own, so a tok belongs to one
 * Lua state; the vocabulary behind it is shared and immutable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../core/tokenize.h"

#define TOK_MT "keel.tokenizer"

typedef struct {
  kl_tokenizer t;
  unsigned char *allowed, *disallowed; /* per-call sets, nspecials each */
} ltok;

static ltok *check_any(lua_State *L) { return keel_check_self(L, 1, TOK_MT); }
static ltok *check(lua_State *L) {
  ltok *u = check_any(L);
  if (!u->t.enc) luaL_error(L, "keel.tokenizer: the tokenizer is closed");
  return u;
}

/* close, __close and __gc: frees the working memory (the vocabulary stays,
 * shared); idempotent. */
static int t_close(lua_State *L) {
  ltok *u = check_any(L);
  if (u->t.enc) kl_tok_free(&u->t);
  free(u->allowed), free(u->disallowed);
  u->allowed = u->disallowed = NULL;
  u->t.enc = NULL;
  return 0;
}

/* Reads opts[field] into MODE/SET: nil -> DEF, "all", or a list or set of
 * special-token texts. */
static void sp_field(lua_State *L, ltok *u, int opts, const char *field, kl_sp_mode def, kl_sp_mode *mode,
                     unsigned char **setp, const unsigned char **out) {
  const kl_encoding *e = u->t.enc;
  int ty = keel_getfield(L, opts, field);
  *mode = def;
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (ty == LUA_TSTRING) {
    if (strcmp(lua_tostring(L, -1), "all") != 0)
      luaL_error(L, "keel.tokenizer: %s must be \"all\" or a list of special tokens, got \"%s\"", field,
                 lua_tostring(L, -1));
    *mode = KL_SP_ALL;
    lua_pop(L, 1);
    return;
  }
  if (ty != LUA_TTABLE) luaL_error(L, "keel.tokenizer: %s must be \"all\" or a table, got %s", field, lua_typename(L, ty));
  if (!*setp && e->nspecials && !(*setp = malloc(e->nspecials))) luaL_error(L, "keel.tokenizer: out of memory");
  if (e->nspecials) memset(*setp, 0, e->nspecials);
  int t = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    /* list: {"<|a|>"}; set: {["<|a|>"]=true} (a false value leaves it out) */
    int is_list = lua_type(L, -2) == LUA_TNUMBER;
    int kidx = is_list ? -1 : -2;
    if (!is_list && !lua_toboolean(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (lua_type(L, kidx) != LUA_TSTRING)
      luaL_error(L, "keel.tokenizer: %s: special token text expected, got %s", field,
                 luaL_typename(L, kidx));
    size_t n;
    const char *s = lua_tolstring(L, kidx, &n);
    const kl_special *sp = kl_encoding_special(e, s, n);
    if (!sp) luaL_error(L, "keel.tokenizer: %s: '%s' is not a special token of %s", field, s, e->name);
    (*setp)[kl_encoding_special_index(e, sp)] = 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  *mode = KL_SP_SET;
  *out = *setp;
}

static void get_opts(lua_State *L, ltok *u, int i, kl_sp_opts *o) {
  *o = KL_SP_DEFAULT;
  if (lua_isnoneornil(L, i)) return;
  luaL_checktype(L, i, LUA_TTABLE);
  /* a misspelt option would silently switch a check off */
  lua_pushnil(L);
  while (lua_next(L, i)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (!k || (strcmp(k, "allowed_special") != 0 && strcmp(k, "disallowed_special") != 0))
      luaL_error(L, "keel.tokenizer: unknown option '%s' (allowed_special, disallowed_special)",
                 k ? k : luaL_typename(L, -1));
  }
  sp_field(L, u, i, "allowed_special", KL_SP_NONE, &o->allowed, &u->allowed, &o->allowed_set);
  sp_field(L, u, i, "disallowed_special", KL_SP_ALL, &o->disallowed, &u->disallowed, &o->disallowed_set);
}

static void raise_rc(lua_State *L, ltok *u, int rc) {
  if (rc == KL_TOK_TOO_LARGE) luaL_error(L, "keel.tokenizer: the text is larger than the 1 GiB cap");
  if (rc == KL_TOK_DISALLOWED)
    luaL_error(L, "keel.tokenizer: the text contains a special token that is not allowed: %s (at byte %d); "
               "to encode it as a special token list it in allowed_special (and not in disallowed_special), "
               "or use encode_ordinary to encode it as text",
               u->t.bad->text, (int)u->t.bad_at + 1);
  luaL_error(L, "keel.tokenizer: out of memory");
}

static void push_ids(lua_State *L, const kl_tokenizer *t) {
  lua_createtable(L, (int)(t->nout < 0x7fffffff ? t->nout : 0), 0);
  for (size_t i = 0; i < t->nout; i++) {
    lua_pushinteger(L, (lua_Integer)t->out[i]);
    lua_rawseti(L, -2, (int)(i + 1));
  }
}

static int do_encode(lua_State *L, const kl_sp_opts *o, int count_only) {
  ltok *u = check(L);
  size_t n, count;
  const char *s = luaL_checklstring(L, 2, &n);
  int rc = kl_tok_encode(&u->t, s, n, o, count_only, SIZE_MAX, &count);
  if (rc) raise_rc(L, u, rc);
  if (count_only) lua_pushinteger(L, (lua_Integer)count);
  else push_ids(L, &u->t);
  return 1;
}

static int t_encode(lua_State *L) {
  kl_sp_opts o;
  get_opts(L, check(L), 3, &o);
  return do_encode(L, &o, 0);
}
static int t_count(lua_State *L) {
  kl_sp_opts o;
  get_opts(L, check(L), 3, &o);
  return do_encode(L, &o, 1);
}
static int t_encode_ordinary(lua_State *L) { return do_encode(L, &KL_SP_ORDINARY, 0); }
static int t_count_ordinary(lua_State *L) { return do_encode(L, &KL_SP_ORDINARY, 1); }

static int t_truncate(lua_State *L) {
  ltok *u = check(L);
  size_t n, len, count;
  const char *s = luaL_checklstring(L, 2, &n), *text;
  lua_Number max = luaL_checknumber(L, 3);
  if (!(max >= 0) || max != (lua_Number)(lua_Integer)max)
    luaL_error(L, "keel.tokenizer: truncate: a token count >= 0 expected, got %s", lua_tostring(L, 3));
  kl_sp_opts o;
  get_opts(L, u, 4, &o);
  size_t m = max > 1e15 ? (size_t)1e15 : (size_t)max;
  int rc = kl_tok_truncate(&u->t, s, n, &o, m, &text, &len, &count);
  if (rc) raise_rc(L, u, rc);
  lua_pushlstring(L, text, len);
  lua_pushinteger(L, (lua_Integer)count);
  return 2;
}

/* The id at index I of the table at 2, checked. */
static uint32_t id_at(lua_State *L, lua_Integer i) {
  keel_rawgeti(L, 2, i);
  int isnum = lua_type(L, -1) == LUA_TNUMBER;
  lua_Number d = lua_tonumber(L, -1);
  if (!isnum || !(d >= 0 && d < 4294967296.0) || d != (lua_Number)(lua_Integer)d) {
    if (isnum) luaL_error(L, "keel.tokenizer: decode: ids[%d] is not a token id (%f)", (int)i, (double)d);
    luaL_error(L, "keel.tokenizer: decode: ids[%d] is not a token id (a %s)", (int)i, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return (uint32_t)d;
}

static int t_decode(lua_State *L) {
  const kl_encoding *e = check(L)->t.enc;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; i <= n; i++) {
    uint32_t id = id_at(L, i);
    size_t len;
    const unsigned char *p = kl_tok_id_bytes(e, id, &len);
    if (!p) {
      char num[16];
      snprintf(num, sizeof num, "%u", id); /* LuaJIT's pushfstring has no %u */
      luaL_error(L, "keel.tokenizer: decode: ids[%d] = %s is not a token of %s", (int)i, num, e->name);
    }
    luaL_addlstring(&b, (const char *)p, len);
  }
  luaL_pushresult(&b);
  return 1;
}

static int t_token_bytes(lua_State *L) {
  ltok *u = check(L);
  lua_Number d = luaL_checknumber(L, 2);
  const kl_encoding *e = u->t.enc;
  size_t len = 0;
  const unsigned char *p = NULL;
  if (d >= 0 && d < 4294967296.0 && d == (lua_Number)(lua_Integer)d) p = kl_tok_id_bytes(e, (uint32_t)d, &len);
  if (!p) luaL_error(L, "keel.tokenizer: %s is not a token of %s", lua_tostring(L, 2), e->name);
  lua_pushlstring(L, (const char *)p, len);
  return 1;
}

static int t_special_tokens(lua_State *L) {
  const kl_encoding *e = check(L)->t.enc;
  lua_createtable(L, 0, (int)e->nspecials);
  for (uint32_t i = 0; i < e->nspecials; i++) {
    lua_pushinteger(L, e->specials[i].id);
    lua_setfield(L, -2, e->specials[i].text);
  }
  return 1;
}

static int t_info(lua_State *L) {
  const kl_encoding *e = check(L)->t.enc;
  lua_createtable(L, 0, 6);
  lua_pushstring(L, e->name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, e->source);
  lua_setfield(L, -2, "source");
  lua_pushnumber(L, e->load_ms);
  lua_setfield(L, -2, "load_ms");
  lua_pushinteger(L, e->n_vocab);
  lua_setfield(L, -2, "n_vocab");
  lua_pushinteger(L, (lua_Integer)kl_vocab_memsize(e->vocab));
  lua_setfield(L, -2, "vocab_bytes");
  lua_pushinteger(L, e->nspecials);
  lua_setfield(L, -2, "n_special");
  return 1;
}

static int t_set_cache(lua_State *L) {
  ltok *u = check(L);
  kl_tok_cache(&u->t, lua_toboolean(L, 2));
  return 0;
}
static int t_clear_cache(lua_State *L) {
  kl_tok_cache_clear(&check(L)->t);
  return 0;
}
static int t_cache_stats(lua_State *L) {
  ltok *u = check(L);
  lua_pushinteger(L, (lua_Integer)u->t.cache_hits);
  lua_pushinteger(L, (lua_Integer)u->t.cache_misses);
  return 2;
}

static int t_tostring(lua_State *L) {
  ltok *u = check_any(L);
  if (u->t.enc) lua_pushfstring(L, "keel.tokenizer(%s)", u->t.enc->name);
  else lua_pushstring(L, "keel.tokenizer (closed)");
  return 1;
}

/* __index: methods first (upvalue 2), then the fields name and n_vocab. */
static int t_index(lua_State *L) {
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(2));
  if (!lua_isnil(L, -1)) return 1;
  ltok *u = check_any(L);
  const char *k = lua_tostring(L, 2);
  if (k && strcmp(k, "closed") == 0) lua_pushboolean(L, u->t.enc == NULL);
  else if (!u->t.enc) lua_pushnil(L);
  else if (k && strcmp(k, "name") == 0) lua_pushstring(L, u->t.enc->name);
  else if (k && strcmp(k, "n_vocab") == 0) lua_pushinteger(L, u->t.enc->n_vocab);
  else lua_pushnil(L);
  return 1;
}

static int l_open(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  char err[2048];
  const kl_encoding *e = kl_encoding_get(name, err, sizeof err);
  if (!e) {
    lua_pushnil(L);
    lua_pushfstring(L, "keel.tokenizer: %s", err);
    return 2;
  }
  ltok *u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  kl_tok_init(&u->t, e);
  luaL_setmetatable(L, TOK_MT);
  return 1;
}

static int l_names(lua_State *L) {
  const char *const *n = kl_encoding_names();
  lua_newtable(L);
  for (int i = 0; n[i]; i++) {
    lua_pushstring(L, n[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

KEEL_API int luaopen_keel_core_tokenizer(lua_State *L) {
  static const luaL_Reg meta[] = { { "__gc", t_close }, { "__close", t_close }, { "__tostring", t_tostring },
                                   { NULL, NULL } };
  static const luaL_Reg methods[] = {
    { "encode", t_encode }, { "encode_ordinary", t_encode_ordinary }, { "count", t_count },
    { "count_ordinary", t_count_ordinary }, { "decode", t_decode }, { "token_bytes", t_token_bytes },
    { "truncate", t_truncate }, { "special_tokens", t_special_tokens }, { "info", t_info },
    { "set_cache", t_set_cache }, { "clear_cache", t_clear_cache }, { "cache_stats", t_cache_stats },
    { "close", t_close }, { NULL, NULL } };
  keel_new_class(L, TOK_MT, meta, methods);
  /* Replace the __index table by a function that also serves the fields. */
  luaL_getmetatable(L, TOK_MT);
  lua_pushvalue(L, -1);
  lua_getfield(L, -2, "__index");
  lua_pushcclosure(L, t_index, 2);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  static const luaL_Reg fns[] = { { "open", l_open }, { "names", l_names }, { NULL, NULL } };
  luaL_newlib(L, fns);
  return 1;
}
