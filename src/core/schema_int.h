/* Internals shared by schema_compile.c and schema_validate.c. */
#ifndef KEEL_SCHEMA_INT_H
#define KEEL_SCHEMA_INT_H

#include <stdint.h>

#include "jsregex.h"
#include "jsonval.h"
#include "schema.h"

/* Vocabularies (2019-09 and later); earlier drafts have them all. */
enum {
  V_CORE = 1, V_APPLICATOR = 2, V_UNEVALUATED = 4, V_VALIDATION = 8,
  V_FORMAT_ASSERT = 16, V_ALL = 0xff & ~16
};

/* Type bits, in the order messages list them. */
enum { T_NULL = 1, T_BOOLEAN = 2, T_OBJECT = 4, T_ARRAY = 8, T_NUMBER = 16, T_STRING = 32, T_INTEGER = 64 };

typedef struct sres sres;
typedef struct sn sn;

typedef struct {
  const char *name;
  const kl_jv *at;
  int dynamic; /* $dynamicAnchor (2020-12) */
  sn *node;    /* compiled, when it was */
} sanchor;

struct sres {
  char *uri;            /* absolute, without fragment */
  const kl_jv *root;
  sn *root_node;        /* compiled, when it was */
  int dialect;
  unsigned vocab;
  int recursive_anchor; /* 2019-09 $recursiveAnchor: true at the root */
  sanchor *anchors;
  size_t nanchors, capanchors;
  sres *alias_of;       /* a second name for that resource */
  sres *next;
};

typedef struct {
  const char *key;
  uint32_t klen;
  sn *node;
} sn_prop;

typedef struct {
  kl_regex *re;
  const char *src;
  sn *node;
} sn_pat;

typedef struct {
  const char *key;
  uint32_t klen;
  const kl_jv *names; /* array of strings */
} sn_dreq;

enum { SN_TRUE, SN_FALSE, SN_OBJ };

/* One keyword location step in an error's path: the keyword and, for
 * keywords holding several schemas, the member name or index. */
struct sn {
  uint8_t kind;
  uint8_t types;        /* 0: no `type` */
  uint8_t unique;
  uint8_t format_assert;
  uint8_t xmax_bool, xmin_bool; /* draft 4: exclusiveMaximum/Minimum are booleans */
  uint8_t has_unevaluated;
  uint8_t dref_dynamic; /* $dynamicRef: resolve through the dynamic scope */
  uint8_t rref;         /* 2019-09 $recursiveRef */
  int dialect;
  sres *res;
  const char *loc;      /* JSON pointer of this schema within its resource */
  const kl_jv *self;

  sn *ref;
  sn *dref;             /* $dynamicRef / $recursiveRef: the static target */
  const char *dref_name;/* the anchor name looked up dynamically */
  const kl_jv *enum_, *const_;
  const kl_jv *maximum, *minimum, *xmaximum, *xminimum, *multiple;
  uint64_t max_len, min_len, max_items, min_items, max_props, min_props, max_contains, min_contains;
  uint32_t has_len;     /* bits: which of the above are present */
  kl_regex *pattern;
  const char *pattern_src;
  sn_prop *props;
  uint32_t nprops;
  uint32_t *prop_index; /* open addressing over props when there are many */
  uint32_t prop_icap;
  sn_pat *pats;
  uint32_t npats;
  sn *addl_props, *prop_names, *unev_props, *unev_items;
  const kl_jv *required;
  sn_dreq *dreq;
  uint32_t ndreq;
  sn_prop *dsch;
  uint32_t ndsch;
  const char *dep_kw;   /* "dependencies" (draft 7 and earlier) or "dependentRequired"/"dependentSchemas" */
  sn **prefix;
  uint32_t nprefix;
  int prefix_kw_items;  /* 1: the prefix came from array-form `items` (before 2020-12) */
  sn *items;            /* items after the prefix ("items" or "additionalItems") */
  sn *contains;
  sn **all, **any, **one;
  uint32_t nall, nany, none;
  sn *not_, *if_, *then_, *else_;
  const char *format;
};

/* has_len bits */
enum {
  L_MAXLEN = 1, L_MINLEN = 2, L_MAXITEMS = 4, L_MINITEMS = 8, L_MAXPROPS = 16, L_MINPROPS = 32,
  L_MAXCONTAINS = 64, L_MINCONTAINS = 128
};

struct kl_schema {
  kl_arena arena;     /* every document, node and string */
  sn *root;
  sres *resources;
  kl_regex **regexes; /* to free */
  size_t nregexes, capregexes;
  int dialect;
};

/* Writes s[0..n) as a JSON pointer token (~ as ~0, / as ~1) at o; returns
 * the end. o needs room for 2n bytes. */
static inline char *kl_ptr_escape(char *o, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '~') *o++ = '~', *o++ = '0';
    else if (s[i] == '/') *o++ = '~', *o++ = '1';
    else *o++ = s[i];
  }
  return o;
}

/* schema_validate.c */
sn *kl_sn_prop_find(const sn *s, const char *key, uint32_t klen);

#endif
