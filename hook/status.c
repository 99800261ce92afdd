/* status.c - gathers the pinned state into a struct ob_view for status and metrics. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "ob.h"

static int gather(struct ob_view *v)
{
	struct ob_settings s;
	struct ob_netns ns;
	struct ob_maps m;
	uint64_t key, next, *prev = NULL;
	int err;

	memset(v, 0, sizeof(*v));
	err = ob_open_maps(&m);
	if (err == -ENOENT) {
		ob_err_clear();
		return 0; /* not loaded is a state, not an error */
	}
	if (err)
		return err;
	err = ob_read_settings(&m, &s);
	if (err)
		goto out;
	v->pinned = true;
	v->loaded = ob_sockops_attached();
	v->enabled = s.enabled;
	v->draining = s.draining;
	v->build_id = s.build_id;
	v->small_window_ms = s.small_window_ns ? s.small_window_ns / 1000000 : OB_SMALL_WINDOW_NS / 1000000;
	v->ingress_max = s.ingress_max ? s.ingress_max : OB_INGRESS_MAX;
	v->ingress_max_blocking = s.ingress_max_blocking ? s.ingress_max_blocking : OB_INGRESS_MAX_BLOCKING;
	v->stall_ms = (s.stall_ns ? s.stall_ns : OB_STALL_NS) / 1000000;
	v->ns_max_unread = s.ns_max_unread ? s.ns_max_unread : OB_NS_MAX_UNREAD;
	v->host_max_unread = s.host_max_unread ? s.host_max_unread : OB_HOST_MAX_UNREAD;
	v->host_unread = ob_read_usage(&m);
	v->ledger_entries = m.ledger >= 0 ? ob_map_count(m.ledger, sizeof(struct ob_conn_key)) : 0;
	ob_attach_cgroup(v->cgroup, sizeof(v->cgroup));
	v->sockhash_entries = ob_map_count(m.sockhash, sizeof(struct ob_sock_key));
	v->conn_entries = ob_map_count(m.conns, sizeof(struct ob_conn_key));
	v->parking_entries = m.parking >= 0 ? ob_map_count(m.parking, sizeof(struct ob_sock_key)) : 0;
	while (bpf_map_get_next_key(m.netns, prev, &next) == 0) {
		struct ob_ns_view *grown = realloc(v->ns, (size_t)(v->n_ns + 1) * sizeof(*v->ns));
		struct ob_ns_view *n;

		if (!grown) {
			err = ob_err(-ENOMEM, "out of memory");
			goto out;
		}
		v->ns = grown;
		n = &v->ns[v->n_ns++];
		memset(n, 0, sizeof(*n));
		n->cookie = next;
		ob_registry_name(next, n->name, sizeof(n->name));
		ob_read_counters(&m, next, &n->c);
		if (ob_read_netns(&m, next, &ns) == 0) {
			n->unread = ns.unread;
			n->max_unread = ns.max_unread ? ns.max_unread : v->ns_max_unread;
		}
		ob_err_clear(); /* withdrawn meanwhile */
		key = next;
		prev = &key;
	}
	err = ob_records_list(&v->ct, &v->n_ct);
	if (err)
		goto out;
	{
		struct ob_svc_key sk, snext, *sprev = NULL;
		struct ob_service sv;

		while (bpf_map_get_next_key(m.services, sprev, &snext) == 0) {
			struct ob_svc_view *grown;

			sk = snext;
			sprev = &sk;
			if (bpf_map_lookup_elem(m.services, &sk, &sv))
				continue;
			grown = realloc(v->svc, (size_t)(v->n_svc + 1) * sizeof(*v->svc));
			if (!grown) {
				err = ob_err(-ENOMEM, "out of memory");
				goto out;
			}
			v->svc = grown;
			v->svc[v->n_svc++] = (struct ob_svc_view){ sk.netns_cookie, sk.port, sv.state };
		}
	}
out:
	ob_close_maps(&m);
	return err;
}

int ob_cmd_status(const struct ob_args *a)
{
	struct ob_view v;
	int err = gather(&v);

	if (!err)
		err = a->json ? ob_format_json(stdout, &v) : ob_format_text(stdout, &v);
	free(v.ns);
	free(v.svc);
	free(v.ct);
	return err;
}

int ob_cmd_metrics(const struct ob_args *a)
{
	struct ob_view v;
	int err = gather(&v);

	(void)a;
	if (!err)
		err = ob_format_prometheus(stdout, &v);
	free(v.ns);
	free(v.svc);
	free(v.ct);
	return err;
}
