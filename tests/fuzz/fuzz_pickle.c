/*
 * fuzz_pickle.c — libFuzzer target for the restricted pickle machine (src/io/pickle.c) and the
 * state-dict reading above it (src/io/ckpt.c): the input runs as a bare pickle, then as the
 * data.pkl of an in-memory archive whose storages "0" to "31" hold 256 bytes each. Every tensor
 * must lie inside that archive, and nothing may be left allocated afterwards.
 */
#include "io/ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_STORAGES    32
#define STORAGE_BYTES 256

static sdc_context *fuzz_context(void)
{
    static sdc_context *ctx;
    if (!ctx) {
        sdc_context_params p = sdc_context_default_params();
        p.n_threads = 1;
        if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
            abort();
    }
    return ctx;
}

static void put(unsigned char **p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *(*p)++ = (unsigned char)(v >> (8 * i));
}

static void put_bytes(unsigned char **p, const void *s, size_t n)
{
    if (n)
        memcpy(*p, s, n);
    *p += n;
}

/* A stored ZIP: archive/data.pkl = the input, archive/data/<k> = STORAGE_BYTES bytes each. */
static size_t build_archive(unsigned char *out, const uint8_t *pkl, size_t size)
{
    char names[N_STORAGES + 1][32];
    snprintf(names[0], sizeof names[0], "archive/data.pkl");
    for (int k = 0; k < N_STORAGES; k++)
        snprintf(names[k + 1], sizeof names[k + 1], "archive/data/%d", k);
    unsigned char storage[STORAGE_BYTES];
    for (size_t i = 0; i < sizeof storage; i++)
        storage[i] = (unsigned char)(i * 37 + 11);
    size_t offsets[N_STORAGES + 1];
    unsigned char *p = out;
    for (int e = 0; e <= N_STORAGES; e++) {
        const void *d = e == 0 ? (const void *)pkl : storage;
        size_t n = e == 0 ? size : STORAGE_BYTES, len = strlen(names[e]);
        offsets[e] = (size_t)(p - out);
        put(&p, 0x04034b50, 4), put(&p, 20, 2), put(&p, 0, 2), put(&p, 0, 2), put(&p, 0, 4);
        put(&p, 0, 4), put(&p, n, 4), put(&p, n, 4), put(&p, len, 2), put(&p, 0, 2);
        put_bytes(&p, names[e], len);
        put_bytes(&p, d, n);
    }
    size_t cd = (size_t)(p - out);
    for (int e = 0; e <= N_STORAGES; e++) {
        size_t n = e == 0 ? size : STORAGE_BYTES, len = strlen(names[e]);
        put(&p, 0x02014b50, 4), put(&p, 20, 2), put(&p, 20, 2), put(&p, 0, 2), put(&p, 0, 2);
        put(&p, 0, 4), put(&p, 0, 4), put(&p, n, 4), put(&p, n, 4), put(&p, len, 2);
        put(&p, 0, 2), put(&p, 0, 2), put(&p, 0, 2), put(&p, 0, 2), put(&p, 0, 4);
        put(&p, offsets[e], 4);
        put_bytes(&p, names[e], len);
    }
    size_t cd_len = (size_t)(p - out) - cd;
    put(&p, 0x06054b50, 4), put(&p, 0, 4), put(&p, N_STORAGES + 1, 2), put(&p, N_STORAGES + 1, 2);
    put(&p, cd_len, 4), put(&p, cd, 4), put(&p, 0, 2);
    return (size_t)(p - out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > ((size_t)1 << 24))
        return 0;
    sdc_context *ctx = fuzz_context();

    sdc_pickle *p = NULL;
    if (sdc_pickle_load(ctx, data, size, "fuzz.pkl", &p) == SDC_STATUS_OK) {
        if (!p->root || p->consumed == 0 || p->consumed > size)
            abort();
        for (size_t i = 0; i < p->n_storages; i++)
            if (p->storages[i]->type != SDC_PICKLE_TYPE_STORAGE)
                abort();
        sdc_pickle_free(ctx, p);
    } else if (p != NULL || sdc_context_errmsg(ctx)[0] == '\0') {
        abort();
    }

    unsigned char *zip = malloc(size + (N_STORAGES + 1) * (STORAGE_BYTES + 128) + 64);
    if (!zip)
        return 0;
    size_t zip_size = build_archive(zip, data, size);
    sdc_st_file *f = NULL;
    if (sdc_ckpt_parse(ctx, zip, zip_size, "fuzz.ckpt", &f) == SDC_STATUS_OK) {
        unsigned sum = 0;
        for (size_t i = 0; i < f->n_tensors; i++) {
            const sdc_st_tensor *t = &f->tensors[i];
            uint64_t n = sdc_st_nbytes(t);
            const unsigned char *b = t->data;
            if (b < zip || t->end > zip_size || b + n != zip + t->end)
                abort();
            if (n > 0)
                sum += b[0] + b[n - 1];
            if ((uint64_t)sdc_st_numel(t) * sdc_dtype_size(t->dtype) != n)
                abort();
            if (sdc_st_find(f, t->name) != t)
                abort();
        }
        for (size_t i = 0; i < f->n_metadata; i++)
            if (sdc_st_metadata(f, f->metadata[i].key) != f->metadata[i].value)
                abort();
        (void)sum;
        sdc_st_close(f);
    } else if (f != NULL || sdc_context_errmsg(ctx)[0] == '\0') {
        abort();
    }
    free(zip);
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    if (s.live_bytes != 0)
        abort();
    return 0;
}
