/* JSON Schema compiler: documents → resources (by $id) → nodes.
 *
 * 1. Each document is parsed into the schema's arena and scanned: every
 *    schema object reachable through applicator keywords of its dialect is
 *    recorded with its resource and JSON pointer; $id opens a resource,
 *    $anchor / $dynamicAnchor / draft-7 "#name" ids name anchors. Ids inside
 *    unknown keywords or `enum` are not ids, as the spec says.
 * 2. Nodes are compiled on demand from the root; a $ref resolves to a
 *    resource (loading a caller-provided document the first time it is
 *    named) plus an anchor or JSON pointer, and compiles its target. Cycles
 *    are fine: a node is registered before its children compile.
 * 3. Every dynamic anchor of every resource met is compiled too, because a
 *    $dynamicRef may land on any of them at validation time. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytehash.h"
#include "schema_int.h"
#include "uri.h"

typedef struct {
  const kl_jv *jv;
  sres *res;
  const char *loc;  /* pointer within res */
  const char *dloc; /* where a human finds it: document URI + pointer */
  sn *node;
} sinfo;

typedef struct {
  kl_schema *s;
  const kl_schema_opts *o;
  kl_schema_err *err;
  kl_jd jd;
  unsigned char *loaded; /* per registry document */
  sinfo *map;            /* open addressing by jv pointer */
  size_t mapcap, mapn;
  int failed;
} cc;

#define A(c) (&(c)->s->arena)

static int fail(cc *c, int code, const char *dloc, const char *fmt, ...) {
  if (c->failed) return -1;
  c->failed = 1;
  c->err->code = code;
  va_list ap;
  va_start(ap, fmt);
  int n = snprintf(c->err->msg, sizeof c->err->msg, "%s: ", dloc && *dloc ? dloc : "(root)");
  if (n < 0 || (size_t)n >= sizeof c->err->msg) n = 0;
  vsnprintf(c->err->msg + n, sizeof c->err->msg - (size_t)n, fmt, ap);
  va_end(ap);
  return -1;
}

static int nomem(cc *c) {
  return fail(c, KL_SCHEMA_E_NOMEM, "", "out of memory");
}

/* ---- the jv → info map ---- */

static size_t ptrhash(const void *p, size_t cap) {
  uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 17) & (cap - 1);
}

static sinfo *info_get(cc *c, const kl_jv *jv) {
  if (!c->mapcap) return NULL;
  for (size_t i = ptrhash(jv, c->mapcap);; i = (i + 1) & (c->mapcap - 1)) {
    if (!c->map[i].jv) return NULL;
    if (c->map[i].jv == jv) return &c->map[i];
  }
}

static sinfo *info_put(cc *c, const kl_jv *jv, sres *res, const char *loc, const char *dloc) {
  if ((c->mapn + 1) * 2 > c->mapcap) {
    size_t cap = c->mapcap ? c->mapcap * 2 : 256;
    sinfo *m = calloc(cap, sizeof *m);
    if (!m) return NULL;
    for (size_t i = 0; i < c->mapcap; i++) {
      if (!c->map[i].jv) continue;
      size_t j = ptrhash(c->map[i].jv, cap);
      while (m[j].jv) j = (j + 1) & (cap - 1);
      m[j] = c->map[i];
    }
    free(c->map);
    c->map = m;
    c->mapcap = cap;
  }
  size_t i = ptrhash(jv, c->mapcap);
  while (c->map[i].jv && c->map[i].jv != jv) i = (i + 1) & (c->mapcap - 1);
  if (!c->map[i].jv) c->mapn++;
  c->map[i] = (sinfo){ jv, res, loc, dloc, c->map[i].jv == jv ? c->map[i].node : NULL };
  return &c->map[i];
}

/* ---- strings ---- */

static const char *str(cc *c, const char *s) {
  return kl_arena_strdup(A(c), s, strlen(s));
}

/* parent + "/" + escaped key */
static const char *ptr_join(cc *c, const char *parent, const char *key, size_t klen) {
  size_t pl = strlen(parent), extra = 0;
  for (size_t i = 0; i < klen; i++) extra += key[i] == '~' || key[i] == '/';
  char *d = kl_arena_alloc(A(c), pl + klen + extra + 2);
  if (!d) return NULL;
  memcpy(d, parent, pl);
  d[pl] = '/';
  *kl_ptr_escape(d + pl + 1, key, klen) = 0;
  return d;
}

static const char *ptr_index(cc *c, const char *parent, size_t i) {
  char num[24];
  int n = snprintf(num, sizeof num, "%zu", i);
  return ptr_join(c, parent, num, (size_t)n);
}

static const kl_jv *member(const kl_jv *o, const char *key) {
  return kl_jv_get(o, key, strlen(key));
}

/* ---- dialects and vocabularies ---- */

static int dialect_of_uri(const char *u) {
  static const struct { const char *uri; int d; } known[] = {
    { "json-schema.org/draft-04/schema", KL_D4 },   { "json-schema.org/draft-06/schema", KL_D6 },
    { "json-schema.org/draft-07/schema", KL_D7 },   { "json-schema.org/draft/2019-09/schema", KL_D2019 },
    { "json-schema.org/draft/2020-12/schema", KL_D2020 },
  };
  const char *p = u;
  if (!strncmp(p, "http://", 7)) p += 7;
  else if (!strncmp(p, "https://", 8)) p += 8;
  else return 0;
  for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
    size_t n = strlen(known[i].uri);
    if (!strncmp(p, known[i].uri, n) && (p[n] == 0 || (p[n] == '#' && p[n + 1] == 0))) return known[i].d;
  }
  return 0;
}

static sres *load_uri(cc *c, const char *uri, int dialect, const char *dloc);

/* A $schema that is not one of the five: a meta-schema the caller provided,
 * whose own $schema gives the dialect and whose $vocabulary the keywords. */
static int custom_meta(cc *c, const char *uri, int *dialect, unsigned *vocab, const char *dloc) {
  char *u = kl_arena_strdup(A(c), uri, kl_uri_frag(uri));
  if (!u) return nomem(c);
  sres *m = load_uri(c, u, *dialect, dloc);
  if (!m) return -1;
  *dialect = m->dialect;
  const kl_jv *voc = m->root->type == KL_JV_OBJECT ? member(m->root, "$vocabulary") : NULL;
  if (!voc || *dialect < KL_D2019) { *vocab = V_ALL; return 0; }
  if (voc->type != KL_JV_OBJECT) return fail(c, KL_SCHEMA_E_INVALID, dloc, "$vocabulary of %s must be an object", u);
  static const struct { const char *name; unsigned bits; } V[] = {
    { "core", V_CORE }, { "applicator", V_APPLICATOR }, { "unevaluated", V_UNEVALUATED },
    { "validation", V_VALIDATION }, { "meta-data", 0 }, { "format-annotation", 0 }, { "format", 0 },
    { "format-assertion", V_FORMAT_ASSERT }, { "content", 0 },
  };
  *vocab = V_CORE;
  for (uint32_t i = 0; i < voc->len; i++) {
    const char *k = voc->u.mem[i].key;
    const char *slash = strrchr(k, '/');
    const char *name = slash ? slash + 1 : k;
    int known = !strncmp(k, "https://json-schema.org/draft/20", 32) && strstr(k, "/vocab/");
    unsigned bits = 0;
    int found = 0;
    for (size_t j = 0; known && j < sizeof V / sizeof *V; j++)
      if (!strcmp(V[j].name, name)) bits = V[j].bits, found = 1;
    if (!found) {
      if (voc->u.mem[i].val.type == KL_JV_TRUE)
        return fail(c, KL_SCHEMA_E_INVALID, dloc, "meta-schema %s requires vocabulary %s, which keel does not know", u, k);
      continue;
    }
    if (!strcmp(name, "applicator") && *dialect == KL_D2019) bits |= V_UNEVALUATED;
    *vocab |= bits;
  }
  return 0;
}

/* ---- scanning ---- */

static sres *new_res(cc *c, const char *uri, const kl_jv *root, int dialect, unsigned vocab) {
  sres *r = kl_arena_alloc(A(c), sizeof *r);
  if (!r) return NULL;
  memset(r, 0, sizeof *r);
  r->uri = kl_arena_strdup(A(c), uri, strlen(uri));
  r->root = root;
  r->dialect = dialect;
  r->vocab = vocab;
  r->next = c->s->resources;
  c->s->resources = r;
  return r->uri ? r : NULL;
}

static sres *find_res(cc *c, const char *uri) {
  for (sres *r = c->s->resources; r; r = r->next)
    if (!strcmp(r->uri, uri)) return r->alias_of ? r->alias_of : r;
  return NULL;
}

static int add_anchor(cc *c, sres *r, const char *name, size_t n, const kl_jv *at, int dynamic) {
  if (r->nanchors == r->capanchors) {
    size_t cap = r->capanchors ? r->capanchors * 2 : 4;
    sanchor *a = kl_arena_alloc(A(c), cap * sizeof *a);
    if (!a) return nomem(c);
    if (r->nanchors) memcpy(a, r->anchors, r->nanchors * sizeof *a);
    r->anchors = a;
    r->capanchors = cap;
  }
  const char *nm = kl_arena_strdup(A(c), name, n);
  if (!nm) return nomem(c);
  r->anchors[r->nanchors++] = (sanchor){ nm, at, dynamic, NULL };
  return 0;
}

static int scan(cc *c, const kl_jv *jv, sres *res, const char *loc, const char *dloc, int depth);

static int scan_child(cc *c, const kl_jv *v, sres *res, const char *loc, const char *dloc, const char *kw,
                      size_t kwlen, int depth) {
  const char *l = ptr_join(c, loc, kw, kwlen), *d = ptr_join(c, dloc, kw, kwlen);
  if (!l || !d) return nomem(c);
  return scan(c, v, res, l, d, depth + 1);
}

/* Keywords whose arguments hold schemas, by shape, and the dialects that
 * have them. */
enum { SH_ONE, SH_ARRAY, SH_MAP, SH_ITEMS, SH_DEPS };
static const struct { const char *kw; int shape, from, to; } SUBS[] = {
  { "additionalItems", SH_ONE, KL_D4, KL_D2019 },   { "additionalProperties", SH_ONE, KL_D4, KL_D2020 },
  { "allOf", SH_ARRAY, KL_D4, KL_D2020 },           { "anyOf", SH_ARRAY, KL_D4, KL_D2020 },
  { "oneOf", SH_ARRAY, KL_D4, KL_D2020 },           { "not", SH_ONE, KL_D4, KL_D2020 },
  { "items", SH_ITEMS, KL_D4, KL_D2019 },           { "items", SH_ONE, KL_D2020, KL_D2020 },
  { "prefixItems", SH_ARRAY, KL_D2020, KL_D2020 },  { "contains", SH_ONE, KL_D6, KL_D2020 },
  { "propertyNames", SH_ONE, KL_D6, KL_D2020 },     { "if", SH_ONE, KL_D7, KL_D2020 },
  { "then", SH_ONE, KL_D7, KL_D2020 },              { "else", SH_ONE, KL_D7, KL_D2020 },
  { "properties", SH_MAP, KL_D4, KL_D2020 },        { "patternProperties", SH_MAP, KL_D4, KL_D2020 },
  { "definitions", SH_MAP, KL_D4, KL_D2020 },       { "$defs", SH_MAP, KL_D2019, KL_D2020 },
  { "dependencies", SH_DEPS, KL_D4, KL_D2020 },        { "dependentSchemas", SH_MAP, KL_D2019, KL_D2020 },
  { "unevaluatedItems", SH_ONE, KL_D2019, KL_D2020 }, { "unevaluatedProperties", SH_ONE, KL_D2019, KL_D2020 },
};

static int is_schema(const kl_jv *v, int dialect) {
  return v->type == KL_JV_OBJECT || (dialect >= KL_D6 && (v->type == KL_JV_TRUE || v->type == KL_JV_FALSE));
}

static int scan(cc *c, const kl_jv *jv, sres *res, const char *loc, const char *dloc, int depth) {
  if (c->failed) return -1;
  if (depth > 500) return fail(c, KL_SCHEMA_E_INVALID, dloc, "schema nested deeper than 500 levels");
  if (jv->type != KL_JV_OBJECT) {
    if (is_schema(jv, res->dialect) && !info_put(c, jv, res, loc, dloc)) return nomem(c);
    return 0;
  }
  int dialect = res->dialect;
  unsigned vocab = res->vocab;
  /* $schema opens a new dialect only where a resource starts */
  const kl_jv *sch = member(jv, "$schema");
  /* an id (before the $schema beside it is read) says a resource starts here;
   * draft 7 and earlier: $ref hides its siblings, $id too */
  int ref_only = dialect <= KL_D7 && member(jv, "$ref");
  const kl_jv *id = ref_only ? NULL : member(jv, dialect == KL_D4 ? "id" : "$id");
  if (sch && (jv == res->root || id)) {
    if (sch->type != KL_JV_STRING) return fail(c, KL_SCHEMA_E_INVALID, dloc, "$schema must be a string");
    int d = dialect_of_uri(sch->u.s);
    if (d) dialect = d, vocab = V_ALL;
    else if (custom_meta(c, sch->u.s, &dialect, &vocab, dloc)) return -1;
    if (jv == res->root) res->dialect = dialect, res->vocab = vocab;
  }
  /* again in the dialect that applies here */
  const char *idkw = dialect == KL_D4 ? "id" : "$id";
  ref_only = dialect <= KL_D7 && member(jv, "$ref");
  id = ref_only ? NULL : member(jv, idkw);
  if (id && id->type != KL_JV_STRING) return fail(c, KL_SCHEMA_E_INVALID, dloc, "%s must be a string", idkw);
  if (id) {
    const char *idv = id->u.s;
    if (dialect <= KL_D7 && idv[0] == '#') {
      if (idv[1] && add_anchor(c, res, idv + 1, id->len - 1, jv, 0)) return -1;
    } else {
      char *abs = kl_uri_resolve(res->uri, idv);
      if (!abs) return nomem(c);
      size_t f = kl_uri_frag(abs);
      const char *frag = abs[f] ? abs + f + 1 : "";
      if (dialect >= KL_D2019 && *frag)
        { free(abs); return fail(c, KL_SCHEMA_E_INVALID, dloc, "$id must not have a fragment: \"%s\"", idv); }
      abs[f] = 0;
      if (jv == res->root && !strcmp(abs, res->uri)) {
        /* the document's own id matches where it came from */
      } else if (jv == res->root) {
        /* a document whose $id differs from its retrieval URI answers to
         * both: the $id becomes its name, the old name an alias */
        sres *alias = new_res(c, res->uri, jv, dialect, vocab);
        char *u = kl_arena_strdup(A(c), abs, strlen(abs));
        if (!alias || !u) { free(abs); return nomem(c); }
        alias->alias_of = res;
        res->uri = u;
      } else {
        sres *r = new_res(c, abs, jv, dialect, vocab);
        if (!r) { free(abs); return nomem(c); }
        res = r;
        loc = "";
      }
      if (*frag && add_anchor(c, res, frag, strlen(frag), jv, 0)) { free(abs); return -1; }
      free(abs);
    }
  }
  if (res->root == jv) res->dialect = dialect, res->vocab = vocab;
  else if (dialect != res->dialect || vocab != res->vocab) {
    /* a $schema without $id changes nothing (spec: only resource roots) */
    dialect = res->dialect, vocab = res->vocab;
  }
  if (!info_put(c, jv, res, loc, dloc)) return nomem(c);
  if (dialect >= KL_D2019) {
    const kl_jv *a = member(jv, "$anchor");
    if (a) {
      if (a->type != KL_JV_STRING) return fail(c, KL_SCHEMA_E_INVALID, dloc, "$anchor must be a string");
      if (add_anchor(c, res, a->u.s, a->len, jv, 0)) return -1;
    }
    const kl_jv *da = dialect >= KL_D2020 ? member(jv, "$dynamicAnchor") : NULL;
    if (da) {
      if (da->type != KL_JV_STRING) return fail(c, KL_SCHEMA_E_INVALID, dloc, "$dynamicAnchor must be a string");
      if (add_anchor(c, res, da->u.s, da->len, jv, 1)) return -1;
    }
    const kl_jv *ra = dialect == KL_D2019 ? member(jv, "$recursiveAnchor") : NULL;
    if (ra && ra->type == KL_JV_TRUE && jv == res->root) res->recursive_anchor = 1;
  }
  if (ref_only) return 0;
  for (size_t k = 0; k < sizeof SUBS / sizeof *SUBS; k++) {
    if (dialect < SUBS[k].from || dialect > SUBS[k].to) continue;
    const char *kw = SUBS[k].kw;
    const kl_jv *v = member(jv, kw);
    if (!v) continue;
    size_t kwl = strlen(kw);
    int shape = SUBS[k].shape;
    if (shape == SH_ITEMS) shape = v->type == KL_JV_ARRAY ? SH_ARRAY : SH_ONE;
    if (shape == SH_ONE) {
      if (scan_child(c, v, res, loc, dloc, kw, kwl, depth)) return -1;
    } else if (shape == SH_ARRAY) {
      if (v->type != KL_JV_ARRAY) continue; /* the compiler says what is wrong */
      const char *l = ptr_join(c, loc, kw, kwl), *d = ptr_join(c, dloc, kw, kwl);
      if (!l || !d) return nomem(c);
      for (uint32_t i = 0; i < v->len; i++) {
        const char *li = ptr_index(c, l, i), *di = ptr_index(c, d, i);
        if (!li || !di) return nomem(c);
        if (scan(c, &v->u.items[i], res, li, di, depth + 1)) return -1;
      }
    } else { /* maps: properties, $defs, dependencies (arrays there are names) */
      if (v->type != KL_JV_OBJECT) continue;
      const char *l = ptr_join(c, loc, kw, kwl), *d = ptr_join(c, dloc, kw, kwl);
      if (!l || !d) return nomem(c);
      for (uint32_t i = 0; i < v->len; i++) {
        const kl_jmember *m = &v->u.mem[i];
        if (shape == SH_DEPS && m->val.type == KL_JV_ARRAY) continue;
        if (scan_child(c, &m->val, res, l, d, m->key, m->klen, depth)) return -1;
      }
    }
    if (c->failed) return -1;
  }
  return 0;
}

/* ---- documents ---- */

static sres *add_document(cc *c, const char *uri, const char *text, size_t n, int dialect, const char *dloc) {
  const char *t = kl_arena_strdup(A(c), text, n);
  if (!t) { nomem(c); return NULL; }
  kl_jv *root = kl_jv_parse(A(c), &c->jd, t, n, 0);
  if (!root) {
    char m[256];
    kl_jd_errmsg(&c->jd, m, sizeof m);
    fail(c, KL_SCHEMA_E_JSON, dloc, "%s is not JSON: %s", strncmp(uri, "keel:", 5) ? uri : "the schema", m);
    return NULL;
  }
  if (!is_schema(root, dialect < KL_D6 ? KL_D6 : dialect)) {
    fail(c, KL_SCHEMA_E_INVALID, dloc, "%s: a schema must be an object or a boolean",
         strncmp(uri, "keel:", 5) ? uri : "the schema");
    return NULL;
  }
  sres *r = new_res(c, uri, root, dialect, V_ALL);
  if (!r) { nomem(c); return NULL; }
  const char *d = *uri && strncmp(uri, "keel:", 5) ? str(c, uri) : "";
  if (!d) { nomem(c); return NULL; }
  if (scan(c, root, r, "", d, 0)) return NULL;
  return r;
}

/* The resource with this URI (no fragment), loading a registry document the
 * first time. NULL after fail(). */
static sres *load_uri(cc *c, const char *uri, int dialect, const char *dloc) {
  sres *r = find_res(c, uri);
  if (r) return r;
  for (size_t i = 0; i < c->o->ndocs; i++) {
    const kl_schema_doc *d = &c->o->docs[i];
    size_t f = kl_uri_frag(d->uri);
    if (c->loaded[i] || strncmp(d->uri, uri, f) || uri[f]) continue;
    c->loaded[i] = 1;
    if (!add_document(c, uri, d->text, d->len, dialect, dloc)) return NULL;
    if ((r = find_res(c, uri))) return r;
  }
  c->err->code = KL_SCHEMA_E_UNRESOLVED;
  snprintf(c->err->uri, sizeof c->err->uri, "%s", uri);
  fail(c, KL_SCHEMA_E_UNRESOLVED, dloc, "cannot resolve \"%s\": no such document (give it in the registry)", uri);
  return NULL;
}

/* Resolves an absolute URI with fragment to a schema. */
static const kl_jv *resolve(cc *c, const char *abs, int dialect, const char *dloc, sres **res_out,
                            const char **loc_out) {
  size_t f = kl_uri_frag(abs);
  char *base = kl_arena_strdup(A(c), abs, f);
  if (!base) { nomem(c); return NULL; }
  sres *r = load_uri(c, base, dialect, dloc);
  if (!r) return NULL;
  const char *frag = abs[f] ? abs + f + 1 : "";
  size_t fl = strlen(frag);
  char *dec = kl_arena_alloc(A(c), fl + 1);
  if (!dec) { nomem(c); return NULL; }
  if (kl_uri_unescape(frag, fl, dec) == (size_t)-1) {
    fail(c, KL_SCHEMA_E_INVALID, dloc, "bad percent-escape in \"%s\"", abs);
    return NULL;
  }
  *res_out = r;
  *loc_out = "";
  if (!*dec) return r->root;
  if (dec[0] != '/') {
    for (size_t i = 0; i < r->nanchors; i++)
      if (!strcmp(r->anchors[i].name, dec)) return r->anchors[i].at;
    fail(c, KL_SCHEMA_E_UNRESOLVED, dloc, "cannot resolve \"%s\": no anchor \"%s\" in %s", abs, dec, r->uri);
    return NULL;
  }
  /* JSON pointer from the resource root; the target's own resource is the
   * one the scan recorded, when it got there */
  const kl_jv *v = r->root;
  const char *p = dec;
  char *tok = kl_arena_alloc(A(c), fl + 1);
  if (!tok) { nomem(c); return NULL; }
  while (*p == '/') {
    p++;
    size_t n = 0;
    for (; *p && *p != '/'; p++) {
      if (*p == '~' && (p[1] == '0' || p[1] == '1')) tok[n++] = p[1] == '0' ? '~' : '/', p++;
      else tok[n++] = *p;
    }
    tok[n] = 0;
    const kl_jv *next = NULL;
    if (v->type == KL_JV_OBJECT) next = kl_jv_get(v, tok, n);
    else if (v->type == KL_JV_ARRAY) {
      char *e;
      unsigned long i = strtoul(tok, &e, 10);
      if (n && *e == 0 && (tok[0] != '0' || n == 1) && i < v->len) next = &v->u.items[i];
    }
    if (!next) {
      fail(c, KL_SCHEMA_E_UNRESOLVED, dloc, "cannot resolve \"%s\": nothing at that pointer", abs);
      return NULL;
    }
    v = next;
  }
  sinfo *in = info_get(c, v);
  if (in) *res_out = in->res, *loc_out = in->loc;
  else *loc_out = kl_arena_strdup(A(c), dec, strlen(dec));
  return v;
}

/* ---- compiling nodes ---- */

static sn *compile(cc *c, const kl_jv *jv, sres *res, const char *loc, const char *dloc);

static sn *sub(cc *c, const kl_jv *jv, sn *parent, const char *dloc, const char *kw, const char *key, size_t klen,
               long index) {
  sinfo *in = info_get(c, jv);
  if (in) return compile(c, jv, in->res, in->loc, in->dloc);
  const char *d = ptr_join(c, dloc, kw, strlen(kw));
  const char *l = ptr_join(c, parent->loc, kw, strlen(kw));
  if (d && key) d = ptr_join(c, d, key, klen), l = l ? ptr_join(c, l, key, klen) : NULL;
  if (d && index >= 0) d = ptr_index(c, d, (size_t)index), l = l ? ptr_index(c, l, (size_t)index) : NULL;
  if (!d || !l) { nomem(c); return NULL; }
  return compile(c, jv, parent->res, l, d);
}

static int want_schema(cc *c, const kl_jv *v, int dialect, const char *dloc, const char *kw) {
  if (is_schema(v, dialect)) return 0;
  return fail(c, KL_SCHEMA_E_INVALID, dloc, "%s must be a schema (%s)", kw,
              dialect >= KL_D6 ? "an object or a boolean" : "an object");
}

static int want_count(cc *c, const kl_jv *v, const char *dloc, const char *kw, uint64_t *out) {
  if (v->type != KL_JV_NUMBER || !v->is_int || v->d < 0)
    return fail(c, KL_SCHEMA_E_INVALID, dloc, "%s must be a non-negative integer", kw);
  *out = v->d >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v->d;
  return 0;
}

static int want_number(cc *c, const kl_jv *v, const char *dloc, const char *kw) {
  if (v->type != KL_JV_NUMBER) return fail(c, KL_SCHEMA_E_INVALID, dloc, "%s must be a number", kw);
  return 0;
}

static int sub_array(cc *c, const kl_jv *v, sn *s, const char *dloc, const char *kw, sn ***out, uint32_t *n,
                     int nonempty) {
  if (v->type != KL_JV_ARRAY || (nonempty && v->len == 0))
    return fail(c, KL_SCHEMA_E_INVALID, ptr_join(c, dloc, kw, strlen(kw)), "%s must be a%s array of schemas", kw,
                nonempty ? " non-empty" : "n");
  *out = kl_arena_alloc(A(c), (v->len + 1) * sizeof **out);
  if (!*out) return nomem(c);
  *n = v->len;
  for (uint32_t i = 0; i < v->len; i++) {
    const char *d = ptr_index(c, ptr_join(c, dloc, kw, strlen(kw)), i);
    if (want_schema(c, &v->u.items[i], s->dialect, d, kw)) return -1;
    if (!((*out)[i] = sub(c, &v->u.items[i], s, dloc, kw, NULL, 0, i))) return -1;
  }
  return 0;
}

static int sub_one(cc *c, const kl_jv *v, sn *s, const char *dloc, const char *kw, sn **out) {
  /* draft 4 has no boolean schemas but lets these two keywords be booleans */
  int d4bool = s->dialect < KL_D6 && (v->type == KL_JV_TRUE || v->type == KL_JV_FALSE) &&
               (!strcmp(kw, "additionalProperties") || !strcmp(kw, "additionalItems"));
  if (!d4bool && want_schema(c, v, s->dialect, ptr_join(c, dloc, kw, strlen(kw)), kw)) return -1;
  return (*out = sub(c, v, s, dloc, kw, NULL, 0, -1)) ? 0 : -1;
}

static int add_regex(cc *c, kl_regex *re) {
  kl_schema *s = c->s;
  if (s->nregexes == s->capregexes) {
    size_t cap = s->capregexes ? s->capregexes * 2 : 8;
    kl_regex **r = realloc(s->regexes, cap * sizeof *r);
    if (!r) { kl_regex_free(re); return nomem(c); }
    s->regexes = r;
    s->capregexes = cap;
  }
  s->regexes[s->nregexes++] = re;
  return 0;
}

static kl_regex *regex(cc *c, const kl_jv *v, const char *dloc, const char *kw) {
  char msg[256];
  kl_regex *re = kl_regex_compile(v->u.s, v->len, msg, sizeof msg);
  if (!re) { fail(c, KL_SCHEMA_E_INVALID, dloc, "%s \"%s\" is not a valid regular expression: %s", kw, v->u.s, msg); return NULL; }
  return add_regex(c, re) ? NULL : re;
}

static int type_bits(cc *c, const kl_jv *v, const char *dloc, uint8_t *out) {
  static const char *names[] = { "null", "boolean", "object", "array", "number", "string", "integer" };
  const kl_jv *list = v->type == KL_JV_ARRAY ? v->u.items : v;
  uint32_t n = v->type == KL_JV_ARRAY ? v->len : 1;
  *out = 0;
  for (uint32_t i = 0; i < n; i++) {
    int found = 0;
    for (int t = 0; t < 7 && list[i].type == KL_JV_STRING; t++)
      if (!strcmp(list[i].u.s, names[t])) *out |= (uint8_t)(1 << t), found = 1;
    if (!found)
      return fail(c, KL_SCHEMA_E_INVALID, dloc, "type must be one of null, boolean, object, array, number, string, "
                  "integer, or an array of them");
  }
  return 0;
}

static int string_array(cc *c, const kl_jv *v, const char *dloc, const char *kw) {
  if (v->type != KL_JV_ARRAY) return fail(c, KL_SCHEMA_E_INVALID, dloc, "%s must be an array of strings", kw);
  for (uint32_t i = 0; i < v->len; i++)
    if (v->u.items[i].type != KL_JV_STRING)
      return fail(c, KL_SCHEMA_E_INVALID, ptr_index(c, dloc, i), "%s must be an array of strings", kw);
  return 0;
}

/* Resolves ref (relative to the node's resource) and compiles the target. */
static sn *ref_target(cc *c, sn *s, const kl_jv *ref, const char *dloc, const char *kw) {
  if (ref->type != KL_JV_STRING) { fail(c, KL_SCHEMA_E_INVALID, dloc, "%s must be a string", kw); return NULL; }
  char *abs = kl_uri_resolve(s->res->uri, ref->u.s);
  if (!abs) { nomem(c); return NULL; }
  sres *r;
  const char *loc;
  const kl_jv *t = resolve(c, abs, s->dialect, dloc, &r, &loc);
  free(abs);
  if (!t) return NULL;
  if (!is_schema(t, r->dialect)) {
    fail(c, KL_SCHEMA_E_INVALID, dloc, "%s \"%s\" does not point at a schema", kw, ref->u.s);
    return NULL;
  }
  sinfo *in = info_get(c, t);
  return compile(c, t, r, loc, in ? in->dloc : dloc);
}

static int compile_props(cc *c, sn *s, const kl_jv *v, const char *dloc) {
  if (v->type != KL_JV_OBJECT) return fail(c, KL_SCHEMA_E_INVALID, dloc, "properties must be an object");
  s->nprops = v->len;
  s->props = kl_arena_alloc(A(c), (v->len + 1) * sizeof *s->props);
  if (!s->props) return nomem(c);
  for (uint32_t i = 0; i < v->len; i++) {
    const kl_jmember *m = &v->u.mem[i];
    if (want_schema(c, &m->val, s->dialect, ptr_join(c, ptr_join(c, dloc, "properties", 10), m->key, m->klen),
                    "a property's schema"))
      return -1;
    sn *n = sub(c, &m->val, s, dloc, "properties", m->key, m->klen, -1);
    if (!n) return -1;
    s->props[i] = (sn_prop){ m->key, m->klen, n };
  }
  if (v->len > 8) { /* index by name: lookups are per instance member */
    uint32_t cap = 16;
    while (cap < v->len * 2) cap *= 2;
    s->prop_index = kl_arena_alloc(A(c), cap * sizeof *s->prop_index);
    if (!s->prop_index) return nomem(c);
    memset(s->prop_index, 0xff, cap * sizeof *s->prop_index);
    s->prop_icap = cap;
    for (uint32_t i = 0; i < v->len; i++) {
      uint32_t j = (uint32_t)kl_hash_bytes((const unsigned char *)s->props[i].key, s->props[i].klen) & (cap - 1);
      while (s->prop_index[j] != UINT32_MAX) j = (j + 1) & (cap - 1);
      s->prop_index[j] = i;
    }
  }
  return 0;
}

static sn *compile(cc *c, const kl_jv *jv, sres *res, const char *loc, const char *dloc) {
  if (c->failed) return NULL;
  sinfo *in = info_get(c, jv);
  if (in && in->node) return in->node;
  if (!in && !(in = info_put(c, jv, res, loc, dloc))) { nomem(c); return NULL; }
  sn *s = kl_arena_alloc(A(c), sizeof *s);
  if (!s) { nomem(c); return NULL; }
  memset(s, 0, sizeof *s);
  in->node = s;
  s->res = res;
  s->loc = loc;
  s->self = jv;
  s->dialect = res->dialect;
  if (jv->type == KL_JV_TRUE) { s->kind = SN_TRUE; return s; }
  if (jv->type == KL_JV_FALSE) { s->kind = SN_FALSE; return s; }
  s->kind = SN_OBJ;
  int D = s->dialect;
  unsigned V = res->vocab;
  const kl_jv *v;
#define KW(name) (v = member(jv, name))
#define KD(name) ptr_join(c, dloc, name, strlen(name))
  if (KW("$ref")) {
    if (!(s->ref = ref_target(c, s, v, KD("$ref"), "$ref"))) return NULL;
    if (D <= KL_D7) return s; /* siblings are ignored */
  }
  if (D >= KL_D2020 && KW("$dynamicRef")) {
    if (v->type != KL_JV_STRING) { fail(c, KL_SCHEMA_E_INVALID, KD("$dynamicRef"), "$dynamicRef must be a string"); return NULL; }
    if (!(s->dref = ref_target(c, s, v, KD("$dynamicRef"), "$dynamicRef"))) return NULL;
    /* dynamic only when the fragment is a plain name and the static target
     * carries a $dynamicAnchor of that name */
    const char *h = strchr(v->u.s, '#');
    if (h && h[1] && h[1] != '/') {
      const kl_jv *da = member(s->dref->self, "$dynamicAnchor");
      if (s->dref->kind == SN_OBJ && da && da->type == KL_JV_STRING && !strcmp(da->u.s, h + 1)) {
        s->dref_dynamic = 1;
        s->dref_name = str(c, h + 1);
      }
    }
  }
  if (D == KL_D2019 && KW("$recursiveRef")) {
    if (!(s->dref = ref_target(c, s, v, KD("$recursiveRef"), "$recursiveRef"))) return NULL;
    s->rref = 1;
    s->dref_dynamic = s->dref->res->recursive_anchor && s->dref->self == s->dref->res->root;
  }
  if (V & V_VALIDATION) {
    if (KW("type") && type_bits(c, v, KD("type"), &s->types)) return NULL;
    if (s->types & T_NUMBER) s->types |= T_INTEGER;
    if (KW("enum")) {
      if (v->type != KL_JV_ARRAY) { fail(c, KL_SCHEMA_E_INVALID, KD("enum"), "enum must be an array"); return NULL; }
      s->enum_ = v;
    }
    if (D >= KL_D6 && KW("const")) s->const_ = v;
    static const char *nums[] = { "maximum", "minimum", "multipleOf" };
    const kl_jv **slots[] = { &s->maximum, &s->minimum, &s->multiple };
    for (int i = 0; i < 3; i++)
      if (KW(nums[i])) {
        if (want_number(c, v, KD(nums[i]), nums[i])) return NULL;
        *slots[i] = v;
      }
    if (s->multiple && s->multiple->d <= 0) {
      fail(c, KL_SCHEMA_E_INVALID, KD("multipleOf"), "multipleOf must be greater than 0");
      return NULL;
    }
    static const char *xs[] = { "exclusiveMaximum", "exclusiveMinimum" };
    for (int i = 0; i < 2; i++)
      if (KW(xs[i])) {
        if (D == KL_D4) {
          if (v->type != KL_JV_TRUE && v->type != KL_JV_FALSE) {
            fail(c, KL_SCHEMA_E_INVALID, KD(xs[i]), "%s must be a boolean in draft 4", xs[i]);
            return NULL;
          }
          if (i == 0) s->xmax_bool = v->type == KL_JV_TRUE;
          else s->xmin_bool = v->type == KL_JV_TRUE;
        } else {
          if (want_number(c, v, KD(xs[i]), xs[i])) return NULL;
          if (i == 0) s->xmaximum = v;
          else s->xminimum = v;
        }
      }
    static const struct { const char *kw; int bit; } counts[] = {
      { "maxLength", L_MAXLEN },     { "minLength", L_MINLEN },     { "maxItems", L_MAXITEMS },
      { "minItems", L_MINITEMS },    { "maxProperties", L_MAXPROPS }, { "minProperties", L_MINPROPS },
      { "maxContains", L_MAXCONTAINS }, { "minContains", L_MINCONTAINS },
    };
    uint64_t *cslots[] = { &s->max_len, &s->min_len, &s->max_items, &s->min_items,
                           &s->max_props, &s->min_props, &s->max_contains, &s->min_contains };
    for (int i = 0; i < 8; i++) {
      if (i >= 6 && D < KL_D2019) break;
      if (KW(counts[i].kw)) {
        if (want_count(c, v, KD(counts[i].kw), counts[i].kw, cslots[i])) return NULL;
        s->has_len |= (uint32_t)counts[i].bit;
      }
    }
    if (KW("uniqueItems")) {
      if (v->type != KL_JV_TRUE && v->type != KL_JV_FALSE) {
        fail(c, KL_SCHEMA_E_INVALID, KD("uniqueItems"), "uniqueItems must be a boolean");
        return NULL;
      }
      s->unique = v->type == KL_JV_TRUE;
    }
    if (KW("pattern")) {
      if (v->type != KL_JV_STRING) { fail(c, KL_SCHEMA_E_INVALID, KD("pattern"), "pattern must be a string"); return NULL; }
      if (!(s->pattern = regex(c, v, KD("pattern"), "pattern"))) return NULL;
      s->pattern_src = v->u.s;
    }
    if (KW("required")) {
      if (D == KL_D4 && v->type == KL_JV_ARRAY && v->len == 0) { /* draft 4 wants one; accept none */ }
      if (string_array(c, v, KD("required"), "required")) return NULL;
      s->required = v;
    }
    if (D >= KL_D2019 && KW("dependentRequired")) {
      if (v->type != KL_JV_OBJECT) {
        fail(c, KL_SCHEMA_E_INVALID, KD("dependentRequired"), "dependentRequired must be an object");
        return NULL;
      }
      s->dreq = kl_arena_alloc(A(c), (v->len + 1) * sizeof *s->dreq);
      if (!s->dreq) { nomem(c); return NULL; }
      for (uint32_t i = 0; i < v->len; i++) {
        const kl_jmember *m = &v->u.mem[i];
        if (string_array(c, &m->val, ptr_join(c, KD("dependentRequired"), m->key, m->klen), "dependentRequired"))
          return NULL;
        s->dreq[s->ndreq++] = (sn_dreq){ m->key, m->klen, &m->val };
      }
      s->dep_kw = "dependentRequired";
    }
  }
  if (V & V_APPLICATOR) {
    if (KW("allOf") && sub_array(c, v, s, dloc, "allOf", &s->all, &s->nall, 1)) return NULL;
    if (KW("anyOf") && sub_array(c, v, s, dloc, "anyOf", &s->any, &s->nany, 1)) return NULL;
    if (KW("oneOf") && sub_array(c, v, s, dloc, "oneOf", &s->one, &s->none, 1)) return NULL;
    if (KW("not") && sub_one(c, v, s, dloc, "not", &s->not_)) return NULL;
    if (D >= KL_D7) {
      if (KW("if") && sub_one(c, v, s, dloc, "if", &s->if_)) return NULL;
      if (KW("then") && sub_one(c, v, s, dloc, "then", &s->then_)) return NULL;
      if (KW("else") && sub_one(c, v, s, dloc, "else", &s->else_)) return NULL;
    }
    if (KW("properties") && compile_props(c, s, v, dloc)) return NULL;
    if (KW("patternProperties")) {
      if (v->type != KL_JV_OBJECT) {
        fail(c, KL_SCHEMA_E_INVALID, KD("patternProperties"), "patternProperties must be an object");
        return NULL;
      }
      s->pats = kl_arena_alloc(A(c), (v->len + 1) * sizeof *s->pats);
      if (!s->pats) { nomem(c); return NULL; }
      for (uint32_t i = 0; i < v->len; i++) {
        const kl_jmember *m = &v->u.mem[i];
        const char *d = ptr_join(c, KD("patternProperties"), m->key, m->klen);
        kl_jv key = { .type = KL_JV_STRING, .len = m->klen, .u.s = m->key };
        kl_regex *re = regex(c, &key, d, "patternProperties");
        if (!re || want_schema(c, &m->val, D, d, "a patternProperties schema")) return NULL;
        sn *n = sub(c, &m->val, s, dloc, "patternProperties", m->key, m->klen, -1);
        if (!n) return NULL;
        s->pats[s->npats++] = (sn_pat){ re, m->key, n };
      }
    }
    if (KW("additionalProperties") && sub_one(c, v, s, dloc, "additionalProperties", &s->addl_props)) return NULL;
    if (D >= KL_D6 && KW("propertyNames") && sub_one(c, v, s, dloc, "propertyNames", &s->prop_names)) return NULL;
    if (D >= KL_D2019 && KW("dependentSchemas")) {
      if (v->type != KL_JV_OBJECT) {
        fail(c, KL_SCHEMA_E_INVALID, KD("dependentSchemas"), "dependentSchemas must be an object");
        return NULL;
      }
      s->dsch = kl_arena_alloc(A(c), (v->len + 1) * sizeof *s->dsch);
      if (!s->dsch) { nomem(c); return NULL; }
      for (uint32_t i = 0; i < v->len; i++) {
        const kl_jmember *m = &v->u.mem[i];
        if (want_schema(c, &m->val, D, ptr_join(c, KD("dependentSchemas"), m->key, m->klen), "dependentSchemas"))
          return NULL;
        sn *n = sub(c, &m->val, s, dloc, "dependentSchemas", m->key, m->klen, -1);
        if (!n) return NULL;
        s->dsch[s->ndsch++] = (sn_prop){ m->key, m->klen, n };
      }
      s->dep_kw = "dependentSchemas";
    }
    /* dependencies: the draft 7 keyword, still honoured later (as ajv and
     * the suite's optional compatibility tests do) unless its successors are there */
    if (KW("dependencies") && (D <= KL_D7 || (!s->dreq && !s->dsch))) {
      if (v->type != KL_JV_OBJECT) {
        fail(c, KL_SCHEMA_E_INVALID, KD("dependencies"), "dependencies must be an object");
        return NULL;
      }
      s->dreq = kl_arena_alloc(A(c), (v->len + 1) * sizeof *s->dreq);
      s->dsch = kl_arena_alloc(A(c), (v->len + 1) * sizeof *s->dsch);
      if (!s->dreq || !s->dsch) { nomem(c); return NULL; }
      for (uint32_t i = 0; i < v->len; i++) {
        const kl_jmember *m = &v->u.mem[i];
        const char *d = ptr_join(c, KD("dependencies"), m->key, m->klen);
        if (m->val.type == KL_JV_ARRAY) {
          if (string_array(c, &m->val, d, "dependencies")) return NULL;
          s->dreq[s->ndreq++] = (sn_dreq){ m->key, m->klen, &m->val };
        } else {
          if (want_schema(c, &m->val, D, d, "a dependencies entry")) return NULL;
          sn *n = sub(c, &m->val, s, dloc, "dependencies", m->key, m->klen, -1);
          if (!n) return NULL;
          s->dsch[s->ndsch++] = (sn_prop){ m->key, m->klen, n };
        }
      }
      s->dep_kw = "dependencies";
    }
    if (D >= KL_D2020) {
      if (KW("prefixItems") && sub_array(c, v, s, dloc, "prefixItems", &s->prefix, &s->nprefix, 1)) return NULL;
      if (KW("items") && sub_one(c, v, s, dloc, "items", &s->items)) return NULL;
    } else if (KW("items")) {
      if (v->type == KL_JV_ARRAY) {
        if (sub_array(c, v, s, dloc, "items", &s->prefix, &s->nprefix, 0)) return NULL;
        s->prefix_kw_items = 1;
        if (KW("additionalItems") && sub_one(c, v, s, dloc, "additionalItems", &s->items)) return NULL;
      } else if (sub_one(c, v, s, dloc, "items", &s->items)) return NULL;
    }
    if (D >= KL_D6 && KW("contains") && sub_one(c, v, s, dloc, "contains", &s->contains)) return NULL;
  }
  if ((V & V_UNEVALUATED) && D >= KL_D2019) {
    if (KW("unevaluatedProperties") && sub_one(c, v, s, dloc, "unevaluatedProperties", &s->unev_props)) return NULL;
    if (KW("unevaluatedItems") && sub_one(c, v, s, dloc, "unevaluatedItems", &s->unev_items)) return NULL;
    s->has_unevaluated = s->unev_props || s->unev_items;
  }
  if (KW("format")) {
    if (v->type != KL_JV_STRING) { fail(c, KL_SCHEMA_E_INVALID, KD("format"), "format must be a string"); return NULL; }
    s->format = v->u.s;
    s->format_assert = c->o->formats || (V & V_FORMAT_ASSERT);
  }
#undef KW
#undef KD
  return c->failed ? NULL : s;
}

static void set_err_ok(kl_schema_err *e) {
  e->code = KL_SCHEMA_OK;
  e->uri[0] = e->msg[0] = 0;
}

kl_schema *kl_schema_compile(const char *text, size_t n, const kl_schema_opts *o, kl_schema_err *err) {
  kl_schema_err dummy;
  if (!err) err = &dummy;
  set_err_ok(err);
  kl_schema_opts def = { 0 };
  if (!o) o = &def;
  kl_schema *s = calloc(1, sizeof *s);
  if (!s) { err->code = KL_SCHEMA_E_NOMEM; snprintf(err->msg, sizeof err->msg, "out of memory"); return NULL; }
  kl_arena_init(&s->arena);
  cc c = { .s = s, .o = o, .err = err };
  kl_jd_init(&c.jd);
  int dialect = o->dialect ? o->dialect : KL_D2020;
  s->dialect = dialect;
  c.loaded = calloc(o->ndocs + 1, 1);
  if (!c.loaded) { nomem(&c); goto out; }
  const char *base = o->base_uri && *o->base_uri ? o->base_uri : "keel:/schema.json";
  char *b = kl_arena_strdup(&s->arena, base, kl_uri_frag(base));
  if (!b) { nomem(&c); goto out; }
  sres *r = add_document(&c, b, text, n, dialect, "");
  if (!r) goto out;
  /* the root resource: scan() may have put an alias ($id) in front */
  sinfo *in = info_get(&c, r->root);
  s->dialect = in ? in->res->dialect : r->dialect;
  s->root = compile(&c, r->root, in ? in->res : r, in ? in->loc : "", "");
  /* dynamic anchors anywhere may be jumped to at validation time; compiling
   * them can load more documents, hence the loop until nothing is new */
  for (int again = 1; again && !c.failed;) {
    again = 0;
    for (sres *x = s->resources; x && !c.failed; x = x->next)
      for (size_t i = 0; i < x->nanchors && !c.failed; i++) {
        if (!x->anchors[i].dynamic) continue;
        sinfo *ai = info_get(&c, x->anchors[i].at);
        if (ai && ai->node) continue;
        compile(&c, x->anchors[i].at, ai ? ai->res : x, ai ? ai->loc : "", ai ? ai->dloc : x->uri);
        again = 1;
      }
  }
  /* what $dynamicRef and $recursiveRef may jump to at validation time */
  for (sres *x = s->resources; x && !c.failed; x = x->next) {
    sinfo *ri = info_get(&c, x->root);
    x->root_node = ri ? ri->node : NULL;
    for (size_t i = 0; i < x->nanchors; i++) {
      sinfo *ai = info_get(&c, x->anchors[i].at);
      x->anchors[i].node = ai ? ai->node : NULL;
    }
  }
out:
  kl_jd_free(&c.jd);
  free(c.loaded);
  free(c.map);
  if (c.failed || !s->root) {
    if (!c.failed) { err->code = KL_SCHEMA_E_NOMEM; snprintf(err->msg, sizeof err->msg, "out of memory"); }
    kl_schema_free(s);
    return NULL;
  }
  return s;
}

void kl_schema_free(kl_schema *s) {
  if (!s) return;
  for (size_t i = 0; i < s->nregexes; i++) kl_regex_free(s->regexes[i]);
  free(s->regexes);
  kl_arena_free(&s->arena);
  free(s);
}

int kl_schema_dialect(const kl_schema *s) { return s->dialect; }
