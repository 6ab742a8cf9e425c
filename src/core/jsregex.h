/* JSON Schema regexes (`pattern`, `patternProperties`, format "regex"):
 * ECMA-262 syntax, run by Debian's PCRE2 in UTF mode.
 *
 * The pattern is rewritten before PCRE2 sees it where the two dialects
 * differ: \s and \S get ECMA's whitespace set (Unicode Zs plus tab, LF, VT,
 * FF, CR, U+FEFF, U+2028/9; PCRE2 without UCP knows ASCII only), `.` stops
 * at LF, CR, U+2028 and U+2029, \v is a vertical tab (PCRE2: any vertical
 * space), \uXXXX (surrogate pairs joined) and \u{...} become \x{...},
 * \p{Letter}-style names (General_Category long names and aliases, gc=,
 * Script=, sc=, scx=) become PCRE2's, `[]` matches nothing and `[^]`
 * anything, and PCRE-only escapes ECMA rejects (\a \e \A \z \Z \G \h \H \K
 * \N \R \X \Q \E \C \o \g) are errors. \d and \w stay ASCII, as in ECMA (no
 * PCRE2_UCP). `$` matches only at the very end; a backreference to a group
 * that has not matched matches empty (PCRE2_MATCH_UNSET_BACKREF).
 * Known differences left: \S inside a character class is ASCII;
 * lookbehind must have a fixed length (PCRE2 10.42; 10.43 lifts it);
 * PCRE2 syntax ECMA lacks (possessive a++, (?i), (?#...), (*VERB), a lone
 * `{` or `]`, {,n}) compiles instead of failing (format "regex" rejects the
 * (? forms itself, jsonformat.c); a lone surrogate escape is an error
 * (subjects are UTF-8, so it could never match); PCRE2's compile errors
 * carry no offset. */
#ifndef KEEL_JSREGEX_H
#define KEEL_JSREGEX_H

#include <stddef.h>

typedef struct kl_regex kl_regex;

/* NULL on error, with what (and where, for keel's own checks) in err. */
kl_regex *kl_regex_compile(const char *pat, size_t n, char *err, size_t errcap);
/* 1: matches somewhere in s (valid UTF-8); 0: no; -1: PCRE2's match limit
 * (10 million steps) or depth limit was hit, so a pathological pattern
 * cannot hang the validator. One thread at a time per kl_regex (it keeps
 * its match data). */
int kl_regex_search(kl_regex *re, const char *s, size_t n);
void kl_regex_free(kl_regex *re);

#endif
