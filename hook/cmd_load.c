/* cmd_load.c - the verbs load, unload, enable and disable. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ob.h"

int ob_cmd_load(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	char cg[PATH_MAX];
	bool already = false;
	struct ob_load_opts o = { .cgroup = a->cgroup,
				  .max_sockets = a->max_sockets,
				  .small_window_ms = a->small_window_ms,
				  .stall_ms = a->stall_ms };
	int err = ob_load(&o, &already, cg, sizeof(cg), e);

	if (err)
		return err;
	if (already)
		fprintf(out, "oci-bypass: already loaded (build %016llx)\n",
			(unsigned long long)ob_build_id());
	else
		fprintf(out, "oci-bypass: loaded (build %016llx), sock_ops attached to %s\n",
			(unsigned long long)ob_build_id(), cg);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ob_cmd_unload(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	struct ob_settings s;
	_cleanup_maps_ struct ob_maps m = OB_MAPS_CLOSED;
	uint64_t left;
	double deadline;
	bool told = false;
	struct ob_error none = { 0 };
	int err = ob_open_maps(&m, &none);

	if (err == -ENOENT) {
		fprintf(out, "oci-bypass: not loaded\n");
		return 0;
	}
	if (err)
		return ob_err(e, err, "%s", none.msg);
	err = ob_read_settings(&m, &s, e);
	if (!err && !s.draining) {
		/* New pairings stop at once; handshakes already under way
		 * settle (refused) while sock_ops still runs. */
		s.draining = 1;
		err = ob_write_settings(&m, &s, e);
		if (!err)
			usleep(200 * 1000);
	}
	if (err)
		return err;
	ob_sockops_detach();

	/* Removing a live socket from the sockhash would purge bytes it has
	 * not read yet (invariant 4): wait for them to close instead. */
	deadline = now_s() + a->wait_s;
	for (;;) {
		left = ob_sockets_left(&m);
		if (left == 0 || now_s() >= deadline)
			break;
		if (!told) {
			fprintf(stderr,
				"oci-bypass: waiting up to %.0f s for %llu redirecting sockets to "
				"close\n",
				a->wait_s, (unsigned long long)left);
			told = true;
		}
		usleep(100 * 1000);
	}
	if (left) {
		fprintf(out,
			"oci-bypass: detached; %llu sockets still redirecting keep the sockhash "
			"pinned "
			"until they close; run 'oci-bypass unload' again to finish\n",
			(unsigned long long)left);
		err = ob_err(e, -EAGAIN, "%llu sockets still open", (unsigned long long)left);
		e->exit = 75; /* documented in unload --help */
		return err;
	}
	ob_close_maps(&m); /* before the pins go */
	ob_unpin_all();
	ob_registry_clear();
	fprintf(out, "oci-bypass: unloaded\n");
	return 0;
}

static int set_enabled(bool on, FILE *out, struct ob_error *e)
{
	struct ob_settings s;
	_cleanup_maps_ struct ob_maps m = OB_MAPS_CLOSED;
	int err;

	err = ob_open_maps(&m, e);
	if (err)
		return err;
	err = ob_read_settings(&m, &s, e);
	if (!err) {
		s.enabled = on;
		err = ob_write_settings(&m, &s, e);
	}
	if (!err)
		fprintf(out, "oci-bypass: %s\n",
			on ? "enabled" : "disabled (open connections go on)");
	return err;
}

int ob_cmd_enable(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	(void)a;
	return set_enabled(true, out, e);
}

int ob_cmd_disable(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	(void)a;
	return set_enabled(false, out, e);
}
