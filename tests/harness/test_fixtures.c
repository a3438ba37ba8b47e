/*
 * Opens every fixture listed in tests/fixtures/manifest.json and checks it against the
 * manifest: size and SHA-256 of the bytes, and by kind — safetensors and .ckpt files: every
 * tensor's dtype and shape; PNG images: width, height, channels; JSON: parses. A fixture that
 * was regenerated without the manifest (or damaged) fails here at once, before the tests that
 * use it report confusing numbers. Files inside models.tar.xz are read where the build
 * unpacked them (SDC_BUILD_FIXTURES_DIR).
 */
#include "io/io.h"
#include "test.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---------------------------------------------------------------------------------------- */
/* SHA-256 (FIPS 180-4), enough to check fixture files                                        */

typedef struct sha256 {
    uint32_t h[8];
    uint8_t block[64];
    size_t fill;
    uint64_t bits;
} sha256;

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha_block(sha256 *s, const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha_k[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
    s->h[5] += f;
    s->h[6] += g;
    s->h[7] += h;
}

static void sha_init(sha256 *s)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->fill = 0;
    s->bits = 0;
}

static void sha_update(sha256 *s, const uint8_t *p, size_t n)
{
    s->bits += (uint64_t)n * 8;
    while (n > 0) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->block + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill == 64) {
            sha_block(s, s->block);
            s->fill = 0;
        }
    }
}

static void sha_hex(sha256 *s, char out[65])
{
    uint64_t bits = s->bits;
    uint8_t pad = 0x80;
    sha_update(s, &pad, 1);
    uint8_t zero = 0;
    while (s->fill != 56)
        sha_update(s, &zero, 1);
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(s, len, 8);
    for (int i = 0; i < 8; i++)
        snprintf(out + 8 * i, 9, "%08" PRIx32, s->h[i]);
}

static void test_sha256_known_answer(void)
{
    /* FIPS 180-2 appendix B.1 and B.2 */
    sha256 s;
    char hex[65];
    sha_init(&s);
    sha_update(&s, (const uint8_t *)"abc", 3);
    sha_hex(&s, hex);
    CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_init(&s);
    sha_update(&s, (const uint8_t *)two, strlen(two));
    sha_hex(&s, hex);
    CHECK_EQ_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* ---------------------------------------------------------------------------------------- */

typedef struct counts {
    int files, tensors, images, json, archives;
} counts;

static const char *fixture_path(const sdc_json *entry, const char *rel)
{
    bool archived = sdc_json_get(entry, "archive") != NULL;
    return test_path(archived ? SDC_BUILD_FIXTURES_DIR : SDC_FIXTURES_DIR, rel);
}

static void check_bytes(sdc_context *ctx, const sdc_json *entry, const char *path)
{
    const sdc_json *bytes = sdc_json_get_type(entry, "bytes", SDC_JSON_TYPE_NUMBER);
    const sdc_json *hash = sdc_json_get_type(entry, "sha256", SDC_JSON_TYPE_STRING);
    sdc_mapped_file f;
    sdc_status st = sdc_file_map(ctx, path, &f);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    if (st != SDC_STATUS_OK)
        return;
    if (bytes)
        CHECK_MSG((int64_t)f.size == bytes->u.number.int_value, "%s: %zu bytes, manifest %lld",
                  path, f.size, (long long)bytes->u.number.int_value);
    if (hash) {
        sha256 s;
        char hex[65];
        sha_init(&s);
        sha_update(&s, f.data, f.size);
        sha_hex(&s, hex);
        CHECK_MSG(strcmp(hex, hash->u.string.chars) == 0, "%s: sha256 %s, manifest %s", path,
                  hex, hash->u.string.chars);
    }
    sdc_file_unmap(ctx, &f);
}

static bool shape_equals(const sdc_json *shape, const sdc_tensor_info *t)
{
    if (!shape || shape->type != SDC_JSON_TYPE_ARRAY || (int)shape->u.array.count != t->ndim)
        return false;
    for (int d = 0; d < t->ndim; d++)
        if (shape->u.array.items[d]->u.number.int_value != t->shape[d])
            return false;
    return true;
}

/* Every tensor the manifest lists is in the file with that dtype and shape, and the file has
 * no others. */
static void check_tensors(sdc_context *ctx, const sdc_json *entry, const char *path, counts *c)
{
    const sdc_json *tensors = sdc_json_get_type(entry, "tensors", SDC_JSON_TYPE_OBJECT);
    CHECK_MSG(tensors != NULL, "%s: manifest entry lists no tensors", path);
    sdc_tensor_file *f = NULL;
    sdc_status st = sdc_tensor_file_open(ctx, path, &f);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    if (st != SDC_STATUS_OK || !tensors)
        goto done;
    size_t n = sdc_tensor_file_count(f);
    CHECK_MSG(n == tensors->u.object.count, "%s: %zu tensors, manifest %zu", path, n,
              tensors->u.object.count);
    for (size_t i = 0; i < n; i++) {
        sdc_tensor_info t;
        sdc_tensor_file_info(f, i, &t);
        const sdc_json *want = sdc_json_get_type(tensors, t.name, SDC_JSON_TYPE_OBJECT);
        CHECK_MSG(want != NULL, "%s: tensor '%s' is not in the manifest", path, t.name);
        if (!want)
            continue;
        const sdc_json *dtype = sdc_json_get_type(want, "dtype", SDC_JSON_TYPE_STRING);
        CHECK_MSG(dtype && strcmp(dtype->u.string.chars, t.dtype) == 0,
                  "%s: tensor '%s' is %s, manifest %s", path, t.name, t.dtype,
                  dtype ? dtype->u.string.chars : "?");
        CHECK_MSG(shape_equals(sdc_json_get(want, "shape"), &t), "%s: tensor '%s' shape differs",
                  path, t.name);
        c->tensors++;
    }
done:
    sdc_tensor_file_close(f);
}

static void check_png(sdc_context *ctx, const sdc_json *entry, const char *path, counts *c)
{
    sdc_image img = {0};
    sdc_status st = sdc_image_read(ctx, path, 0, &img, NULL);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    const sdc_json *w = sdc_json_get(entry, "width"), *h = sdc_json_get(entry, "height");
    const sdc_json *ch = sdc_json_get(entry, "channels");
    CHECK_MSG(w && h && ch && img.width == w->u.number.int_value &&
                  img.height == h->u.number.int_value && img.channels == ch->u.number.int_value,
              "%s: %dx%dx%d differs from the manifest", path, img.width, img.height,
              img.channels);
    sdc_image_free(ctx, &img);
    c->images++;
}

static void check_json(sdc_context *ctx, const char *path, counts *c)
{
    char *text = NULL;
    size_t len = 0;
    sdc_json_doc *doc = NULL;
    sdc_status st = sdc_file_read_all(ctx, path, &text, &len);
    if (st == SDC_STATUS_OK)
        st = sdc_json_parse(ctx, text, len, path, &doc);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    sdc_json_free(doc);
    sdc_free(ctx, text);
    c->json++;
}

static void test_every_fixture(void)
{
    sdc_context *ctx;
    CHECK_EQ_INT(sdc_context_create(NULL, &ctx), SDC_STATUS_OK);
    const char *manifest_path = test_path(SDC_FIXTURES_DIR, "manifest.json");
    char *text = NULL;
    size_t len = 0;
    sdc_json_doc *doc = NULL;
    CHECK_EQ_INT(sdc_file_read_all(ctx, manifest_path, &text, &len), SDC_STATUS_OK);
    sdc_status st = sdc_json_parse(ctx, text, len, manifest_path, &doc);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    if (!doc)
        goto done;

    const sdc_json *versions = sdc_json_get_type(doc->root, "versions", SDC_JSON_TYPE_OBJECT);
    CHECK(versions && sdc_json_get(versions, "torch") && sdc_json_get(versions, "diffusers") &&
          sdc_json_get(versions, "transformers"));
    CHECK(sdc_json_get_type(doc->root, "command", SDC_JSON_TYPE_STRING) != NULL);
    const sdc_json *gens = sdc_json_get_type(doc->root, "generators", SDC_JSON_TYPE_OBJECT);
    CHECK(gens != NULL);
    counts c = {0};
    for (size_t g = 0; gens && g < gens->u.object.count; g++) {
        const sdc_json *fixtures =
            sdc_json_get_type(gens->u.object.members[g].value, "fixtures", SDC_JSON_TYPE_ARRAY);
        CHECK_MSG(fixtures != NULL, "generator %s lists no fixtures", gens->u.object.members[g].key);
        for (size_t i = 0; fixtures && i < fixtures->u.array.count; i++) {
            const sdc_json *e = fixtures->u.array.items[i];
            const sdc_json *rel = sdc_json_get_type(e, "path", SDC_JSON_TYPE_STRING);
            const sdc_json *kind = sdc_json_get_type(e, "kind", SDC_JSON_TYPE_STRING);
            CHECK(rel && kind);
            if (!rel || !kind)
                continue;
            const char *k = kind->u.string.chars;
            if (strcmp(k, "dir") == 0)
                continue;
            const char *path = fixture_path(e, rel->u.string.chars);
            check_bytes(ctx, e, path);
            c.files++;
            if (strcmp(k, "safetensors") == 0 || strcmp(k, "ckpt") == 0)
                check_tensors(ctx, e, path, &c);
            else if (strcmp(k, "png") == 0)
                check_png(ctx, e, path, &c);
            else if (strcmp(k, "json") == 0)
                check_json(ctx, path, &c);
            else if (strcmp(k, "tar.xz") == 0)
                c.archives++;
        }
    }
    /* The harness as the reference-fixture issue describes it: tokenizer, RNG, schedulers,
     * models (folders, single files, .ckpt) and pipelines are all there. */
    CHECK_MSG(c.files >= 170, "%d files", c.files);
    CHECK_MSG(c.tensors > 5000, "%d tensors", c.tensors);
    CHECK(c.images >= 30);
    CHECK(c.json >= 40);
    CHECK_EQ_INT(c.archives, 1);
    sdc_json_free(doc);
done:
    sdc_free(ctx, text);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_sha256_known_answer);
    RUN(test_every_fixture);
    return test_finish();
}
