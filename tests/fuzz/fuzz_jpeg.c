/*
 * fuzz_jpeg.c — libFuzzer target for sdc_jpeg_parse. The first input byte picks want_channels
 * (0, 1, 3, 4); the rest is the JPEG. The image is freed and the context must end with no
 * live allocation. Seeds in corpus/jpeg/: the tests/data/images/formats JPEGs, crops of
 * rocket.jpg and test_image.c's DC-only progressive file, each after one such byte.
 */
#include "io/io.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int wants[4] = {0, 1, 3, 4};
    int want = wants[data[0] & 3];
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    p.log_level = SDC_LOG_LEVEL_ERROR;
    sdc_context *ctx = NULL;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
        abort();
    sdc_image im;
    sdc_status st = sdc_jpeg_parse(ctx, data + 1, size - 1, "fuzz.jpg", want, &im);
    if (st == SDC_STATUS_OK) {
        size_t n = (size_t)im.width * (size_t)im.height * (size_t)im.channels;
        if (im.width < 1 || im.height < 1 || (want && im.channels != want) || !im.pixels)
            abort();
        /* Touch every byte so reads of uninitialised or short buffers show up. */
        unsigned sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += im.pixels[i];
        if (sum == 0xdeadbeefu)
            abort();
        sdc_image_free(ctx, &im);
    } else if (im.pixels) {
        abort();
    }
    sdc_alloc_stats stats;
    sdc_alloc_get_stats(ctx, &stats);
    if (stats.live_bytes != 0)
        abort();
    sdc_context_destroy(ctx);
    return 0;
}
