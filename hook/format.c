/* format.c - status as text, JSON and Prometheus exposition; pure, unit-tested. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <string.h>
#include <time.h>

#include "ob.h"

/* Every per-netns counter, once: its JSON key, its Prometheus metric. */
static const struct {
	const char *key, *metric, *type, *help;
	size_t off;
} fields[] = {
#define F(k, m, field, t, h)                                                                       \
	{                                                                                          \
		k, "oci_bypass_" m, t, h, offsetof(struct ob_counters, field)                      \
	}
	F("sockets", "sockets", sockets, "gauge", "Sockets currently redirecting."),
	F("paired", "paired_sockets_total", paired, "counter",
	  "Sockets that were paired for redirection."),
	F("redirected_bytes", "redirected_bytes_total", redirected_bytes, "counter",
	  "Bytes carried straight to the peer socket."),
	F("redirected_msgs", "redirected_messages_total", redirected_msgs, "counter",
	  "sendmsg calls carried straight to the peer socket."),
	F("tcp_msgs", "tcp_messages_total", tcp_msgs, "counter",
	  "sendmsg calls of enrolled sockets sent by stock TCP."),
	F("misses", "misses_total", misses, "counter",
	  "Redirects that found the peer gone (sent by TCP)."),
	F("client_first", "client_first_total", client_first, "counter",
	  "Connections kept on TCP because the client wrote before the server was ready."),
	F("refused", "refused_total", refused, "counter",
	  "Pairings refused (disabled, excluded port, data before pairing)."),
	F("ebusy", "ebusy_total", ebusy, "counter",
	  "Sockets already owned by another sockmap user."),
	F("full", "full_total", full, "counter", "Pairings refused because a map was full."),
	F("probation", "probation_total", probation, "counter",
	  "Connections kept on TCP while their service was on probation."),
	F("guarded", "guarded_total", guarded, "counter",
	  "Connections kept on TCP because their service half-closes or uses what a redirect "
	  "cannot give (a guard)."),
	F("halfcloses", "halfcloses_total", halfcloses, "counter",
	  "Services found doing a blocking shutdown(SHUT_WR)."),
	F("overflows", "overflows_total", overflows, "counter",
	  "Directions moved to TCP because the peer fell too far behind."),
	F("small_streams", "small_streams_total", small_streams, "counter",
	  "Directions moved to TCP because they streamed small messages."),
	F("departures", "departures_total", departures, "counter",
	  "Redirecting sockets that left the sockhash for stock TCP while open."),
	F("pushbacks", "pushbacks_total", pushbacks, "counter",
	  "Directions moved to TCP because the peer stopped reading (push-back)."),
	F("over_budget", "over_budget_total", over_budget, "counter",
	  "Directions moved to TCP because the namespace or the host had its unread-bytes budget "
	  "out."),
	F("guard_moves", "guard_moves_total", guard_moves, "counter",
	  "Redirecting connections moved to TCP because one of their sockets started using "
	  "MSG_WAITALL, splice, SO_RCVLOWAT, SO_ZEROCOPY or TCP_ULP."),
	F("over_quota", "over_quota_total", over_quota, "counter",
	  "Connections kept on TCP because their namespace had its quota of connection entries, "
	  "services or sockhash sockets in use."),
	F("promoted", "promoted_total", promoted, "counter",
	  "Directions of connections that started on TCP switched to the redirect (promotion)."),
	F("promote_skips", "promote_skips_total", promote_skips, "counter",
	  "Promotions not made: no quiet moment, the peer never put in, a budget, a quota or a "
	  "full table."),
#undef F
};

_Static_assert(sizeof(fields) / sizeof(fields[0]) == OB_COUNTER_FIELDS,
	       "every counter has a JSON key and a metric");

static uint64_t field(const struct ob_counters *c, size_t m)
{
	uint64_t x;

	memcpy(&x, (const char *)c + fields[m].off, sizeof(x));
	return x;
}

void ob_counters_add(struct ob_counters *sum, const struct ob_counters *one)
{
	const uint64_t *src = (const uint64_t *)one;
	uint64_t *dst = (uint64_t *)sum;

	_Static_assert(sizeof(struct ob_counters) == OB_COUNTER_FIELDS * sizeof(uint64_t),
		       "ob_counters holds only u64 fields");
	for (int i = 0; i < OB_COUNTER_FIELDS; i++)
		dst[i] += src[i]; /* "sockets" wraps per CPU; the sum is exact */
}

const char *const ob_skip_names[OB_SKIP_N] = {
	"quiet", "peer", "budget", "quota", "full", "reader"
};

const char *ob_svc_state_name(uint32_t state)
{
	switch (state) {
	case OB_SVC_PROBATION:
		return "probation";
	case OB_SVC_GOOD:
		return "accelerated";
	case OB_SVC_HALFCLOSE:
		return "halfclose";
	case OB_SVC_OVERFLOW:
		return "overflow";
	case OB_SVC_WAITALL:
		return "waitall";
	case OB_SVC_SPLICE:
		return "splice";
	case OB_SVC_RCVLOWAT:
		return "rcvlowat";
	case OB_SVC_ZEROCOPY:
		return "zerocopy";
	case OB_SVC_ULP:
		return "ktls";
	}
	return "unknown";
}

/* The name of the netns a service belongs to, as listed in the view. */
static const char *ns_name(const struct ob_view *v, uint64_t cookie)
{
	for (int i = 0; i < v->n_ns; i++)
		if (v->ns[i].cookie == cookie)
			return v->ns[i].name;
	return "(withdrawn)";
}

static const char *state_word(const struct ob_view *v)
{
	if (v->loaded)
		return v->enabled ? "enabled" : "disabled";
	return v->pinned ? "draining" : "not loaded";
}

static const struct {
	unsigned bit;
	const char *name;
} guard_names[] = {
	{ OB_GUARD_WAITALL, "waitall" },     { OB_GUARD_SPLICE, "splice" },
	{ OB_GUARD_SETSOCKOPT, "rcvlowat" }, { OB_GUARD_SETSOCKOPT, "zerocopy" },
	{ OB_GUARD_SETSOCKOPT, "ktls" },
};

/* Kept verdicts (verdicts.c): restored at each container's next start. */
static void kept_text(FILE *f, const struct ob_view *v)
{
	if (v->n_kept)
		fprintf(f, "\n%-32s %-20s %s\n", "KEPT VERDICTS (CONTAINER)", "SAVED (UTC)",
			"SERVICES");
	for (int i = 0; i < v->n_kept; i++) {
		const struct ob_verdicts *k = &v->kept[i];
		time_t t = (time_t)k->saved;
		struct tm tm;
		char when[24] = "-";

		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(f, "%-32.32s %-20s", k->key, when);
		for (int j = 0; j < k->n; j++)
			fprintf(f, "%s%u %s", j ? ", " : " ", k->v[j].port,
				ob_svc_state_name(k->v[j].state));
		fputc('\n', f);
	}
}

int ob_format_text(FILE *f, const struct ob_view *v)
{
	fprintf(f, "oci-bypass: %s", state_word(v));
	if (v->pinned)
		fprintf(f, " (build %016" PRIx64 ", %" PRIu64 " sockets in sockhash%s%s)",
			v->build_id, v->sockhash_entries, v->cgroup[0] ? ", cgroup " : "",
			v->cgroup);
	fputc('\n', f);
	if (!v->pinned) {
		kept_text(f, v);
		return ferror(f) ? -EIO : 0;
	}
	fprintf(f,
		"unread redirected bytes: %" PRId64 " of a budget of %" PRIu64
		" (a namespace's: %" PRIu64 " unless enrolled with --max-unread, and"
		" at most an equal share among the %" PRId64 " enrolled)\n",
		v->host_unread, v->host_max_unread, v->ns_max_unread, v->host_sharing);
	fputs("guards:", f);
	for (size_t i = 0; i < sizeof(guard_names) / sizeof(guard_names[0]); i++)
		fprintf(f, " %s%s", guard_names[i].name,
			v->guards & guard_names[i].bit ? "" : " (off)");
	fputc('\n', f);
	fprintf(f, "promotion: %s\n",
		v->promotion ? "on (oci-bypass promote moves open connections onto the redirect)"
			     : "off (this kernel cannot, or sock_ops is detached)");
	fprintf(f, "%-20s %20s %8s %16s %12s %10s %8s %8s %8s %12s %12s\n", "NAME", "COOKIE",
		"SOCKETS", "REDIR_BYTES", "REDIR_MSGS", "TCP_MSGS", "MISSES", "LEARNING", "REFUSED",
		"UNREAD", "BUDGET");
	for (int i = 0; i < v->n_ns; i++) {
		const struct ob_ns_view *n = &v->ns[i];

		fprintf(f,
			"%-20s %20" PRIu64
			" %8lld %16llu %12llu %10llu %8llu %8llu %8llu %12lld %12llu\n",
			n->name, n->cookie, (long long)n->c.sockets,
			(unsigned long long)n->c.redirected_bytes,
			(unsigned long long)n->c.redirected_msgs, (unsigned long long)n->c.tcp_msgs,
			(unsigned long long)n->c.misses,
			(unsigned long long)(n->c.probation + n->c.guarded),
			(unsigned long long)(n->c.refused + n->c.client_first + n->c.ebusy +
					     n->c.full),
			(long long)n->unread, (unsigned long long)n->budget_now);
	}
	if (v->n_ns)
		fprintf(f, "\n%-20s %17s %17s %17s %17s %10s\n", "QUOTAS (USED/LIMIT)", "CONNS",
			"SERVICES", "SOCKETS", "LEDGERS", "OVER");
	for (int i = 0; i < v->n_ns; i++) {
		const struct ob_ns_view *n = &v->ns[i];
		char q[OB_QUOTAS][24];

		for (int k = 0; k < OB_QUOTAS; k++)
			snprintf(q[k], sizeof(q[k]), "%lld/%u", (long long)n->quota[k].used,
				 n->quota[k].limit);
		fprintf(f, "%-20s %17s %17s %17s %17s %10llu\n", n->name, q[0], q[1], q[2], q[3],
			(unsigned long long)n->c.over_quota);
	}
	if (v->n_ct)
		fprintf(f, "\n%-20s %-20s %-9s %s\n", "CONTAINER", "NETNS", "STATE", "SOCK_OPS");
	for (int i = 0; i < v->n_ct; i++)
		fprintf(f, "%-20.20s %-20s %-9s %s\n", v->ct[i].id, ns_name(v, v->ct[i].cookie),
			v->ct[i].state, v->ct[i].link[0] ? "container cgroup" : "load cgroup");
	if (v->n_svc)
		fprintf(f, "\n%-20s %6s  %-12s %8s  %s\n", "SERVICE NETNS", "PORT", "STATE",
			"PROMOTED", "NOT PROMOTED");
	for (int i = 0; i < v->n_svc; i++) {
		const struct ob_svc_view *s = &v->svc[i];
		int any = 0;

		fprintf(f, "%-20s %6u  %-12s %8u  ", ns_name(v, s->cookie), s->port,
			ob_svc_state_name(s->state), s->promoted);
		for (int k = 0; k < OB_SKIP_N; k++)
			if (s->skips[k])
				fprintf(f, "%s%s %u", any++ ? ", " : "", ob_skip_names[k],
					s->skips[k]);
		fputs(any ? "\n" : "-\n", f);
	}
	kept_text(f, v);
	return ferror(f) ? -EIO : 0;
}

static json_object *u64(uint64_t x)
{
	return json_object_new_uint64(x);
}

/* The guards attached, by the service states they set. */
static json_object *guard_list(unsigned guards)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < sizeof(guard_names) / sizeof(guard_names[0]); i++)
		if (guards & guard_names[i].bit)
			json_object_array_add(a, json_object_new_string(guard_names[i].name));
	return a;
}

const char *const ob_quota_names[OB_QUOTAS] = { "conns", "services", "sockets", "ledgers" };

/* {"conns": {"used": N, "limit": N}, "services": ..., "sockets": ...} */
static json_object *quota_object(const struct ob_ns_view *n)
{
	json_object *q = json_object_new_object();

	for (int k = 0; k < OB_QUOTAS; k++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "used", json_object_new_int64(n->quota[k].used));
		json_object_object_add(o, "limit", u64(n->quota[k].limit));
		json_object_object_add(q, ob_quota_names[k], o);
	}
	return q;
}

/* The host-wide keys, once something is pinned. */
static void json_host(json_object *root, const struct ob_view *v)
{
	char id[17];

	snprintf(id, sizeof(id), "%016" PRIx64, v->build_id);
	json_object_object_add(root, "build_id", json_object_new_string(id));
	json_object_object_add(root, "sockhash_entries", u64(v->sockhash_entries));
	json_object_object_add(root, "parking_entries", u64(v->parking_entries));
	json_object_object_add(root, "conn_entries", u64(v->conn_entries));
	json_object_object_add(root, "small_stream_window_ms", u64(v->small_window_ms));
	json_object_object_add(root, "unread_bound_bytes", u64(v->ingress_max));
	json_object_object_add(root, "unread_bound_blocking_bytes", u64(v->ingress_max_blocking));
	json_object_object_add(root, "stall_ms", u64(v->stall_ms));
	json_object_object_add(root, "unread_bytes", json_object_new_int64(v->host_unread));
	json_object_object_add(root, "unread_budget_bytes", u64(v->host_max_unread));
	json_object_object_add(root, "netns_unread_budget_bytes", u64(v->ns_max_unread));
	json_object_object_add(root, "unread_budget_sharing",
			       json_object_new_int64(v->host_sharing));
	json_object_object_add(root, "ledger_entries", u64(v->ledger_entries));
	json_object_object_add(root, "guards", guard_list(v->guards));
	json_object_object_add(root, "promotion", json_object_new_boolean(v->promotion));
	if (v->cgroup[0])
		json_object_object_add(root, "cgroup", json_object_new_string(v->cgroup));
}

static json_object *json_netns(const struct ob_ns_view *n)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(n->name));
	json_object_object_add(o, "cookie", u64(n->cookie));
	json_object_object_add(o, "unread_bytes", json_object_new_int64(n->unread));
	json_object_object_add(o, "unread_budget_bytes", u64(n->max_unread));
	json_object_object_add(o, "unread_budget_share_bytes", u64(n->budget_now));
	json_object_object_add(o, "trust", json_object_new_boolean(n->trust));
	json_object_object_add(o, "promotable", json_object_new_int64(n->promotable));
	json_object_object_add(o, "quota", quota_object(n));
	for (size_t m = 0; m < sizeof(fields) / sizeof(fields[0]); m++) {
		uint64_t x = field(&n->c, m);

		json_object_object_add(o, fields[m].key,
				       fields[m].type[0] == 'g' ? json_object_new_int64((int64_t)x)
								: u64(x));
	}
	return o;
}

static json_object *json_service(const struct ob_view *v, const struct ob_svc_view *sv)
{
	json_object *o = json_object_new_object(), *skips = json_object_new_object();

	json_object_object_add(o, "netns", json_object_new_string(ns_name(v, sv->cookie)));
	json_object_object_add(o, "cookie", u64(sv->cookie));
	json_object_object_add(o, "port", json_object_new_int(sv->port));
	json_object_object_add(o, "state", json_object_new_string(ob_svc_state_name(sv->state)));
	json_object_object_add(o, "promoted", u64(sv->promoted));
	for (int k = 0; k < OB_SKIP_N; k++)
		json_object_object_add(skips, ob_skip_names[k], u64(sv->skips[k]));
	json_object_object_add(o, "promote_skips", skips);
	return o;
}

static json_object *json_container(const struct ob_view *v, const struct ob_record *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(r->id));
	json_object_object_add(o, "netns", json_object_new_string(ns_name(v, r->cookie)));
	json_object_object_add(o, "cookie", u64(r->cookie));
	json_object_object_add(o, "state", json_object_new_string(r->state));
	json_object_object_add(
		o, "sock_ops",
		json_object_new_string(r->link[0] ? "container cgroup" : "load cgroup"));
	json_object_object_add(o, "bundle", json_object_new_string(r->bundle));
	return o;
}

static json_object *json_kept(const struct ob_verdicts *k)
{
	json_object *o = json_object_new_object(), *svc = json_object_new_array();

	json_object_object_add(o, "key", json_object_new_string(k->key));
	json_object_object_add(o, "id", json_object_new_string(k->id));
	json_object_object_add(o, "saved", json_object_new_int64(k->saved));
	for (int j = 0; j < k->n; j++) {
		json_object *s = json_object_new_object();

		json_object_object_add(s, "port", json_object_new_int(k->v[j].port));
		json_object_object_add(s, "state",
				       json_object_new_string(ob_svc_state_name(k->v[j].state)));
		json_object_array_add(svc, s);
	}
	json_object_object_add(o, "services", svc);
	return o;
}

int ob_format_json(FILE *f, const struct ob_view *v)
{
	json_object *root = json_object_new_object();
	json_object *ns = json_object_new_array(), *svc = json_object_new_array();
	json_object *ct = json_object_new_array(), *kept = json_object_new_array();
	int err = 0;

	json_object_object_add(root, "loaded", json_object_new_boolean(v->loaded));
	json_object_object_add(root, "enabled", json_object_new_boolean(v->loaded && v->enabled));
	json_object_object_add(root, "draining", json_object_new_boolean(v->pinned && !v->loaded));
	if (v->pinned)
		json_host(root, v);
	for (int i = 0; i < v->n_ns; i++)
		json_object_array_add(ns, json_netns(&v->ns[i]));
	for (int i = 0; i < v->n_svc; i++)
		json_object_array_add(svc, json_service(v, &v->svc[i]));
	for (int i = 0; i < v->n_ct; i++)
		json_object_array_add(ct, json_container(v, &v->ct[i]));
	for (int i = 0; i < v->n_kept; i++)
		json_object_array_add(kept, json_kept(&v->kept[i]));
	json_object_object_add(root, "netns", ns);
	json_object_object_add(root, "services", svc);
	json_object_object_add(root, "containers", ct);
	json_object_object_add(root, "kept_verdicts", kept);
	if (fprintf(f, "%s\n",
		    json_object_to_json_string_ext(
			    root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		err = -EIO;
	json_object_put(root);
	return err;
}

/* Label values escape backslash, double quote and newline (exposition format). */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f), fputc(*s, f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

int ob_format_prometheus(FILE *f, const struct ob_view *v)
{
	fputs("# HELP oci_bypass_loaded 1 if the sock_ops program is attached.\n"
	      "# TYPE oci_bypass_loaded gauge\n",
	      f);
	fprintf(f, "oci_bypass_loaded %d\n", v->loaded ? 1 : 0);
	fputs("# HELP oci_bypass_enabled 1 if new connections may be paired.\n"
	      "# TYPE oci_bypass_enabled gauge\n",
	      f);
	fprintf(f, "oci_bypass_enabled %d\n", v->loaded && v->enabled ? 1 : 0);
	fputs("# HELP oci_bypass_sockhash_entries Sockets in the sockhash.\n"
	      "# TYPE oci_bypass_sockhash_entries gauge\n",
	      f);
	fprintf(f, "oci_bypass_sockhash_entries %" PRIu64 "\n", v->sockhash_entries);
	fputs("# HELP oci_bypass_parking_entries Paired sockets, those leaving for TCP included.\n"
	      "# TYPE oci_bypass_parking_entries gauge\n",
	      f);
	fprintf(f, "oci_bypass_parking_entries %" PRIu64 "\n", v->parking_entries);
	fputs("# HELP oci_bypass_unread_bytes Redirected bytes not read yet, all namespaces.\n"
	      "# TYPE oci_bypass_unread_bytes gauge\n",
	      f);
	fprintf(f, "oci_bypass_unread_bytes %" PRId64 "\n", v->host_unread);
	fputs("# HELP oci_bypass_unread_budget_bytes The host's budget for them.\n"
	      "# TYPE oci_bypass_unread_budget_bytes gauge\n",
	      f);
	fprintf(f, "oci_bypass_unread_budget_bytes %" PRIu64 "\n", v->host_max_unread);
	fputs("# HELP oci_bypass_netns_unread_bytes Redirected bytes a namespace sent that are not "
	      "read yet.\n"
	      "# TYPE oci_bypass_netns_unread_bytes gauge\n",
	      f);
	for (int i = 0; i < v->n_ns; i++) {
		fputs("oci_bypass_netns_unread_bytes{netns=\"", f);
		put_label(f, v->ns[i].name);
		fprintf(f, "\",cookie=\"%" PRIu64 "\"} %" PRId64 "\n", v->ns[i].cookie,
			v->ns[i].unread);
	}
	for (size_t m = 0; m < sizeof(fields) / sizeof(fields[0]); m++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fields[m].metric, fields[m].help,
			fields[m].metric, fields[m].type);
		for (int i = 0; i < v->n_ns; i++) {
			const struct ob_ns_view *n = &v->ns[i];
			uint64_t x = field(&n->c, m);

			fprintf(f, "%s{netns=\"", fields[m].metric);
			put_label(f, n->name);
			if (fields[m].type[0] == 'g')
				fprintf(f, "\",cookie=\"%" PRIu64 "\"} %" PRId64 "\n", n->cookie,
					(int64_t)x);
			else
				fprintf(f, "\",cookie=\"%" PRIu64 "\"} %" PRIu64 "\n", n->cookie,
					x);
		}
	}
	return ferror(f) ? -EIO : 0;
}
