/* hooksd.h - what the hooks.d writer, its validator and the regex cost model share (oci/ only). */
#ifndef OB_OCI_HOOKSD_H
#define OB_OCI_HOOKSD_H

#include <stddef.h>

#define HOOKSD_VERSION "1.0.0"

/*
 * glibc's regcomp has two blow-ups that fuzz_hooksd_validate found:
 * - it copies the operand of every '+' and {m,n} (parse_dup_op ->
 *   duplicate_tree), so "a+++..." or "((a{1000}){1000}){1000}" need memory
 *   exponential in the pattern length;
 * - a loop ('*', '+', {m,}) around something that can match the empty
 *   string makes it take time exponential in the number of copies:
 *   "(((a*)*)?){20}" takes a second, {25} more than 20 s.
 * So estimate the tree it would build and refuse loops over empty-matching
 * operands before calling it. Both are pointless in a hooks.d regex (Go's
 * regexp, which podman uses, refuses stacked operators like "a**" and
 * counts over 1000).
 */
#define OB_REGEX_TREE_MAX   2048ULL
#define OB_REGEX_GROUPS_MAX 64

enum ob_regex_verdict { OB_RE_CHEAP = 0, OB_RE_TOO_BIG, OB_RE_EMPTY_LOOP, OB_RE_TOO_DEEP };

/* Whether regcomp(REG_EXTENDED) may be given re[len] (regex_cost.c). */
enum ob_regex_verdict ob_regex_cost(const char *re, size_t len);

#endif /* OB_OCI_HOOKSD_H */
