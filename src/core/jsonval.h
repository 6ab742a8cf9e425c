/* JSON values in memory, for the schema validator: a tree built from the
 * strict pull parser (jsondec.h) into an arena, plus the comparisons JSON
 * Schema needs (exact number order, multipleOf, deep equality).
 *
 * Why a tree and not validation straight off the token stream: applicators
 * (anyOf, if/then/else, unevaluated*, $dynamicRef) look at one instance
 * location several times. The arena makes the tree cheap: one bump pointer,
 * reset between documents, so a 2 KB document costs no malloc at all once
 * the arena has grown to fit.
 *
 * Numbers keep their literal text next to the double, so order and equality
 * are exact for integers past 2^53 and decimals past 17 digits (the double
 * is only a fast path), and 1.0 is an integer as the spec says. */
#ifndef KEEL_JSONVAL_H
#define KEEL_JSONVAL_H

#include <stddef.h>
#include <stdint.h>

#include "jsondec.h"

/* ---- arena ---- */
typedef struct kl_arena_blk kl_arena_blk;
typedef struct {
  kl_arena_blk *head; /* newest block first */
  char *p, *end;      /* free space in head */
  size_t total;       /* bytes held in blocks */
  void *stk;          /* kl_jv_parse's working stack, kept for reuse */
  size_t stk_cap;
} kl_arena;

void kl_arena_init(kl_arena *a);
/* 8-byte aligned; NULL only when memory ran out. */
void *kl_arena_alloc(kl_arena *a, size_t n);
char *kl_arena_strdup(kl_arena *a, const char *s, size_t n); /* NUL-terminated copy */
/* Forgets every allocation but keeps the largest block for reuse. */
void kl_arena_reset(kl_arena *a);
void kl_arena_free(kl_arena *a);

/* ---- values ---- */
enum { KL_JV_NULL, KL_JV_FALSE, KL_JV_TRUE, KL_JV_NUMBER, KL_JV_STRING, KL_JV_ARRAY, KL_JV_OBJECT };

typedef struct kl_jv kl_jv;
typedef struct kl_jmember kl_jmember;
struct kl_jv {
  uint8_t type;
  uint8_t is_int;   /* numbers: the value is integral (1, 1.0, 1e3, 2^70) */
  uint32_t len;     /* strings: bytes; arrays and objects: element count */
  union {
    const char *s;     /* strings and numbers (the literal), NUL-terminated copies */
    kl_jv *items;      /* arrays */
    kl_jmember *mem;   /* objects, in document order; a repeated key keeps the last value */
  } u;
  double d;         /* numbers */
};
struct kl_jmember {
  const char *key; /* NUL-terminated (may also hold NULs: use klen) */
  uint32_t klen;
  kl_jv val;
};

/* Parses text[0..n) into a tree in arena a (strings and keys are copied,
 * so text need not outlive it). Returns the root, or NULL with the parser's
 * error in jd (jd->err, jd->err_at; kl_jd_errmsg formats it). jd must be
 * kl_jd_init'ed. */
kl_jv *kl_jv_parse(kl_arena *a, kl_jd *jd, const char *text, size_t n, int max_depth);

/* The member named key, or NULL (linear: objects here are small; callers
 * with many lookups on one object build their own index). */
const kl_jv *kl_jv_get(const kl_jv *obj, const char *key, size_t klen);

/* Exact order of two numbers: <0, 0, >0. */
int kl_jv_numcmp(const kl_jv *a, const kl_jv *b);
/* Whether number x is an integer multiple of number m (m > 0), exactly for
 * decimal literals whose scaled divisor fits 64 bits, else by doubles. */
int kl_jv_multiple_of(const kl_jv *x, const kl_jv *m);
/* JSON equality: numbers by value (1 == 1.0), objects regardless of order. */
int kl_jv_equal(const kl_jv *a, const kl_jv *b);
/* A hash consistent with kl_jv_equal (for uniqueItems). */
uint64_t kl_jv_hash(const kl_jv *v);
/* Code points in a valid UTF-8 string. */
size_t kl_utf8_count(const char *s, size_t n);

#endif
