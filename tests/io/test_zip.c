/*
 * Tests src/io/zip.c: the archives torch.save writes (ZIP64 end records, data descriptors,
 * 64-byte aligned records), the same records with ZIP64 sizes and offsets in every entry and
 * as Python's zipfile writes them; one case per malformed structure built in memory; every
 * truncation and many corruptions of real archives failing cleanly; allocation failure.
 */
#include "io/ckpt.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static sdc_context *ctx;

static void check_no_leak(void)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    CHECK_EQ_INT(s.live_bytes, 0);
}

typedef struct blob {
    char *data;
    size_t size;
} blob;

static blob read_data(const char *rel)
{
    blob b = {NULL, 0};
    CHECK_MSG(sdc_file_read_all(ctx, test_path(SDC_TEST_DATA_DIR, rel), &b.data, &b.size) ==
                  SDC_STATUS_OK,
              "%s: %s", rel, sdc_context_errmsg(ctx));
    return b;
}

static const sdc_zip_entry *find(const sdc_zip *z, const char *name)
{
    return sdc_zip_find(z, name, strlen(name));
}

/* ---------------------------------------------------------------------------------------- */
/* Real archives                                                                              */

static void check_torch_layout(const char *rel, bool zip64, bool aligned)
{
    blob b = read_data(rel);
    sdc_zip z;
    sdc_status st = sdc_zip_parse(ctx, b.data, b.size, rel, &z);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", rel, sdc_context_errmsg(ctx));
    if (st == SDC_STATUS_OK) {
        CHECK_EQ_INT(z.zip64, zip64);
        CHECK(z.n_entries > 10);
        for (size_t i = 1; i < z.n_entries; i++) {
            size_t n = z.entries[i - 1].name_len < z.entries[i].name_len ? z.entries[i - 1].name_len
                                                                         : z.entries[i].name_len;
            int c = memcmp(z.entries[i - 1].name, z.entries[i].name, n);
            CHECK(c < 0 || (c == 0 && z.entries[i - 1].name_len < z.entries[i].name_len));
        }
        const sdc_zip_entry *pkl = find(&z, "archive/data.pkl");
        const sdc_zip_entry *order = find(&z, "archive/byteorder");
        CHECK(pkl && order && find(&z, "archive/data/0") && !find(&z, "archive/data/"));
        const unsigned char *bytes = NULL;
        if (pkl) {
            CHECK(sdc_zip_entry_bytes(&z, pkl, &bytes) == SDC_STATUS_OK);
            CHECK(bytes && bytes[0] == 0x80 && bytes[1] == 2 && bytes[pkl->size - 1] == '.');
            CHECK_EQ_INT(pkl->method, 0);
            CHECK_EQ_INT(pkl->size, pkl->uncompressed_size);
        }
        if (order) {
            CHECK(sdc_zip_entry_bytes(&z, order, &bytes) == SDC_STATUS_OK);
            CHECK(order->size == 6 && memcmp(bytes, "little", 6) == 0);
        }
        for (size_t i = 0; i < z.n_entries && aligned; i++)
            CHECK_EQ_INT(z.entries[i].data_offset % 64, 0);
        for (size_t i = 0; i < z.n_entries; i++)
            CHECK(z.entries[i].data_offset + z.entries[i].size <= z.cd_offset);
    }
    sdc_zip_free(&z);
    sdc_free(ctx, b.data);
    check_no_leak();
}

static void test_real_archives(void)
{
    check_torch_layout("ckpt/sample_zip.ckpt", true, true);   /* torch 2.4 */
    check_torch_layout("ckpt/sample_zip64.ckpt", true, true); /* ZIP64 extra fields */
    check_torch_layout("ckpt/sample_pyzip.ckpt", false, false);

    /* the three hold the same records */
    blob a = read_data("ckpt/sample_zip.ckpt"), b = read_data("ckpt/sample_zip64.ckpt");
    sdc_zip za, zb;
    if (sdc_zip_parse(ctx, a.data, a.size, "a", &za) == SDC_STATUS_OK) {
        if (sdc_zip_parse(ctx, b.data, b.size, "b", &zb) == SDC_STATUS_OK) {
            CHECK_EQ_INT(za.n_entries, zb.n_entries);
            for (size_t i = 0; i < za.n_entries && i < zb.n_entries; i++) {
                const sdc_zip_entry *x = &za.entries[i], *y = &zb.entries[i];
                CHECK(x->name_len == y->name_len && memcmp(x->name, y->name, x->name_len) == 0);
                CHECK(x->size == y->size &&
                      memcmp(a.data + x->data_offset, b.data + y->data_offset, x->size) == 0);
            }
            sdc_zip_free(&zb);
        }
        sdc_zip_free(&za);
    }
    sdc_free(ctx, a.data);
    sdc_free(ctx, b.data);
    check_no_leak();
}

static void test_refused_entries(void)
{
    static const struct {
        const char *file, *entry, *needle;
    } cases[] = {
        {"pickle/deflated_data.ckpt", "archive/data/0",
         "entry \"archive/data/0\" is compressed with method 8 (deflate); sdc reads only stored"},
        {"pickle/encrypted.ckpt", "archive/data.pkl", "entry \"archive/data.pkl\" is encrypted"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blob b = read_data(cases[i].file);
        sdc_zip z;
        CHECK(sdc_zip_parse(ctx, b.data, b.size, "x.zip", &z) == SDC_STATUS_OK);
        const sdc_zip_entry *e = find(&z, cases[i].entry);
        CHECK(e != NULL);
        const unsigned char *bytes = (const unsigned char *)1;
        if (e) {
            CHECK_EQ_INT(sdc_zip_entry_bytes(&z, e, &bytes), SDC_STATUS_UNSUPPORTED);
            CHECK(bytes == NULL);
            CHECK_CONTAINS(sdc_context_errmsg(ctx), cases[i].needle);
            CHECK_CONTAINS(sdc_context_errmsg(ctx), "x.zip: ");
        }
        sdc_zip_free(&z);
        sdc_free(ctx, b.data);
    }
    check_no_leak();
}

/* ---------------------------------------------------------------------------------------- */
/* Malformed archives built in memory                                                         */

typedef struct zbuf {
    unsigned char b[1024];
    size_t n;
} zbuf;

static void put(zbuf *z, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        z->b[z->n++] = (unsigned char)(v >> (8 * i));
}

static void put_bytes(zbuf *z, const char *s, size_t n)
{
    memcpy(z->b + z->n, s, n);
    z->n += n;
}

static void patch(zbuf *z, size_t at, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        z->b[at + (size_t)i] = (unsigned char)(v >> (8 * i));
}

/* Layout of the one-entry archive: local header at 0, CD entry at CD, EOCD at END. */
#define NAME          "a/data.pkl"
#define NAME_LEN      10
#define DATA          "xyz"
#define CD            (30 + NAME_LEN + 3)
#define CD_LEN(extra) (46 + NAME_LEN + (extra))

/* With zip64, the CD entry's sizes and offset are saturated and held in a ZIP64 extra field,
 * and ZIP64 end records precede the classic one. */
static void build_one(zbuf *z, bool zip64)
{
    z->n = 0;
    put(z, 0x04034b50, 4), put(z, 20, 2), put(z, 0, 2), put(z, 0, 2), put(z, 0, 4);
    put(z, 0, 4), put(z, 3, 4), put(z, 3, 4), put(z, NAME_LEN, 2), put(z, 0, 2);
    put_bytes(z, NAME, NAME_LEN);
    put_bytes(z, DATA, 3);
    uint64_t sat = zip64 ? 0xFFFFFFFF : 3;
    put(z, 0x02014b50, 4), put(z, 45, 2), put(z, 45, 2), put(z, 0, 2), put(z, 0, 2), put(z, 0, 4);
    put(z, 0, 4), put(z, sat, 4), put(z, sat, 4), put(z, NAME_LEN, 2), put(z, zip64 ? 28 : 0, 2);
    put(z, 0, 2), put(z, 0, 2), put(z, 0, 2), put(z, 0, 4), put(z, zip64 ? 0xFFFFFFFF : 0, 4);
    put_bytes(z, NAME, NAME_LEN);
    if (zip64)
        put(z, 1, 2), put(z, 24, 2), put(z, 3, 8), put(z, 3, 8), put(z, 0, 8);
    size_t cd_len = z->n - CD;
    if (zip64) {
        size_t e64 = z->n;
        put(z, 0x06064b50, 4), put(z, 44, 8), put(z, 45, 2), put(z, 45, 2), put(z, 0, 4);
        put(z, 0, 4), put(z, 1, 8), put(z, 1, 8), put(z, cd_len, 8), put(z, CD, 8);
        put(z, 0x07064b50, 4), put(z, 0, 4), put(z, e64, 8), put(z, 1, 4);
    }
    put(z, 0x06054b50, 4), put(z, 0, 2), put(z, 0, 2), put(z, 1, 2), put(z, 1, 2);
    put(z, cd_len, 4), put(z, CD, 4), put(z, 0, 2);
}

static void expect(const zbuf *z, sdc_status status, const char *needle)
{
    sdc_zip zip;
    sdc_status st = sdc_zip_parse(ctx, z->b, z->n, "m.zip", &zip);
    CHECK_MSG(st == status, "status %d, expected %d: %s", (int)st, (int)status,
              sdc_context_errmsg(ctx));
    if (st == SDC_STATUS_OK && zip.n_entries == 0) {
        CHECK(zip.entries == NULL);
    } else if (st == SDC_STATUS_OK) {
        const sdc_zip_entry *e = find(&zip, NAME);
        const unsigned char *bytes = NULL;
        CHECK(e && sdc_zip_entry_bytes(&zip, e, &bytes) == SDC_STATUS_OK);
        CHECK(bytes && memcmp(bytes, DATA, 3) == 0);
        sdc_zip_free(&zip);
    } else {
        CHECK(zip.entries == NULL && zip.n_entries == 0);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "m.zip: ");
        CHECK_CONTAINS(sdc_context_errmsg(ctx), needle);
    }
    check_no_leak();
}

static void test_built(void)
{
    zbuf z;
    for (int zip64 = 0; zip64 <= 1; zip64++) {
        build_one(&z, zip64);
        expect(&z, SDC_STATUS_OK, NULL);
    }
    size_t end = z.n - 22, loc = end - 20, e64 = loc - 56;

    /* a comment after the end record is fine; one whose length is wrong hides the record */
    build_one(&z, false);
    patch(&z, z.n - 2, 3, 2);
    put_bytes(&z, "abc", 3);
    expect(&z, SDC_STATUS_OK, NULL);
    patch(&z, z.n - 5, 4, 2);
    expect(&z, SDC_STATUS_FORMAT, "no ZIP end-of-central-directory record in the last");
    z.n = 10;
    expect(&z, SDC_STATUS_FORMAT, "10 bytes, too short for a ZIP archive");

    /* an empty archive is only an end record */
    z.n = 0;
    put(&z, 0x06054b50, 4), put(&z, 0, 8), put(&z, 0, 8), put(&z, 0, 2);
    expect(&z, SDC_STATUS_OK, NULL);

    build_one(&z, false);
    patch(&z, z.n - 22 + 4, 1, 2);
    expect(&z, SDC_STATUS_UNSUPPORTED, "split ZIP archive (disk 1");
    build_one(&z, false);
    patch(&z, z.n - 22 + 8, 2, 2), patch(&z, z.n - 22 + 10, 2, 2);
    expect(&z, SDC_STATUS_FORMAT, "2 entries cannot fit in a central directory of 56 bytes");
    build_one(&z, false);
    patch(&z, z.n - 22 + 16, 50, 4);
    expect(&z, SDC_STATUS_FORMAT, "central directory of 56 bytes at byte 50 runs past");
    build_one(&z, false);
    patch(&z, CD, 0x12345678, 4);
    expect(&z, SDC_STATUS_FORMAT, "byte 43: expected central directory entry 0");
    build_one(&z, false);
    patch(&z, CD + 28, 200, 2);
    expect(&z, SDC_STATUS_FORMAT, "name, extra and comment (200 + 0 + 0 bytes) run past");
    build_one(&z, false);
    patch(&z, 0, 0x12345678, 4);
    expect(&z, SDC_STATUS_FORMAT, "entry 0 (\"a/data.pkl\"): byte 0: expected a local header");
    build_one(&z, false);
    patch(&z, CD + 42, 20, 4);
    expect(&z, SDC_STATUS_FORMAT, "local header offset 20 is outside the data area [0, 43)");
    build_one(&z, false);
    patch(&z, CD + 20, 4, 4), patch(&z, CD + 24, 4, 4);
    expect(&z, SDC_STATUS_FORMAT, "4 bytes of data at byte 40 run past the data area");
    build_one(&z, false);
    patch(&z, CD + 24, 5, 4);
    expect(&z, SDC_STATUS_FORMAT, "is stored (not compressed) but its sizes differ (3 and 5");
    build_one(&z, false);
    patch(&z, 18, 2, 4);
    expect(&z, SDC_STATUS_FORMAT, "local header sizes (2, 3) contradict the central directory");
    build_one(&z, false);
    patch(&z, 6, 0x8, 2), patch(&z, 18, 0, 4), patch(&z, 22, 0, 4); /* data descriptor: ok */
    expect(&z, SDC_STATUS_OK, NULL);
    build_one(&z, false);
    patch(&z, 8, 8, 2);
    expect(&z, SDC_STATUS_FORMAT, "local header says method 8, central directory 0");
    build_one(&z, false);
    patch(&z, 26, 40, 2);
    expect(&z, SDC_STATUS_FORMAT, "local header name and extra fields (40 + 0 bytes) run past");
    build_one(&z, false);
    z.b[30] = 'b';
    expect(&z, SDC_STATUS_FORMAT, "the local header names \"b/data.pkl\" but the central");
    build_one(&z, false);
    patch(&z, CD + 34, 2, 2);
    expect(&z, SDC_STATUS_UNSUPPORTED, "starts on disk 2: split archives are not supported");

    /* ZIP64 */
    build_one(&z, true);
    patch(&z, CD + 30, 0, 2); /* no extra field, yet saturated fields */
    expect(&z, SDC_STATUS_FORMAT, "0xFFFFFFFF but there is no ZIP64 extra field");
    build_one(&z, true);
    patch(&z, CD + 46 + NAME_LEN + 2, 16, 2);
    expect(&z, SDC_STATUS_FORMAT, "ZIP64 extra field has 16 bytes, expected 24");
    build_one(&z, true);
    patch(&z, loc + 8, 3, 8);
    expect(&z, SDC_STATUS_FORMAT, "byte 3: expected the ZIP64 end record signature");
    build_one(&z, true);
    patch(&z, loc + 8, loc - 10, 8);
    expect(&z, SDC_STATUS_FORMAT, "leaves no room for its 56 bytes before the locator");
    build_one(&z, true);
    patch(&z, loc + 16, 2, 4);
    expect(&z, SDC_STATUS_UNSUPPORTED, "ZIP64 locator names disk 0 of 2");
    build_one(&z, true);
    patch(&z, e64 + 4, 1000, 8);
    expect(&z, SDC_STATUS_FORMAT, "declares 1000 bytes, expected 44 to 44");
    build_one(&z, true);
    patch(&z, e64 + 24, 2, 8);
    expect(&z, SDC_STATUS_UNSUPPORTED, "describes a split archive");
    build_one(&z, true);
    patch(&z, end + 10, 7, 2);
    expect(&z, SDC_STATUS_FORMAT, "(7 entries, 84 bytes at 43) contradicts the ZIP64 one");
    /* saturated classic fields defer to the ZIP64 record */
    build_one(&z, true);
    patch(&z, end + 8, 0xFFFF, 2), patch(&z, end + 10, 0xFFFF, 2);
    patch(&z, end + 12, 0xFFFFFFFF, 4), patch(&z, end + 16, 0xFFFFFFFF, 4);
    expect(&z, SDC_STATUS_OK, NULL);

    /* two entries with one name */
    build_one(&z, false);
    zbuf two = {.n = 0};
    put_bytes(&two, (const char *)z.b, CD);
    put_bytes(&two, (const char *)z.b + CD, CD_LEN(0));
    put_bytes(&two, (const char *)z.b + CD, CD_LEN(0));
    put(&two, 0x06054b50, 4), put(&two, 0, 4), put(&two, 2, 2), put(&two, 2, 2);
    put(&two, 2 * CD_LEN(0), 4), put(&two, CD, 4), put(&two, 0, 2);
    expect(&two, SDC_STATUS_FORMAT, "two entries are named \"a/data.pkl\"");
}

/* Every prefix of a real archive, and every byte of its directory corrupted, must fail
 * cleanly (or, for some corruptions, still parse) without reading outside the input. */
static void test_truncation_and_corruption(void)
{
    static const char *const files[] = {"ckpt/sample_pyzip.ckpt", "ckpt/sample_zip.ckpt"};
    for (size_t f = 0; f < 2; f++) {
        blob b = read_data(files[f]);
        for (size_t len = 0; len < b.size; len++) {
            /* a copy of exactly len bytes, so that ASan sees any read past the end */
            char *copy = malloc(len ? len : 1);
            memcpy(copy, b.data, len);
            sdc_zip z;
            sdc_status st = sdc_zip_parse(ctx, copy, len, "t.zip", &z);
            CHECK_MSG(st == SDC_STATUS_FORMAT, "%s cut to %zu bytes: status %d", files[f], len,
                      (int)st);
            sdc_zip_free(&z);
            free(copy);
        }
        size_t from = b.size > 1500 ? b.size - 1500 : 0;
        int ok = 0, failed = 0;
        for (size_t i = from; i < b.size; i++) {
            for (int v = 0; v < 3; v++) {
                char saved = b.data[i];
                b.data[i] = (char)(v == 0 ? 0xFF : v == 1 ? 0x00 : saved ^ 0x40);
                sdc_zip z;
                sdc_status st = sdc_zip_parse(ctx, b.data, b.size, "t.zip", &z);
                if (st == SDC_STATUS_OK) {
                    for (size_t e = 0; e < z.n_entries; e++)
                        CHECK(z.entries[e].data_offset + z.entries[e].size <= b.size);
                    ok++;
                } else {
                    CHECK(st == SDC_STATUS_FORMAT || st == SDC_STATUS_UNSUPPORTED);
                    failed++;
                }
                sdc_zip_free(&z);
                b.data[i] = saved;
            }
        }
        CHECK(ok > 0 && failed > 0);
        sdc_free(ctx, b.data);
    }
    check_no_leak();
}

static void test_fault_injection(void)
{
    blob b = read_data("ckpt/sample_zip.ckpt");
    sdc_alloc_fail_nth(ctx, 1);
    sdc_zip z;
    CHECK_EQ_INT(sdc_zip_parse(ctx, b.data, b.size, "t.zip", &z), SDC_STATUS_OUT_OF_MEMORY);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "out of memory");
    sdc_alloc_fail_nth(ctx, 0);
    CHECK(sdc_zip_parse(ctx, b.data, b.size, "t.zip", &z) == SDC_STATUS_OK);
    sdc_zip_free(&z);
    sdc_zip_free(NULL);
    sdc_free(ctx, b.data);
    check_no_leak();
}

int main(void)
{
    sdc_context_params params = sdc_context_default_params();
    params.n_threads = 1;
    if (sdc_context_create(&params, &ctx) != SDC_STATUS_OK)
        return 1;
    RUN(test_real_archives);
    RUN(test_refused_entries);
    RUN(test_built);
    RUN(test_truncation_and_corruption);
    RUN(test_fault_injection);
    sdc_context_destroy(ctx);
    return test_finish();
}
