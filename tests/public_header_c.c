/* The public header compiled as strict C11: it must need nothing else. */
#include "sdc.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    sdc_context *ctx = NULL;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
        return 1;
    int ok = strcmp(sdc_status_string(SDC_STATUS_OK), "ok") == 0 && sdc_version()[0] != '\0' &&
             sdc_context_n_threads(ctx) == 1;
    sdc_context_destroy(ctx);
    fprintf(stderr, "public header as C11: %s\n", ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}
