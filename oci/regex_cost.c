/* regex_cost.c - estimates what glibc's regcomp would build for a hooks.d regex, to refuse the ones
 * that blow up (hooksd.h). */
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "hooksd.h"

struct re_group {
	unsigned long long total; /* tree nodes so far */
	unsigned long long last;  /* nodes of the last atom (the operand of a postfix) */
	bool last_empty;	  /* the last atom can match "" */
	bool alt_empty;		  /* the current alternative can match "" so far */
	bool alt_empty_before;	  /* ... before its last atom */
	bool any_alt_empty;	  /* a finished alternative can match "" */
};

static unsigned long long sat_add(unsigned long long a, unsigned long long b)
{
	return a + b > OB_REGEX_TREE_MAX ? OB_REGEX_TREE_MAX + 1 : a + b;
}

static unsigned long long sat_mul(unsigned long long a, unsigned long long b)
{
	return b && a > OB_REGEX_TREE_MAX / b ? OB_REGEX_TREE_MAX + 1 : a * b;
}

/* Skips a bracket expression starting at re[i] == '['; returns the index of its ']'. */
static size_t skip_bracket(const char *re, size_t len, size_t i)
{
	i++;
	if (i < len && re[i] == '^')
		i++;
	if (i < len && re[i] == ']')
		i++;
	for (; i < len && re[i] != ']'; i++) {
		if (re[i] == '[' && i + 1 < len &&
		    (re[i + 1] == ':' || re[i + 1] == '.' || re[i + 1] == '=')) {
			char end = re[i + 1];

			for (i += 2; i + 1 < len && !(re[i] == end && re[i + 1] == ']'); i++)
				;
			i++;
		}
	}
	return i;
}

static unsigned long parse_count(const char *re, size_t len, size_t *i)
{
	unsigned long v = 0;

	for (; *i < len && re[*i] >= '0' && re[*i] <= '9'; (*i)++)
		if (v < 100000)
			v = v * 10 + (unsigned long)(re[*i] - '0');
	return v;
}

/*
 * re[*i] is '{': if a bound {m}, {m,}, {m,n} or {,n} follows, leaves *i on
 * the '}' and sets *m, *n (n is ULONG_MAX for {m,}).
 */
static bool parse_bound(const char *re, size_t len, size_t *i, unsigned long *m, unsigned long *n)
{
	size_t j = *i + 1;

	if (j >= len || !((re[j] >= '0' && re[j] <= '9') || re[j] == ','))
		return false;
	*m = *n = parse_count(re, len, &j);
	if (j < len && re[j] == ',') {
		j++;
		if (j < len && re[j] >= '0' && re[j] <= '9')
			*n = parse_count(re, len, &j);
		else
			*n = ULONG_MAX;
	}
	if (j >= len || re[j] != '}')
		return false;
	*i = j;
	return true;
}

static void group_start(struct re_group *g)
{
	memset(g, 0, sizeof(*g));
	g->alt_empty = true;
}

static void add_atom(struct re_group *g, unsigned long long size, bool empty)
{
	g->last = size;
	g->last_empty = empty;
	g->alt_empty_before = g->alt_empty;
	g->alt_empty = g->alt_empty && empty;
	g->total = sat_add(g->total, size);
}

/* A postfix operator: min copies of the operand are required, max allowed (ULONG_MAX: a loop). */
static enum ob_regex_verdict add_repeat(struct re_group *g, unsigned long min, unsigned long max)
{
	unsigned long long copies, size;

	if (max == ULONG_MAX && g->last_empty)
		return OB_RE_EMPTY_LOOP;
	/* glibc: min copies plus (max - min) optional ones, or one starred copy for a loop. */
	copies = max == ULONG_MAX ? (unsigned long long)min + 1 : max;
	if (copies < 1)
		copies = 1;
	size = sat_mul(sat_add(g->last, 1), copies);
	g->total = sat_add(g->total - g->last, size);
	g->last = size;
	if (min == 0) {
		g->last_empty = true;
		g->alt_empty = g->alt_empty_before;
	}
	return g->total > OB_REGEX_TREE_MAX ? OB_RE_TOO_BIG : OB_RE_CHEAP;
}

enum ob_regex_verdict ob_regex_cost(const char *re, size_t len)
{
	struct re_group g[OB_REGEX_GROUPS_MAX + 1];
	enum ob_regex_verdict v = OB_RE_CHEAP;
	unsigned long m, n;
	int depth = 0;
	size_t i;

	group_start(&g[0]);
	for (i = 0; i < len && v == OB_RE_CHEAP; i++) {
		struct re_group *cur = &g[depth];

		switch (re[i]) {
		case '\\':
			i++;
			/* \1..\9 back-references may match "". */
			add_atom(cur, 1, i < len && re[i] >= '1' && re[i] <= '9');
			break;
		case '[':
			i = skip_bracket(re, len, i);
			add_atom(cur, 1, false);
			break;
		case '^':
		case '$':
			add_atom(cur, 1, true);
			break;
		case '(':
			if (depth == OB_REGEX_GROUPS_MAX)
				return OB_RE_TOO_DEEP;
			group_start(&g[++depth]);
			break;
		case ')':
			if (depth == 0) {
				add_atom(cur, 1, false); /* an unmatched ')' is ordinary */
				break;
			}
			depth--;
			add_atom(&g[depth], sat_add(cur->total, 3),
				 cur->any_alt_empty || cur->alt_empty);
			break;
		case '|':
			cur->any_alt_empty = cur->any_alt_empty || cur->alt_empty;
			cur->alt_empty = true;
			cur->last = 0;
			cur->last_empty = false;
			cur->total = sat_add(cur->total, 1);
			break;
		case '*':
			v = add_repeat(cur, 0, ULONG_MAX);
			break;
		case '+':
			v = add_repeat(cur, 1, ULONG_MAX);
			break;
		case '?':
			v = add_repeat(cur, 0, 1);
			break;
		case '{':
			if (parse_bound(re, len, &i, &m, &n))
				v = add_repeat(cur, m, n);
			else
				add_atom(cur, 1,
					 false); /* not a bound: ordinary, or regcomp says why */
			break;
		default:
			add_atom(cur, 1, false);
			break;
		}
		if (v == OB_RE_CHEAP && g[depth].total > OB_REGEX_TREE_MAX)
			v = OB_RE_TOO_BIG;
	}
	return v;
}
