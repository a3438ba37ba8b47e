// The public header compiled as C++11: extern "C" linkage, no C-only constructs.
#include "sdc.h"

#include <cstdio>
#include <cstring>

int main()
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 2;
    sdc_context *ctx = nullptr;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
        return 1;
    bool ok = std::strcmp(sdc_status_string(SDC_STATUS_OUT_OF_MEMORY), "out of memory") == 0 &&
              sdc_context_n_threads(ctx) == 2;
    sdc_context_destroy(ctx);
    std::fprintf(stderr, "public header as C++: %s\n", ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}
