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
	struct ob_error e = { 0 };
	enum ob_stage s;
	int rc;

	rc = ob_state_parse((const char *)data, size, &st, &e);
	check_err(rc, &e);
	/* Without an error object the answer is the same. */
	FUZZ_CHECK(ob_state_parse((const char *)data, size, &st, NULL) == rc);
	if (rc)
		return 0;
	FUZZ_CHECK(ob_name_valid(st.id, OB_ID_MAX));
	FUZZ_CHECK(ob_path_valid(st.bundle));
	FUZZ_CHECK(st.pid >= 0);
	FUZZ_CHECK(st.status[0]);
	s = ob_stage_from(NULL, &st, &e);
	FUZZ_CHECK((s == OB_STAGE_UNKNOWN) == (e.code != 0)); /* e was clean: rc was 0 */
	FUZZ_CHECK(s != OB_STAGE_CREATE || st.pid > 0);
	return 0;
}
