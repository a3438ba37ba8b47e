/*
 * resize_samples.h — reading tests/data/resize/pillow_resize.txt (written by
 * tools/reference/make_resize_samples.py): the source images it names, its synthetic pattern,
 * and the FNV-1a 64 hash its expectations are given in. Shared by tests/image/test_resize.c and
 * tests/models/test_clip_image_processor.c.
 */
#ifndef SDC_TESTS_IMAGE_RESIZE_SAMPLES_H
#define SDC_TESTS_IMAGE_RESIZE_SAMPLES_H

#include "io/io.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RS_SAMPLES SDC_TEST_DATA_DIR "/resize/pillow_resize.txt"

static inline uint64_t rs_fnv1a64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* make_resize_samples.py's pattern(): smooth ramps, noise-like values and hard 0/255 checks. */
static inline uint8_t rs_pattern_value(int x, int y, int c)
{
    if ((x / 3 + y / 5) % 4 == 0)
        return (uint8_t)(255 * ((x + y + c) % 2));
    return (uint8_t)((37 * x + 91 * y + 53 * c + 7 * ((x * y) % 251)) % 256);
}

/* The source named in the samples file: "pattern:WxHxC" or a file of tests/data/images read as
 * RGB. Pixels from ctx's allocator; false (and a failed check) when it cannot be made. */
static inline bool rs_source(sdc_context *ctx, const char *name, sdc_image *out)
{
    int w = 0, h = 0, c = 0;
    memset(out, 0, sizeof *out);
    if (sscanf(name, "pattern:%dx%dx%d", &w, &h, &c) == 3) {
        out->pixels = sdc_malloc(ctx, (size_t)w * (size_t)h * (size_t)c);
        if (!out->pixels) {
            CHECK_MSG(false, "%s: out of memory", name);
            return false;
        }
        out->width = w;
        out->height = h;
        out->channels = c;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    out->pixels[((size_t)y * (size_t)w + (size_t)x) * (size_t)c + (size_t)k] =
                        rs_pattern_value(x, y, k);
        return true;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/images/%s", SDC_TEST_DATA_DIR, name);
    sdc_status st = sdc_image_read(ctx, path, 3, out, NULL);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", path, sdc_context_errmsg(ctx));
    return st == SDC_STATUS_OK;
}

/* A cache of the sources read so far (the samples reuse a few images many times). */
#define RS_MAX_SOURCES 32
typedef struct rs_sources {
    sdc_context *ctx;
    int n;
    char names[RS_MAX_SOURCES][64];
    sdc_image images[RS_MAX_SOURCES];
} rs_sources;

static inline const sdc_image *rs_sources_get(rs_sources *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return &s->images[i];
    if (s->n == RS_MAX_SOURCES || strlen(name) >= sizeof s->names[0] ||
        !rs_source(s->ctx, name, &s->images[s->n]))
        return NULL;
    strcpy(s->names[s->n], name);
    return &s->images[s->n++];
}

static inline void rs_sources_free(rs_sources *s)
{
    for (int i = 0; i < s->n; i++)
        sdc_image_free(s->ctx, &s->images[i]);
    s->n = 0;
}

/* The lines of the samples file starting with `kind` ("resize" or "clip"), one at a time:
 * returns false at the end. `line` holds the whole line without its newline. */
static inline bool rs_next_line(FILE *f, const char *kind, char *line, size_t size)
{
    size_t k = strlen(kind);
    while (fgets(line, (int)size, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, kind, k) == 0 && line[k] == ' ')
            return true;
    }
    return false;
}

#endif /* SDC_TESTS_IMAGE_RESIZE_SAMPLES_H */
