#!/usr/bin/env bash
# t_docs.sh - every relative link in README.md and docs/*.md names a file
# of the repository (a moved or renamed page breaks the test, not the
# reader), and README stays a front door: at most 250 lines, a link to each
# page of docs/.
OB_ANY_KERNEL=1
. "$(dirname "$0")/../lib/common.sh"
cd "$TESTS_DIR/.." || die "no repository"
n=0
for f in README.md docs/*.md; do
	dir=$(dirname "$f")
	# [text](target) and [text](target#anchor); not URLs, not mail, not
	# anchors within the page
	while IFS= read -r target; do
		n=$((n + 1))
		path=${target%%#*}
		[ -e "$dir/$path" ] || fail "$f: link to '$target': no such file ($dir/$path)"
	done < <(grep -oE '\]\([^)[:space:]]+\)' "$f" | sed -E 's/^\]\((.*)\)$/\1/' |
		grep -vE '^(https?:|mailto:|#)')
done
assert_gt "relative links checked" 20 "$n"
assert_le "README's length in lines" 250 "$(wc -l <README.md)"
for page in docs/*.md; do
	case $page in docs/semantics-kernels.md) continue ;; esac
	grep -q "](${page})" README.md || fail "README does not link to $page"
done
log "ok: README links to every page of docs/"
finish
