/* fuzz_hooksd_validate.c - libFuzzer harness for ob_hooksd_validate, and for the writers with
 * fuzzed hook paths. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whatever path the writers accept, they write a file the validator accepts. */
static void write_with_path(const uint8_t *data, size_t size)
{
	char path[OB_PATH_MAX + 1], *text = NULL;
	struct ob_error e = { 0 };
	size_t len = 0;
	FILE *f;
	int rc;

	if (size > OB_PATH_MAX)
		return;
	memcpy(path, data, size);
	path[size] = '\0';
	f = open_memstream(&text, &len);
	if (!f)
		return;
	rc = ob_hooksd_write(f, path, size & 1, &e);
	check_err(rc, &e);
	FUZZ_CHECK((rc == 0) == ob_path_valid(path));
	if (!rc)
		rc = ob_cdi_write(f, path, &e);
	FUZZ_CHECK(rc == 0 || !ob_path_valid(path));
	fclose(f);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ob_error e = { 0 };
	int rc;

	rc = ob_hooksd_validate((const char *)data, size, &e);
	check_err(rc, &e);
	if (size && data[0] == '/')
		write_with_path(data, size);
	return 0;
}
