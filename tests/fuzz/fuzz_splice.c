/* fuzz_splice.c - libFuzzer harness for the runtime shim's edit: ob_bundle_plan (json-c, in the
 * parse child) and ob_bundle_splice (no library, in the shim as root), with the child's plan and
 * with any plan a subverted child could send. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "oci.h"
#include "fuzz_common.h"

#define HOOK "/usr/libexec/oci/hooks.d/oci-bypass"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Our hook, last of hooks[stage], running verb. */
static int ours_last(struct json_object *root, const char *stage, const char *verb)
{
	struct json_object *hooks, *arr, *h, *v, *args;
	size_t n;

	if (!json_object_object_get_ex(root, "hooks", &hooks) ||
	    !json_object_object_get_ex(hooks, stage, &arr) ||
	    !json_object_is_type(arr, json_type_array) || !(n = json_object_array_length(arr)))
		return 0;
	h = json_object_array_get_idx(arr, n - 1);
	return json_object_object_get_ex(h, "path", &v) &&
	       !strcmp(json_object_get_string(v), HOOK) &&
	       json_object_object_get_ex(h, "args", &args) && json_object_array_length(args) == 3 &&
	       !strcmp(json_object_get_string(json_object_array_get_idx(args, 2)), verb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ob_bundle_plan p, any = { 0 };
	struct ob_error e = { 0 };
	struct json_object *root;
	char *out = NULL;
	size_t len = 0;
	int rc;

	if (!size)
		return 0;
	/* a plan a subverted child could send: whatever it says, the edit is
	 * refused or is one JSON object (ob_bundle_splice checks its output) */
	any.mode = (enum ob_mode)(data[0] % 3);
	any.from = (enum ob_mode_from)((data[0] >> 2) % 3);
	any.add_create = data[0] & 0x10;
	any.add_poststop = data[0] & 0x20;
	any.add_annotation = data[0] & 0x40;
	rc = ob_bundle_splice((const char *)data + 1, size - 1, HOOK, &any, &out, &len, &e);
	check_err(rc, &e);
	FUZZ_CHECK(rc ? !out && !len : out && strlen(out) == len && len >= size - 1);
	free(out);
	/* the child's own plan on a document json-c took: json-c reads the
	 * result with our hooks last */
	memset(&e, 0, sizeof(e));
	rc = ob_bundle_plan((const char *)data + 1, size - 1, HOOK, &p, &e);
	check_err(rc, &e);
	if (rc || (!p.add_create && !p.add_poststop && !p.add_annotation))
		return 0;
	memset(&e, 0, sizeof(e));
	out = NULL;
	rc = ob_bundle_splice((const char *)data + 1, size - 1, HOOK, &p, &out, &len, &e);
	check_err(rc, &e);
	if (rc)
		return 0; /* deeper than the scan goes, or a shape json-c took and runc would not */
	root = json_tokener_parse(out);
	FUZZ_CHECK(root != NULL);
	FUZZ_CHECK(!p.add_create || ours_last(root, "createRuntime", "create"));
	FUZZ_CHECK(!p.add_poststop || ours_last(root, "poststop", "teardown"));
	json_object_put(root);
	free(out);
	return 0;
}
