/* fuzz_state.c - libFuzzer harness for ob_state_parse and ob_stage_from. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "oci.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ob_state st;
	char err[256], tiny[5];
	enum ob_stage s;
	int rc;

	rc = ob_state_parse((const char *)data, size, &st, err, sizeof(err));
	check_err(rc, err, sizeof(err));
	/* A short error buffer must be cut, never overrun. */
	FUZZ_CHECK(ob_state_parse((const char *)data, size, &st, tiny, sizeof(tiny)) == rc);
	FUZZ_CHECK(strnlen(tiny, sizeof(tiny)) < sizeof(tiny));
	if (rc)
		return 0;
	FUZZ_CHECK(ob_id_valid(st.id));
	FUZZ_CHECK(ob_path_valid(st.bundle));
	FUZZ_CHECK(st.pid >= 0);
	FUZZ_CHECK(st.status[0]);
	FUZZ_CHECK(!st.mode[0] || !strcmp(st.mode, "on") || !strcmp(st.mode, "off") ||
		   !strcmp(st.mode, "required"));
	s = ob_stage_from(NULL, &st, err, sizeof(err));
	check_err(s == OB_STAGE_UNKNOWN ? -1 : 0, err, sizeof(err));
	FUZZ_CHECK(s != OB_STAGE_CREATE || st.pid > 0);
	return 0;
}
