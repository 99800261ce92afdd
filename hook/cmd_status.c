/* cmd_status.c - the verbs status and metrics: the pinned state gathered into a struct ob_view,
 * printed by format.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "ob.h"

struct gather {
	struct ob_view *v;
	const struct ob_maps *m;
	struct ob_error *e;
	uint32_t quota_dflt[3]; /* the load's quotas: conns, services, sockets */
};

static int add_ns(uint64_t cookie, void *ctx)
{
	struct gather *g = ctx;
	struct ob_view *v = g->v;
	struct ob_ns_view *grown = realloc(v->ns, (size_t)(v->n_ns + 1) * sizeof(*v->ns));
	struct ob_ns_view *n;
	struct ob_netns ns;

	if (!grown)
		return ob_err(g->e, -ENOMEM, "out of memory");
	v->ns = grown;
	n = &v->ns[v->n_ns++];
	memset(n, 0, sizeof(*n));
	n->cookie = cookie;
	ob_registry_name(cookie, n->name, sizeof(n->name));
	ob_read_counters(g->m, cookie, &n->c, NULL);	   /* none: zeros */
	if (ob_read_netns(g->m, cookie, &ns, NULL) == 0) { /* else withdrawn meanwhile */
		n->unread = ns.unread;
		n->promotable = ns.promotable;
		n->max_unread = ns.max_unread ? ns.max_unread : v->ns_max_unread;
		n->budget_now = ob_ns_budget(n->max_unread, v->host_max_unread,
					     v->host_sharing + (ns.shares != OB_SHARE_COUNTED));
		n->trust = ns.flags & OB_NETNS_TRUST;
		n->quota[0].used = ns.conns;
		n->quota[0].limit = ns.max_conns ? ns.max_conns : g->quota_dflt[0];
		n->quota[1].used = ns.services;
		n->quota[1].limit = ns.max_services ? ns.max_services : g->quota_dflt[1];
		n->quota[2].used = ns.sockets;
		n->quota[2].limit = ns.max_sockets ? ns.max_sockets : g->quota_dflt[2];
		n->quota[3].used = ns.ledgers; /* as many as conns */
		n->quota[3].limit = n->quota[0].limit;
	}
	return 0;
}

static int add_svc(uint64_t cookie, uint16_t port, const struct ob_service *sv, void *ctx)
{
	struct gather *g = ctx;
	struct ob_view *v = g->v;
	struct ob_svc_view *grown = realloc(v->svc, (size_t)(v->n_svc + 1) * sizeof(*v->svc));

	if (!grown)
		return ob_err(g->e, -ENOMEM, "out of memory");
	v->svc = grown;
	v->svc[v->n_svc] = (struct ob_svc_view){ cookie, port, sv->state, sv->promoted, { 0 } };
	memcpy(v->svc[v->n_svc].skips, sv->skips, sizeof(sv->skips));
	v->n_svc++;
	return 0;
}

static int gather(struct ob_view *v, struct ob_error *e)
{
	struct ob_settings s;
	struct ob_map_sizes z;
	_cleanup_maps_ struct ob_maps m = OB_MAPS_CLOSED;
	struct gather g = { v, &m, e, { 0 } };
	struct ob_error none = { 0 };
	int err;

	memset(v, 0, sizeof(*v));
	err = ob_verdicts_list(&v->kept, &v->n_kept, e); /* loaded or not */
	if (err)
		return err;
	err = ob_open_maps(&m, &none);
	if (err == -ENOENT)
		return 0; /* not loaded is a state, not an error */
	if (err)
		return ob_err(e, err, "%s", none.msg);
	err = ob_read_settings(&m, &s, e);
	if (err)
		return err;
	v->pinned = true;
	v->loaded = ob_sockops_attached();
	v->guards = ob_guards_attached();
	v->promotion = access(OB_PIN_LINK_PROMOTE, F_OK) == 0;
	v->enabled = s.enabled;
	v->draining = s.draining;
	v->build_id = s.build_id;
	v->small_window_ms =
		s.small_window_ns ? s.small_window_ns / 1000000 : OB_SMALL_WINDOW_NS / 1000000;
	v->ingress_max = s.ingress_max ? s.ingress_max : OB_INGRESS_MAX;
	v->ingress_max_blocking =
		s.ingress_max_blocking ? s.ingress_max_blocking : OB_INGRESS_MAX_BLOCKING;
	v->stall_ms = (s.stall_ns ? s.stall_ns : OB_STALL_NS) / 1000000;
	v->ns_max_unread = s.ns_max_unread ? s.ns_max_unread : OB_NS_MAX_UNREAD;
	v->host_max_unread = s.host_max_unread ? s.host_max_unread : OB_HOST_MAX_UNREAD;
	v->host_unread = ob_read_usage(&m, &v->host_sharing);
	g.quota_dflt[0] = s.ns_max_conns ? s.ns_max_conns : OB_NS_MAX_CONNS;
	g.quota_dflt[1] = s.ns_max_services ? s.ns_max_services : OB_NS_MAX_SERVICES;
	g.quota_dflt[2] = s.ns_max_sockets ? s.ns_max_sockets : OB_NS_MAX_SOCKETS;
	ob_attach_cgroup(v->cgroup, sizeof(v->cgroup));
	ob_map_sizes(&m, &z);
	v->sockhash_entries = z.sockhash;
	v->conn_entries = z.conns;
	v->parking_entries = z.parking;
	v->ledger_entries = z.ledger;
	err = ob_netns_foreach(&m, add_ns, &g, e);
	if (!err)
		err = ob_records_list(&v->ct, &v->n_ct, false, e);
	if (!err)
		err = ob_services_foreach(&m, add_svc, &g);
	return err;
}

int ob_cmd_status(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	struct ob_view v;
	int err = gather(&v, e);

	if (!err)
		err = a->json ? ob_format_json(out, &v) : ob_format_text(out, &v);
	free(v.ns);
	free(v.svc);
	free(v.ct);
	free(v.kept);
	return err;
}

int ob_cmd_metrics(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	struct ob_view v;
	int err = gather(&v, e);

	(void)a;
	if (!err)
		err = ob_format_prometheus(out, &v);
	free(v.ns);
	free(v.svc);
	free(v.ct);
	free(v.kept);
	return err;
}

int ob_cmd_forget(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	int n, err;

	if (a->operand && !ob_name_valid(a->operand, OB_KEY_MAX))
		return ob_err(e, -EINVAL, "'%s' is not a container id or key", a->operand);
	err = ob_verdicts_forget(a->operand, &n, e);
	if (err)
		return err;
	if (a->operand && !n)
		return ob_err(e, -ENOENT,
			      "no verdicts are kept for '%s' (oci-bypass status lists them)",
			      a->operand);
	fprintf(out, "oci-bypass: forgot the verdicts kept for %d container%s\n", n,
		n == 1 ? "" : "s");
	return 0;
}
