/* policy.c - the host policy file (/etc/oci-bypass/policy.conf): what only the host can allow,
 * parsed, written, and applied to a container's policy. */
#include <errno.h>
#include <string.h>

#include "oci.h"
#include "ob_json.h"

static const struct {
	const char *key;
	size_t off;
	bool size; /* a byte count (uint64_t), else true or false (bool) */
} keys[] = {
	{ "allow-trust", offsetof(struct ob_host_policy, allow_trust), false },
	{ "allow-host-network", offsetof(struct ob_host_policy, allow_host_network), false },
	{ "allow-max-unread", offsetof(struct ob_host_policy, allow_max_unread), true },
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* s[*b, *e) without the blanks around it. */
static void trim(const char *s, size_t *b, size_t *e)
{
	while (*b < *e && blank(s[*b]))
		(*b)++;
	while (*e > *b && blank(s[*e - 1]))
		(*e)--;
}

static bool is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && !memcmp(s, word, len);
}

/* One line, without its newline: 0, or an error naming name:n. */
static int parse_line(const char *s, size_t len, const char *name, unsigned n,
		      struct ob_host_policy *hp, unsigned seen[N_KEYS], struct ob_error *e)
{
	const char *hash = memchr(s, '#', len);
	const char *eq;
	size_t kb = 0, ke, vb, ve;
	char q[OB_QUOTE_MAX];
	size_t k;

	if (hash)
		len = (size_t)(hash - s);
	ke = len;
	trim(s, &kb, &ke);
	if (kb == ke)
		return 0; /* blank or a comment */
	eq = memchr(s, '=', len);
	if (!eq) {
		ob_quote(q, sizeof(q), s + kb, ke - kb);
		return ob_err(e, -EINVAL, "%s:%u: %s is not 'key = value'", name, n, q);
	}
	ke = (size_t)(eq - s);
	vb = ke + 1;
	ve = len;
	trim(s, &kb, &ke);
	trim(s, &vb, &ve);
	for (k = 0; k < N_KEYS; k++)
		if (is(s + kb, ke - kb, keys[k].key))
			break;
	if (k == N_KEYS) {
		ob_quote(q, sizeof(q), s + kb, ke - kb);
		return ob_err(e, -EINVAL,
			      "%s:%u: unknown key %s (known: allow-trust, allow-host-network, "
			      "allow-max-unread)",
			      name, n, q);
	}
	if (seen[k])
		return ob_err(e, -EINVAL, "%s:%u: %s given twice (first on line %u)", name, n,
			      keys[k].key, seen[k]);
	seen[k] = n;
	if (keys[k].size) {
		char val[32];
		uint64_t *out = (uint64_t *)((char *)hp + keys[k].off);

		if (is(s + vb, ve - vb, "0")) {
			*out = 0;
			return 0;
		}
		ob_quote(q, sizeof(q), s + vb, ve - vb);
		if (ve - vb >= sizeof(val))
			return ob_err(e, -EINVAL, "%s:%u: %s is %s; expected 0 or a size", name, n,
				      keys[k].key, q);
		memcpy(val, s + vb, ve - vb);
		val[ve - vb] = '\0';
		/* the value is quoted in the message, as every other: the
		 * file's bytes never reach a log line unescaped */
		if (ob_parse_bytes(keys[k].key, val, OB_MAX_UNREAD_MIN, OB_MAX_UNREAD_MAX, out,
				   NULL))
			return ob_err(e, -EINVAL,
				      "%s:%u: %s is %s; expected 0, or %llu to %llu bytes (k, m, g "
				      "suffixes)",
				      name, n, keys[k].key, q,
				      (unsigned long long)OB_MAX_UNREAD_MIN,
				      (unsigned long long)OB_MAX_UNREAD_MAX);
		return 0;
	}
	if (is(s + vb, ve - vb, "true") || is(s + vb, ve - vb, "false")) {
		*(bool *)((char *)hp + keys[k].off) = s[vb] == 't';
		return 0;
	}
	ob_quote(q, sizeof(q), s + vb, ve - vb);
	return ob_err(e, -EINVAL, "%s:%u: %s is %s; expected true or false", name, n, keys[k].key,
		      q);
}

int ob_host_policy_parse(const char *buf, size_t len, const char *name, struct ob_host_policy *hp,
			 struct ob_error *e)
{
	unsigned seen[N_KEYS] = { 0 };
	struct ob_host_policy out = { 0 };
	unsigned n = 0;
	size_t i = 0;

	memset(hp, 0, sizeof(*hp));
	if (len > OB_POLICY_MAX)
		return ob_err(e, -EFBIG, "%s: larger than %d bytes", name, OB_POLICY_MAX);
	if (len && memchr(buf, '\0', len))
		return ob_err(e, -EINVAL, "%s: contains a NUL byte", name);
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - buf) : len;
		int rc = parse_line(buf + i, end - i, name, ++n, &out, seen, e);

		if (rc)
			return rc;
		i = end + 1;
	}
	*hp = out;
	return 0;
}

int ob_host_policy_write(FILE *f, const struct ob_host_policy *hp, struct ob_error *e)
{
	fprintf(f,
		"# " OB_POLICY_PATH " - what only this host can allow (oci-bypass(8), HOST\n"
		"# POLICY). Any image can carry io.oci-bypass.* annotations, and podman\n"
		"# copies an image's annotations into config.json: so the hook honours\n"
		"# the two below only where this file says true. It reads this file only\n"
		"# if it is a regular file owned by root and not writable by group or\n"
		"# others, in a directory of the same kind; a missing, unsafe or invalid\n"
		"# file allows nothing. Lines: key = true|false; '#' starts a comment.\n"
		"\n"
		"# io.oci-bypass.trust=true: the container's services skip probation, so\n"
		"# their first connections are redirected before one of them has shown\n"
		"# that the service does not rely on what redirection changes.\n"
		"allow-trust = %s\n"
		"\n"
		"# io.oci-bypass.allow-host-network=true: a container that uses the host's\n"
		"# network namespace (--network host) is accelerated, which enrols the\n"
		"# host's own namespace: the host's processes are accelerated with it.\n"
		"allow-host-network = %s\n"
		"\n"
		"# io.oci-bypass.max-unread above 256m: the container's namespace may\n"
		"# leave more redirected bytes unread by its peers than its share of the\n"
		"# host's budget. The most an annotation may ask for (bytes, k, m or g\n"
		"# suffix); 0: nothing above 256m.\n"
		"allow-max-unread = %llu\n",
		hp->allow_trust ? "true" : "false", hp->allow_host_network ? "true" : "false",
		(unsigned long long)hp->allow_max_unread);
	if (fflush(f) || ferror(f))
		return ob_err(e, -EIO, "cannot write the policy file");
	return 0;
}

unsigned ob_policy_restrict(struct ob_policy *p, const struct ob_host_policy *hp)
{
	unsigned refused = 0;

	if (p->trust && !hp->allow_trust) {
		p->trust = false;
		refused |= OB_REFUSED_TRUST;
	}
	if (p->allow_host_network && !hp->allow_host_network) {
		p->allow_host_network = false;
		refused |= OB_REFUSED_HOST_NETWORK;
	}
	if (p->max_unread > OB_MAX_UNREAD_FREE && p->max_unread > hp->allow_max_unread) {
		p->max_unread = 0;
		refused |= OB_REFUSED_MAX_UNREAD;
	}
	return refused;
}
