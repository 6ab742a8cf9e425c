/* JSON Schema validation over a compiled schema (schema_compile.c).
 *
 * Two modes. Verdict only (max_errors 0, and inside `not`, `if`, `contains`
 * and the first pass of anyOf/oneOf): stop at the first failure. Collecting:
 * evaluate every keyword and record each failure with its paths; anyOf and
 * oneOf run their branches again to collect only when they failed, so a
 * passing document costs the same in both modes.
 *
 * unevaluatedProperties/Items need to know what the other keywords of their
 * schema (and the in-place subschemas that passed) evaluated: that is an
 * `ev` record, one flag per member or item, passed down only beneath a
 * schema that has such a keyword, so other schemas pay nothing for it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytehash.h"
#include "jsonformat.h"
#include "schema_int.h"

#define MAX_DEPTH 1000 /* schema steps on one path: a $ref loop ends here, not in a stack overflow */

typedef struct {
  const char *s; /* NULL: an array index */
  uint32_t n;
  uint32_t idx;
} seg;

typedef struct {
  seg *v;
  size_t n, cap;
} path;

struct kl_vctx {
  kl_arena inst; /* the instance tree and evaluation records */
  kl_arena msgs; /* error strings */
  kl_jd jd;
  path kp, ip;
  sres **scope;
  size_t nscope, capscope;
  kl_verr *errs;
  size_t nerr, caperr, max_errors;
  int collect, capped, oom, depth;
};

typedef struct {
  uint8_t *f; /* one flag per member or item of the instance */
} ev;

/* ---- paths and errors ---- */

static int push(kl_vctx *v, path *p, const char *s, uint32_t n, uint32_t idx) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 64;
    seg *g = realloc(p->v, cap * sizeof *g);
    if (!g) { v->oom = 1; return -1; }
    p->v = g;
    p->cap = cap;
  }
  p->v[p->n++] = (seg){ s, n, idx };
  return 0;
}
#define KPUSH(v, kw) push(v, &(v)->kp, kw, (uint32_t)strlen(kw), 0)
#define KPUSHK(v, k, n) push(v, &(v)->kp, k, n, 0)
#define KPUSHI(v, i) push(v, &(v)->kp, NULL, 0, i)
#define IPUSHK(v, k, n) push(v, &(v)->ip, k, n, 0)
#define IPUSHI(v, i) push(v, &(v)->ip, NULL, 0, i)
#define POP(p) ((p).n ? (p).n-- : 0) /* a push that failed (oom) pushed nothing */

static char *path_str(kl_vctx *v, const path *p, const char *extra) {
  size_t len = 1 + (extra ? strlen(extra) * 2 + 1 : 0);
  for (size_t i = 0; i < p->n; i++) len += 1 + (p->v[i].s ? p->v[i].n * 2 : 10);
  char *d = kl_arena_alloc(&v->msgs, len + 1), *o = d;
  if (!d) return NULL;
  for (size_t i = 0; i <= p->n; i++) {
    const char *s;
    uint32_t n;
    char num[16];
    if (i == p->n) {
      if (!extra) break;
      s = extra, n = (uint32_t)strlen(extra);
    } else if (p->v[i].s) s = p->v[i].s, n = p->v[i].n;
    else n = (uint32_t)snprintf(num, sizeof num, "%u", p->v[i].idx), s = num;
    *o++ = '/';
    o = kl_ptr_escape(o, s, n);
  }
  *o = 0;
  return d;
}

static void verr(kl_vctx *v, const sn *s, const char *kw, const char *fmt, ...) {
  if (!v->collect) return;
  if (v->nerr >= v->max_errors) { v->capped = 1; return; }
  if (v->nerr == v->caperr) {
    size_t cap = v->caperr ? v->caperr * 2 : 16;
    kl_verr *e = realloc(v->errs, cap * sizeof *e);
    if (!e) { v->oom = 1; return; }
    v->errs = e;
    v->caperr = cap;
  }
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  kl_verr *e = &v->errs[v->nerr];
  e->instance_path = path_str(v, &v->ip, NULL);
  e->schema_path = path_str(v, &v->kp, kw);
  size_t ul = strlen(s->res->uri), ll = strlen(s->loc), kl = kw ? strlen(kw) : 0;
  char *abs = kl_arena_alloc(&v->msgs, ul + ll + kl * 2 + 4);
  if (abs) {
    memcpy(abs, s->res->uri, ul);
    abs[ul] = '#';
    memcpy(abs + ul + 1, s->loc, ll);
    char *o = abs + ul + 1 + ll;
    if (kw) {
      *o++ = '/';
      o = kl_ptr_escape(o, kw, kl);
    }
    *o = 0;
  }
  e->absolute_path = abs;
  e->keyword = kw ? kw : "";
  e->message = kl_arena_strdup(&v->msgs, msg, strlen(msg));
  if (!e->instance_path || !e->schema_path || !abs || !e->message) { v->oom = 1; return; }
  v->nerr++;
}

/* A short rendering of a value for messages. */
static const char *show(char *buf, size_t cap, const kl_jv *x) {
  switch (x->type) {
  case KL_JV_NULL: return "null";
  case KL_JV_TRUE: return "true";
  case KL_JV_FALSE: return "false";
  case KL_JV_NUMBER: snprintf(buf, cap, "%.40s", x->u.s); return buf;
  case KL_JV_STRING:
    if (x->len > 40) snprintf(buf, cap, "\"%.40s...\"", x->u.s);
    else snprintf(buf, cap, "\"%s\"", x->u.s);
    return buf;
  case KL_JV_ARRAY: return "an array";
  default: return "an object";
  }
}

static const char *type_name(const kl_jv *x) {
  static const char *names[] = { "null", "boolean", "boolean", "number", "string", "array", "object" };
  if (x->type == KL_JV_NUMBER && x->is_int) return "integer";
  return names[x->type];
}

/* ---- evaluation records ---- */

static int ev_new(kl_vctx *v, const kl_jv *x, ev *e) {
  e->f = NULL;
  if (x->type != KL_JV_OBJECT && x->type != KL_JV_ARRAY) return 0;
  if (!x->len) return 0;
  e->f = kl_arena_alloc(&v->inst, x->len);
  if (!e->f) { v->oom = 1; return -1; }
  memset(e->f, 0, x->len);
  return 0;
}

static void ev_merge(ev *dst, const ev *src, const kl_jv *x) {
  if (!dst || !dst->f || !src->f) return;
  for (uint32_t i = 0; i < x->len; i++) dst->f[i] |= src->f[i];
}

static void mark(ev *e, uint32_t i) {
  if (e && e->f) e->f[i] = 1;
}

/* ---- validation ---- */

static int node(kl_vctx *v, const sn *s, const kl_jv *x, ev *e);

/* An in-place applicator's subschema: its annotations count only if it passed. */
static int inplace(kl_vctx *v, const sn *s, const kl_jv *x, ev *e) {
  if (!e) return node(v, s, x, NULL);
  ev t;
  if (ev_new(v, x, &t)) return 0;
  int ok = node(v, s, x, &t);
  if (ok) ev_merge(e, &t, x);
  return ok;
}

/* Runs s with errors off; the verdict only. */
static int quiet(kl_vctx *v, const sn *s, const kl_jv *x, ev *e) {
  int saved = v->collect;
  v->collect = 0;
  int ok = e ? inplace(v, s, x, e) : node(v, s, x, NULL);
  v->collect = saved;
  return ok;
}

sn *kl_sn_prop_find(const sn *s, const char *key, uint32_t klen) {
  if (s->prop_index) {
    uint32_t h = (uint32_t)kl_hash_bytes((const unsigned char *)key, klen);
    for (uint32_t j = h & (s->prop_icap - 1);; j = (j + 1) & (s->prop_icap - 1)) {
      uint32_t i = s->prop_index[j];
      if (i == UINT32_MAX) return NULL;
      if (s->props[i].klen == klen && memcmp(s->props[i].key, key, klen) == 0) return s->props[i].node;
    }
  }
  for (uint32_t i = 0; i < s->nprops; i++)
    if (s->props[i].klen == klen && memcmp(s->props[i].key, key, klen) == 0) return s->props[i].node;
  return NULL;
}

static int has_key(const kl_jv *x, const char *k, uint32_t n) {
  return kl_jv_get(x, k, n) != NULL;
}

#define FAIL()                     \
  do {                             \
    ok = 0;                        \
    if (!v->collect) goto done;    \
  } while (0)

static int check_numbers(kl_vctx *v, const sn *s, const kl_jv *x) {
  int ok = 1;
  char a[64];
  if (s->maximum) {
    int c = kl_jv_numcmp(x, s->maximum);
    if (c > 0 || (c == 0 && s->xmax_bool)) {
      verr(v, s, "maximum", "must be %s %s", s->xmax_bool ? "less than" : "at most", show(a, sizeof a, s->maximum));
      FAIL();
    }
  }
  if (s->xmaximum && kl_jv_numcmp(x, s->xmaximum) >= 0) {
    verr(v, s, "exclusiveMaximum", "must be less than %s", show(a, sizeof a, s->xmaximum));
    FAIL();
  }
  if (s->minimum) {
    int c = kl_jv_numcmp(x, s->minimum);
    if (c < 0 || (c == 0 && s->xmin_bool)) {
      verr(v, s, "minimum", "must be %s %s", s->xmin_bool ? "greater than" : "at least", show(a, sizeof a, s->minimum));
      FAIL();
    }
  }
  if (s->xminimum && kl_jv_numcmp(x, s->xminimum) <= 0) {
    verr(v, s, "exclusiveMinimum", "must be greater than %s", show(a, sizeof a, s->xminimum));
    FAIL();
  }
  if (s->multiple && !kl_jv_multiple_of(x, s->multiple)) {
    verr(v, s, "multipleOf", "must be a multiple of %s", show(a, sizeof a, s->multiple));
    FAIL();
  }
done:
  return ok;
}

static int check_string(kl_vctx *v, const sn *s, const kl_jv *x) {
  int ok = 1;
  if (s->has_len & (L_MAXLEN | L_MINLEN)) {
    uint64_t n = kl_utf8_count(x->u.s, x->len);
    if ((s->has_len & L_MAXLEN) && n > s->max_len) {
      verr(v, s, "maxLength", "must be at most %llu characters long (it is %llu)", (unsigned long long)s->max_len,
           (unsigned long long)n);
      FAIL();
    }
    if ((s->has_len & L_MINLEN) && n < s->min_len) {
      verr(v, s, "minLength", "must be at least %llu characters long (it is %llu)", (unsigned long long)s->min_len,
           (unsigned long long)n);
      FAIL();
    }
  }
  if (s->pattern) {
    int r = kl_regex_search(s->pattern, x->u.s, x->len);
    if (r != 1) {
      if (r < 0) verr(v, s, "pattern", "could not be matched against the pattern \"%s\" (regex limit reached)", s->pattern_src);
      else verr(v, s, "pattern", "must match the pattern \"%s\"", s->pattern_src);
      FAIL();
    }
  }
  if (s->format && s->format_assert) {
    int r = kl_format_check(s->format, strlen(s->format), x->u.s, x->len);
    if (r == 0) {
      verr(v, s, "format", "must be a valid %s", s->format);
      FAIL();
    }
  }
done:
  return ok;
}

static int unique(kl_vctx *v, const sn *s, const kl_jv *x) {
  uint32_t n = x->len, a = 0, b = 0;
  int dup = 0;
  if (n <= 16) {
    for (uint32_t i = 0; i < n && !dup; i++)
      for (uint32_t j = i + 1; j < n; j++)
        if (kl_jv_equal(&x->u.items[i], &x->u.items[j])) { dup = 1, a = i, b = j; break; }
  } else {
    /* hash, then compare only items whose hashes collide */
    size_t cap = 32;
    while (cap < (size_t)n * 2) cap *= 2;
    uint32_t *slot = kl_arena_alloc(&v->inst, cap * sizeof *slot);
    if (!slot) { v->oom = 1; return 0; }
    memset(slot, 0xff, cap * sizeof *slot);
    for (uint32_t i = 0; i < n && !dup; i++) {
      for (size_t j = kl_jv_hash(&x->u.items[i]) & (cap - 1);; j = (j + 1) & (cap - 1)) {
        if (slot[j] == UINT32_MAX) { slot[j] = i; break; }
        if (kl_jv_equal(&x->u.items[slot[j]], &x->u.items[i])) { dup = 1, a = slot[j], b = i; break; }
      }
    }
  }
  if (!dup) return 1;
  verr(v, s, "uniqueItems", "must not contain duplicates (items %u and %u are equal)", a, b);
  return 0;
}

static int check_array(kl_vctx *v, const sn *s, const kl_jv *x, ev *e) {
  int ok = 1;
  if ((s->has_len & L_MAXITEMS) && x->len > s->max_items) {
    verr(v, s, "maxItems", "must have at most %llu items (it has %u)", (unsigned long long)s->max_items, x->len);
    FAIL();
  }
  if ((s->has_len & L_MINITEMS) && x->len < s->min_items) {
    verr(v, s, "minItems", "must have at least %llu items (it has %u)", (unsigned long long)s->min_items, x->len);
    FAIL();
  }
  if (s->unique && !unique(v, s, x)) FAIL();
  const char *pkw = s->prefix_kw_items ? "items" : "prefixItems";
  const char *ikw = s->prefix_kw_items ? "additionalItems" : "items";
  uint32_t np = s->nprefix < x->len ? s->nprefix : x->len;
  if (np) {
    KPUSH(v, pkw);
    for (uint32_t i = 0; i < np; i++) {
      KPUSHI(v, i), IPUSHI(v, i);
      int r = node(v, s->prefix[i], &x->u.items[i], NULL);
      POP(v->kp), POP(v->ip);
      mark(e, i);
      if (!r) { ok = 0; if (!v->collect) { POP(v->kp); goto done; } }
    }
    POP(v->kp);
  }
  if (s->items && x->len > s->nprefix) {
    KPUSH(v, ikw);
    for (uint32_t i = s->nprefix; i < x->len; i++) {
      IPUSHI(v, i);
      int r;
      if (s->items->kind == SN_FALSE) {
        verr(v, s->items, NULL, "must have at most %u items here (no more allowed)", s->nprefix);
        r = 0;
      } else r = node(v, s->items, &x->u.items[i], NULL);
      POP(v->ip);
      mark(e, i);
      if (!r) {
        ok = 0;
        if (!v->collect || s->items->kind == SN_FALSE) break;
      }
    }
    POP(v->kp);
    if (!ok && !v->collect) goto done;
  }
  if (s->contains) {
    uint64_t found = 0;
    KPUSH(v, "contains");
    for (uint32_t i = 0; i < x->len; i++) {
      IPUSHI(v, i);
      int r = quiet(v, s->contains, &x->u.items[i], NULL);
      POP(v->ip);
      if (r) {
        found++;
        if (s->dialect >= KL_D2020) mark(e, i);
      }
    }
    POP(v->kp);
    uint64_t min = s->has_len & L_MINCONTAINS ? s->min_contains : 1;
    if (found < min) {
      verr(v, s, "contains", "must contain at least %llu item%s matching the contains schema (found %llu)",
           (unsigned long long)min, min == 1 ? "" : "s", (unsigned long long)found);
      FAIL();
    }
    if ((s->has_len & L_MAXCONTAINS) && found > s->max_contains) {
      verr(v, s, "maxContains", "must contain at most %llu items matching the contains schema (found %llu)",
           (unsigned long long)s->max_contains, (unsigned long long)found);
      FAIL();
    }
  }
done:
  return ok;
}

static int check_object(kl_vctx *v, const sn *s, const kl_jv *x, ev *e) {
  int ok = 1;
  if ((s->has_len & L_MAXPROPS) && x->len > s->max_props) {
    verr(v, s, "maxProperties", "must have at most %llu properties (it has %u)", (unsigned long long)s->max_props, x->len);
    FAIL();
  }
  if ((s->has_len & L_MINPROPS) && x->len < s->min_props) {
    verr(v, s, "minProperties", "must have at least %llu properties (it has %u)", (unsigned long long)s->min_props, x->len);
    FAIL();
  }
  if (s->required) {
    for (uint32_t i = 0; i < s->required->len; i++) {
      const kl_jv *k = &s->required->u.items[i];
      if (!has_key(x, k->u.s, k->len)) {
        verr(v, s, "required", "missing required property \"%s\"", k->u.s);
        FAIL();
      }
    }
  }
  for (uint32_t d = 0; d < s->ndreq; d++) {
    const sn_dreq *r = &s->dreq[d];
    if (!has_key(x, r->key, r->klen)) continue;
    for (uint32_t i = 0; i < r->names->len; i++) {
      const kl_jv *k = &r->names->u.items[i];
      if (!has_key(x, k->u.s, k->len)) {
        KPUSH(v, s->dep_kw);
        verr(v, s, NULL, "property \"%s\" is required when \"%s\" is present", k->u.s, r->key);
        POP(v->kp);
        FAIL();
      }
    }
  }
  if (s->props || s->pats || s->addl_props) {
    for (uint32_t i = 0; i < x->len; i++) {
      const kl_jmember *m = &x->u.mem[i];
      int matched = 0;
      if (s->nprops) {
        sn *p = kl_sn_prop_find(s, m->key, m->klen);
        if (p) {
          matched = 1;
          KPUSH(v, "properties"), KPUSHK(v, m->key, m->klen), IPUSHK(v, m->key, m->klen);
          int r = node(v, p, &m->val, NULL);
          POP(v->kp), POP(v->kp), POP(v->ip);
          mark(e, i);
          if (!r) FAIL();
        }
      }
      for (uint32_t j = 0; j < s->npats; j++) {
        int r = kl_regex_search(s->pats[j].re, m->key, m->klen);
        if (r == 0) continue;
        matched = 1;
        KPUSH(v, "patternProperties"), KPUSHK(v, s->pats[j].src, (uint32_t)strlen(s->pats[j].src));
        IPUSHK(v, m->key, m->klen);
        if (r < 0) verr(v, s, NULL, "could not match the property name against the pattern (regex limit reached)");
        r = r > 0 && node(v, s->pats[j].node, &m->val, NULL);
        POP(v->kp), POP(v->kp), POP(v->ip);
        mark(e, i);
        if (!r) FAIL();
      }
      if (!matched && s->addl_props) {
        KPUSH(v, "additionalProperties"), IPUSHK(v, m->key, m->klen);
        int r;
        if (s->addl_props->kind == SN_FALSE) {
          POP(v->kp);
          verr(v, s, "additionalProperties", "property \"%s\" is not allowed", m->key);
          KPUSH(v, "additionalProperties");
          r = 0;
        } else r = node(v, s->addl_props, &m->val, NULL);
        POP(v->kp), POP(v->ip);
        mark(e, i);
        if (!r) FAIL();
      }
    }
  }
  if (s->prop_names) {
    KPUSH(v, "propertyNames");
    for (uint32_t i = 0; i < x->len; i++) {
      kl_jv k = { .type = KL_JV_STRING, .len = x->u.mem[i].klen, .u.s = x->u.mem[i].key };
      IPUSHK(v, k.u.s, k.len);
      int r = node(v, s->prop_names, &k, NULL);
      POP(v->ip);
      if (!r) {
        ok = 0;
        if (!v->collect) break;
      }
    }
    POP(v->kp);
    if (!ok && !v->collect) goto done;
  }
  for (uint32_t d = 0; d < s->ndsch; d++) {
    const sn_prop *p = &s->dsch[d];
    if (!has_key(x, p->key, p->klen)) continue;
    KPUSH(v, s->dep_kw), KPUSHK(v, p->key, p->klen);
    int r = inplace(v, p->node, x, e);
    POP(v->kp), POP(v->kp);
    if (!r) FAIL();
  }
done:
  return ok;
}

/* anyOf / oneOf: how many branches pass; errors of every branch collected
 * (after the keyword's own error) only when the keyword failed. */
static int branches(kl_vctx *v, const sn *s, sn **list, uint32_t n, const kl_jv *x, ev *e, int one) {
  const char *kw = one ? "oneOf" : "anyOf";
  uint32_t passed = 0, first = 0, second = 0;
  KPUSH(v, kw);
  for (uint32_t i = 0; i < n; i++) {
    KPUSHI(v, i);
    int r = quiet(v, list[i], x, e);
    POP(v->kp);
    if (r) {
      if (passed == 0) first = i;
      else if (passed == 1) second = i;
      passed++;
      if (!e && (!one || passed > 1)) break;
    }
  }
  POP(v->kp);
  int ok = one ? passed == 1 : passed > 0;
  if (ok || !v->collect) return ok;
  if (one && passed > 1) {
    verr(v, s, kw, "must match exactly one schema in oneOf, but matches %u and %u", first, second);
    return 0;
  }
  verr(v, s, kw, "must match %s of the %u schemas in %s; the errors of each follow", one ? "exactly one" : "at least one",
       n, kw);
  KPUSH(v, kw);
  for (uint32_t i = 0; i < n; i++) {
    KPUSHI(v, i);
    node(v, list[i], x, NULL);
    POP(v->kp);
  }
  POP(v->kp);
  return 0;
}

static int check_applicators(kl_vctx *v, const sn *s, const kl_jv *x, ev *e) {
  int ok = 1;
  if (s->nall) {
    KPUSH(v, "allOf");
    for (uint32_t i = 0; i < s->nall; i++) {
      KPUSHI(v, i);
      int r = inplace(v, s->all[i], x, e);
      POP(v->kp);
      if (!r) {
        ok = 0;
        if (!v->collect) break;
      }
    }
    POP(v->kp);
    if (!ok && !v->collect) goto done;
  }
  if (s->nany && !branches(v, s, s->any, s->nany, x, e, 0)) FAIL();
  if (s->none && !branches(v, s, s->one, s->none, x, e, 1)) FAIL();
  if (s->not_) {
    KPUSH(v, "not");
    int r = quiet(v, s->not_, x, NULL);
    POP(v->kp);
    if (r) {
      verr(v, s, "not", "must not match the schema in \"not\"");
      FAIL();
    }
  }
  if (s->if_) {
    ev t = { NULL };
    if (e && ev_new(v, x, &t)) return 0;
    KPUSH(v, "if");
    int r = quiet(v, s->if_, x, e ? &t : NULL);
    POP(v->kp);
    if (r) ev_merge(e, &t, x);
    const sn *branch = r ? s->then_ : s->else_;
    if (branch) {
      KPUSH(v, r ? "then" : "else");
      int b = inplace(v, branch, x, e);
      POP(v->kp);
      if (!b) FAIL();
    }
  }
done:
  return ok;
}

static int check_unevaluated(kl_vctx *v, const sn *s, const kl_jv *x, ev *mine) {
  int ok = 1;
  if (s->unev_items && x->type == KL_JV_ARRAY) {
    KPUSH(v, "unevaluatedItems");
    for (uint32_t i = 0; i < x->len; i++) {
      if (mine->f && mine->f[i]) continue;
      IPUSHI(v, i);
      int r;
      if (s->unev_items->kind == SN_FALSE) {
        POP(v->kp);
        verr(v, s, "unevaluatedItems", "item %u is not allowed (no schema here evaluates it)", i);
        KPUSH(v, "unevaluatedItems");
        r = 0;
      } else r = node(v, s->unev_items, &x->u.items[i], NULL);
      POP(v->ip);
      mark(mine, i);
      if (!r) {
        ok = 0;
        if (!v->collect) break;
      }
    }
    POP(v->kp);
  }
  if (s->unev_props && x->type == KL_JV_OBJECT && (ok || v->collect)) {
    KPUSH(v, "unevaluatedProperties");
    for (uint32_t i = 0; i < x->len; i++) {
      if (mine->f && mine->f[i]) continue;
      const kl_jmember *m = &x->u.mem[i];
      IPUSHK(v, m->key, m->klen);
      int r;
      if (s->unev_props->kind == SN_FALSE) {
        POP(v->kp);
        verr(v, s, "unevaluatedProperties", "property \"%s\" is not allowed", m->key);
        KPUSH(v, "unevaluatedProperties");
        r = 0;
      } else r = node(v, s->unev_props, &m->val, NULL);
      POP(v->ip);
      mark(mine, i);
      if (!r) {
        ok = 0;
        if (!v->collect) break;
      }
    }
    POP(v->kp);
  }
  return ok;
}

static const sn *dynamic_target(kl_vctx *v, const sn *s) {
  if (s->rref) {
    for (size_t i = 0; i < v->nscope; i++)
      if (v->scope[i]->recursive_anchor && v->scope[i]->root_node) return v->scope[i]->root_node;
    return s->dref;
  }
  for (size_t i = 0; i < v->nscope; i++) {
    const sres *r = v->scope[i];
    for (size_t a = 0; a < r->nanchors; a++)
      if (r->anchors[a].dynamic && r->anchors[a].node && !strcmp(r->anchors[a].name, s->dref_name))
        return r->anchors[a].node;
  }
  return s->dref;
}

static int node(kl_vctx *v, const sn *s, const kl_jv *x, ev *e) {
  if (s->kind == SN_TRUE) return 1;
  if (s->kind == SN_FALSE) {
    verr(v, s, NULL, "no value is allowed here (the schema is false)");
    return 0;
  }
  if (v->oom) return 0;
  if (++v->depth > MAX_DEPTH) {
    v->depth--;
    verr(v, s, NULL, "schema evaluation deeper than %d steps (a $ref cycle that never consumes the instance?)",
         MAX_DEPTH);
    return 0;
  }
  int pushed = 0, ok = 1;
  if (!v->nscope || v->scope[v->nscope - 1] != s->res) {
    if (v->nscope == v->capscope) {
      size_t cap = v->capscope ? v->capscope * 2 : 16;
      sres **sc = realloc(v->scope, cap * sizeof *sc);
      if (!sc) { v->oom = 1; v->depth--; return 0; }
      v->scope = sc;
      v->capscope = cap;
    }
    v->scope[v->nscope++] = s->res;
    pushed = 1;
  }
  ev mine = { NULL }, *pe = e;
  if (s->has_unevaluated) {
    if (ev_new(v, x, &mine)) { ok = 0; goto done; }
    e = &mine;
  }
  if (s->ref) {
    KPUSH(v, "$ref");
    int r = inplace(v, s->ref, x, e);
    POP(v->kp);
    if (!r) FAIL();
  }
  if (s->dref) {
    const sn *t = s->dref_dynamic ? dynamic_target(v, s) : s->dref;
    KPUSH(v, s->rref ? "$recursiveRef" : "$dynamicRef");
    int r = inplace(v, t, x, e);
    POP(v->kp);
    if (!r) FAIL();
  }
  if (s->types) {
    int t;
    switch (x->type) {
    case KL_JV_NULL: t = T_NULL; break;
    case KL_JV_TRUE:
    case KL_JV_FALSE: t = T_BOOLEAN; break;
    case KL_JV_NUMBER:
      /* draft 4 predates "1.0 is an integer": there the literal decides */
      t = x->is_int && (s->dialect > KL_D4 || !strpbrk(x->u.s, ".eE")) ? T_INTEGER : T_NUMBER;
      break;
    case KL_JV_STRING: t = T_STRING; break;
    case KL_JV_ARRAY: t = T_ARRAY; break;
    default: t = T_OBJECT;
    }
    if (!(s->types & t)) {
      static const char *names[] = { "null", "boolean", "object", "array", "number", "string", "integer" };
      char want[96] = "";
      for (int i = 0; i < 7; i++) {
        if (!(s->types & (1 << i)) || (i == 6 && (s->types & T_NUMBER))) continue;
        if (*want) strcat(want, " or ");
        strcat(want, names[i]);
      }
      verr(v, s, "type", "must be %s, not %s", want, type_name(x));
      FAIL();
    }
  }
  if (s->enum_) {
    int found = 0;
    for (uint32_t i = 0; i < s->enum_->len && !found; i++) found = kl_jv_equal(x, &s->enum_->u.items[i]);
    if (!found) {
      char list[256] = "", b[64];
      for (uint32_t i = 0; i < s->enum_->len; i++) {
        const char *one = show(b, sizeof b, &s->enum_->u.items[i]);
        if (strlen(list) + strlen(one) + 8 >= sizeof list) { strcat(list, ", ..."); break; }
        if (i) strcat(list, ", ");
        strcat(list, one);
      }
      char got[64];
      verr(v, s, "enum", "must be one of %s (it is %s)", list, show(got, sizeof got, x));
      FAIL();
    }
  }
  if (s->const_ && !kl_jv_equal(x, s->const_)) {
    char b[64];
    verr(v, s, "const", "must be %s", show(b, sizeof b, s->const_));
    FAIL();
  }
  switch (x->type) {
  case KL_JV_NUMBER:
    if (!check_numbers(v, s, x)) FAIL();
    break;
  case KL_JV_STRING:
    if (!check_string(v, s, x)) FAIL();
    break;
  case KL_JV_ARRAY:
    if (!check_array(v, s, x, e)) FAIL();
    break;
  case KL_JV_OBJECT:
    if (!check_object(v, s, x, e)) FAIL();
    break;
  default: break;
  }
  if (!check_applicators(v, s, x, e)) FAIL();
  if (s->has_unevaluated && !check_unevaluated(v, s, x, &mine)) FAIL();
done:
  /* what this schema evaluated counts for the schema that applied it */
  if (s->has_unevaluated && ok) ev_merge(pe, &mine, x);
  if (pushed) v->nscope--;
  v->depth--;
  return ok && !v->oom;
}

/* ---- API ---- */

kl_vctx *kl_vctx_new(void) {
  kl_vctx *v = calloc(1, sizeof *v);
  if (!v) return NULL;
  kl_arena_init(&v->inst);
  kl_arena_init(&v->msgs);
  kl_jd_init(&v->jd);
  return v;
}

void kl_vctx_free(kl_vctx *v) {
  if (!v) return;
  kl_arena_free(&v->inst);
  kl_arena_free(&v->msgs);
  kl_jd_free(&v->jd);
  free(v->kp.v);
  free(v->ip.v);
  free(v->scope);
  free(v->errs);
  free(v);
}

int kl_schema_validate(const kl_schema *s, kl_vctx *v, const char *text, size_t n, size_t max_errors) {
  kl_arena_reset(&v->inst);
  kl_arena_reset(&v->msgs);
  v->nerr = 0, v->capped = 0, v->oom = 0, v->depth = 0, v->nscope = 0;
  v->kp.n = v->ip.n = 0;
  v->max_errors = max_errors;
  v->collect = max_errors > 0;
  kl_jv *x = kl_jv_parse(&v->inst, &v->jd, text, n, 0);
  if (!x) {
    if (v->jd.err == KL_JD_E_NOMEM) return -2;
    char m[256];
    kl_jd_errmsg(&v->jd, m, sizeof m);
    int saved = v->collect;
    v->collect = 1, v->max_errors = max_errors ? max_errors : 1;
    static sres nores = { .uri = "" };
    sn fake = { .res = &nores, .loc = "" };
    verr(v, &fake, "json", "not JSON: %s", m);
    v->collect = saved;
    return -1;
  }
  int ok = node(v, s->root, x, NULL);
  if (v->oom) return -2;
  return ok;
}

size_t kl_vctx_nerrors(const kl_vctx *v) { return v->nerr; }
int kl_vctx_capped(const kl_vctx *v) { return v->capped; }
const kl_verr *kl_vctx_error(const kl_vctx *v, size_t i) { return i < v->nerr ? &v->errs[i] : NULL; }
