/* cmd_enroll.c - the verbs enroll and withdraw: a network namespace in or out, by hand. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ob.h"

static void default_name(const char *path, uint64_t cookie, char *out, size_t len)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (!strncmp(path, "/run/netns/", 11) && ob_name_valid(base, OB_NAME_MAX))
		snprintf(out, len, "%s", base);
	else
		snprintf(out, len, "netns-%" PRIu64, cookie);
}

int ob_cmd_enroll(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	char name[OB_NAME_MAX + 1];
	_cleanup_maps_ struct ob_maps m = OB_MAPS_CLOSED;
	uint64_t cookie, host;
	bool already = false;
	struct ob_enrolment en = { .name = name,
				   .origin = "cli",
				   .trust = a->trust,
				   .max_unread = a->max_unread,
				   .quotas = { a->max_conns, a->max_services, a->max_sockets },
				   .noports = a->noports,
				   .n_noports = a->n_noports,
				   .already = &already,
				   .nsref = a->netns && a->netns[0] == '/' ? a->netns : NULL };
	int err;

	err = ob_netns_cookie(a->netns, &cookie, e);
	if (err)
		return err;
	if (!a->allow_host && ob_host_netns_cookie(&host) == 0 && host == cookie)
		return ob_err(e, -EPERM,
			      "%s is the host's network namespace; add --allow-host "
			      "to accelerate host processes too",
			      a->netns);
	err = ob_open_maps(&m, e);
	if (err)
		return err;
	if (a->name)
		snprintf(name, sizeof(name), "%s", a->name);
	else
		default_name(a->netns, cookie, name, sizeof(name));
	err = ob_enroll_cookie(&m, cookie, &en, e);
	if (!err)
		fprintf(out, "oci-bypass: %s %s (cookie %" PRIu64 ")\n",
			already ? "already enrolled:" : "enrolled", name, cookie);
	return err;
}

int ob_cmd_withdraw(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	char name[OB_NAME_MAX + 1];
	_cleanup_maps_ struct ob_maps m = OB_MAPS_CLOSED;
	uint64_t cookie;
	int err;

	if (a->operand)
		err = ob_registry_find(a->operand, &cookie, e);
	else
		err = ob_netns_cookie(a->netns, &cookie, e);
	if (err)
		return err;
	err = ob_open_maps(&m, e);
	if (err)
		return err;
	ob_registry_name(cookie, name, sizeof(name));
	if (ob_withdraw_cookie(&m, cookie))
		fprintf(out, "oci-bypass: withdrew %s (cookie %" PRIu64 ")\n", name, cookie);
	else
		fprintf(out, "oci-bypass: %s (cookie %" PRIu64 ") was not enrolled\n", name,
			cookie);
	return 0;
}
