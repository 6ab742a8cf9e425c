/* ECMA-262 regular expressions (JSON Schema `pattern`, `patternProperties`,
 * format "regex") on PCRE2, 8-bit, UTF mode.
 *
 * JSON Schema patterns are ECMA-262 with the `u` flag (unicode semantics:
 * "\p{Letter}" works, lone "{" or "]" and unknown escapes are syntax errors).
 * kl_regex_compile parses that syntax itself and writes an equivalent PCRE2
 * pattern, so PCRE2 never sees a construct whose meaning differs:
 *   \d \w \b     ASCII only ([0-9], [A-Za-z0-9_]); PCRE2_UCP is never set
 *   \s \S        ECMA's set: Unicode Zs, TAB LF VT FF CR, U+FEFF, U+2028/2029
 *   .            anything but LF, CR, U+2028, U+2029
 *   $            the very end only (PCRE2_DOLLAR_ENDONLY)
 *   \uXXXX, \u{X...}, surrogate pairs as two \u escapes, \xHH, \cX, \0,
 *   \f \n \r \t \v (PCRE's \v is a class), [\b] (backspace)
 *   [] matches nothing, [^] anything
 *   \p{...}      ECMA's names (General_Category values with aliases such as
 *                Letter and digit, Script=/sc=, Script_Extensions=/scx=,
 *                binary properties), mapped to PCRE2's
 *   \1 \k<name>  a reference to a group that has not matched matches empty
 *                (PCRE2_MATCH_UNSET_BACKREF), as in ECMA
 * Rejected as ECMA (u flag) rejects them: identity escapes of letters and
 * digits (\a \A \Z \z \e \h \Q \E \G \K \R \X \N \o ...), \c without a
 * letter, \x or \u without their hex digits, \0 followed by a digit, a
 * backreference number above the group count, (?P<..>), (?#...), global flag
 * groups (?i), (*VERB), possessive quantifiers (a++), {,n}, a lone { } or ],
 * quantified assertions, a class escape as a range end ([\d-z]), and
 * POSIX classes ([[:alpha:]] is "[" ":" ... then a lone "]").
 *
 * Where it still differs from ECMA-262:
 *  - Lookbehind must have a fixed length per alternative (PCRE2 10.42;
 *    10.43 lifts this): "(?<=a+)b" is valid ECMA but does not compile here.
 *    kl_regex_check reports such patterns as valid, kl_regex_compile fails.
 *  - Flag modifier groups (?i:...) (ES2025) are not supported (unsupported).
 *  - Group names are ASCII [A-Za-z_][A-Za-z0-9_]* of at most 32 bytes; ECMA
 *    also allows "$", non-ASCII identifiers and \u escapes (unsupported).
 *  - Quantifier bounds above 65535 are unsupported.
 *  - Binary properties PCRE2 does not know (e.g. Changes_When_NFKC_Casefolded)
 *    are unsupported; property values (scripts) are matched by PCRE2, which
 *    is loose about case and "_", so \p{sc=greek} is accepted where ECMA
 *    wants \p{sc=Greek}; the Unicode version is PCRE2's (14.0 for 10.42).
 *  - Captures inside a quantified group are not reset on each iteration, so
 *    a backreference to one can see a value from an earlier iteration.
 *  - Lone surrogates (\uD800 on its own) never match: the subject is UTF-8.
 *
 * Matching is unanchored (ECMA `test`). A pattern that backtracks
 * catastrophically stops at KL_REGEX_MATCH_LIMIT steps or KL_REGEX_HEAP_KIB
 * of backtracking memory and kl_regex_search returns -1 (kl_regex_errmsg
 * says which limit). JIT is used when PCRE2 has it; a JIT stack overflow
 * retries the match in the interpreter.
 *
 * A kl_regex holds its match data: one thread at a time per kl_regex. */
#ifndef KEEL_JSREGEX_H
#define KEEL_JSREGEX_H

#include <stddef.h>

#define KL_REGEX_MATCH_LIMIT 10000000u /* PCRE2's default, set explicitly */
#define KL_REGEX_HEAP_KIB 20000u       /* PCRE2's default, set explicitly */

typedef struct kl_regex kl_regex;

/* Compiles an ECMA-262 pattern of n bytes (valid UTF-8, may hold NULs).
 * NULL on error with a message in err (NUL-terminated; says what and at
 * which byte offset of the pattern, counted from 0). */
kl_regex *kl_regex_compile(const char *pat, size_t n, char *err, size_t errcap);
/* 1 if the pattern matches anywhere in s (n bytes of valid UTF-8: not
 * checked again), 0 if not, -1 on a match error such as a limit hit. */
int kl_regex_search(kl_regex *re, const char *s, size_t n);
/* The reason of the last -1 from kl_regex_search ("" if none). */
const char *kl_regex_errmsg(const kl_regex *re);
void kl_regex_free(kl_regex *re);

/* Format "regex": 1 if pat is a valid ECMA-262 (u flag) pattern, including
 * the valid patterns kl_regex_compile cannot run (see above), 0 if not, with
 * the reason in err (may be NULL). */
int kl_regex_check(const char *pat, size_t n, char *err, size_t errcap);

#endif
