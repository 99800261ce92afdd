/* fuzz_config.c - libFuzzer harness for ob_config_parse. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "oci.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ob_policy p;
	struct ob_error e = { 0 };
	int rc, i, j;

	rc = ob_config_parse((const char *)data, size, &p, &e);
	check_err(rc, &e);
	if (rc)
		return 0;
	FUZZ_CHECK(p.mode == OB_MODE_ON || p.mode == OB_MODE_OFF || p.mode == OB_MODE_REQUIRED);
	FUZZ_CHECK(p.n_noports >= 0 && p.n_noports <= OB_NOPORTS_MAX);
	for (i = 0; i < p.n_noports; i++) {
		FUZZ_CHECK(p.noports[i] != 0);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(p.noports[i] != p.noports[j]);
	}
	FUZZ_CHECK(!p.netns_path[0] || (p.has_netns && ob_path_valid(p.netns_path)));
	FUZZ_CHECK(!p.id_hint[0] || ob_name_valid(p.id_hint, OB_ID_MAX));
	return 0;
}
