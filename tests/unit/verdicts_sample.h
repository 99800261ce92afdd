/* verdicts_sample.h - the kept verdicts test_verdicts.c and test_format.c share: one container,
 * three services. */
#ifndef OB_VERDICTS_SAMPLE_H
#define OB_VERDICTS_SAMPLE_H
#include <stdlib.h>

#include "ob.h"

#define SAMPLE_KEY "web-1a2b3c4d"

static inline struct ob_verdicts *three_kept(void)
{
	struct ob_verdicts *vs = calloc(1, sizeof(*vs));

	assert_non_null(vs);
	snprintf(vs->key, sizeof(vs->key), SAMPLE_KEY);
	snprintf(vs->id, sizeof(vs->id), "web");
	vs->saved = 1796000000;
	vs->n = 3;
	vs->v[0] = (struct ob_verdict){ 6379, OB_SVC_GOOD };
	vs->v[1] = (struct ob_verdict){ 5432, OB_SVC_HALFCLOSE };
	vs->v[2] = (struct ob_verdict){ 443, OB_SVC_ULP };
	return vs;
}
#endif
