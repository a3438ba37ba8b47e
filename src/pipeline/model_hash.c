/*
 * model_hash.c — the "Model hash" AUTOMATIC1111 writes into an image's parameters: the first
 * 10 hex digits of the checkpoint file's SHA-256 (its "sha256" hash since webui 1.0; the old
 * 8-digit hash of 64 KiB is not used). SHA-256 as FIPS 180-4 defines it, over the mapped file.
 */
#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct sha256 {
    uint32_t h[8];
    uint8_t block[64];
    size_t fill;
    uint64_t total;
} sha256;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void compress(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

static void sha256_init(sha256 *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->fill = 0;
    s->total = 0;
}

static void sha256_update(sha256 *s, const uint8_t *p, size_t n)
{
    s->total += n;
    if (s->fill) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->block + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill < 64)
            return;
        compress(s->h, s->block);
        s->fill = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        compress(s->h, p);
    memcpy(s->block, p, n);
    s->fill = n;
}

static void sha256_final(sha256 *s, char hex[65])
{
    uint64_t bits = s->total * 8;
    uint8_t pad[72] = {0x80};
    size_t pad_len = (s->fill < 56 ? 56 : 120) - s->fill;
    for (int i = 0; i < 8; i++)
        pad[pad_len + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, pad, pad_len + 8);
    for (int i = 0; i < 8; i++)
        snprintf(hex + 8 * i, 9, "%08x", s->h[i]);
}

sdc_status sdc_pipe_sha256_file(sdc_context *ctx, const char *path, char hex[65])
{
    /* Read in pieces rather than mapped: hashing a checkpoint must not make it resident. */
    enum { CHUNK = 1 << 20 };
    FILE *f = fopen(path, "rb");
    if (!f)
        return sdc_fail(ctx, SDC_STATUS_IO, "%s: cannot open for hashing: %s", path,
                        strerror(errno));
    uint8_t *buf = sdc_malloc(ctx, CHUNK);
    sdc_status st = SDC_STATUS_OK;
    if (!buf) {
        st = sdc_fail_oom(ctx, "a hashing buffer", CHUNK);
        goto close_file;
    }
    sha256 s;
    sha256_init(&s);
    size_t n;
    while ((n = fread(buf, 1, CHUNK, f)) > 0)
        sha256_update(&s, buf, n);
    if (ferror(f)) {
        st = sdc_fail(ctx, SDC_STATUS_IO, "%s: read error while hashing", path);
        goto free_buf;
    }
    sha256_final(&s, hex);
free_buf:
    sdc_free(ctx, buf);
close_file:
    fclose(f);
    return st;
}

const char *sdc_pipe_model_hash(sdc_context *ctx, sdc_model *model)
{
    pthread_mutex_lock(&model->hash_lock);
    if (!model->hash_done) {
        model->hash[0] = '\0';
        char hex[65];
        if (model->source != SDC_MODEL_SOURCE_SINGLE_FILE) {
            model->hash_done = true;
        } else if (sdc_pipe_sha256_file(ctx, model->path, hex) == SDC_STATUS_OK) {
            memcpy(model->hash, hex, 10);
            model->hash[10] = '\0';
            model->hash_done = true;
        } else {
            /* The image is still made, its parameters without a hash; tried again next run. */
            sdc_log(ctx, SDC_LOG_LEVEL_WARN, "no model hash: %s", sdc_context_errmsg(ctx));
            sdc_clear_error(ctx);
        }
    }
    pthread_mutex_unlock(&model->hash_lock);
    return model->hash;
}
