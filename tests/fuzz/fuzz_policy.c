/* fuzz_policy.c - libFuzzer harness for ob_host_policy_parse and ob_host_policy_write. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ob_host_policy hp, again;
	struct ob_error e = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	rc = ob_host_policy_parse((const char *)data, size, "policy.conf", &hp, &e);
	check_err(rc, &e);
	/* Without an error object the answer is the same. */
	FUZZ_CHECK(ob_host_policy_parse((const char *)data, size, "p", &again, NULL) == rc);
	if (rc) {
		/* never fails open */
		FUZZ_CHECK(!hp.allow_trust && !hp.allow_host_network);
		FUZZ_CHECK(!strncmp(e.msg, "policy.conf:", 12));
		return 0;
	}
	/* What install-hooks would write for it reads back the same. */
	f = open_memstream(&buf, &len);
	FUZZ_CHECK(f);
	FUZZ_CHECK(ob_host_policy_write(f, &hp, NULL) == 0);
	fclose(f);
	FUZZ_CHECK(ob_host_policy_parse(buf, len, "w", &again, NULL) == 0);
	FUZZ_CHECK(again.allow_trust == hp.allow_trust);
	FUZZ_CHECK(again.allow_host_network == hp.allow_host_network);
	free(buf);
	return 0;
}
