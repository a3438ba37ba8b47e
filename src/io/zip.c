/*
 * zip.c — a read-only ZIP reader over memory (PKWARE APPNOTE 6.3.10): end of central directory,
 * ZIP64 locator and record, central directory entries with their ZIP64 extra fields, and every
 * local header. It exists for torch.save checkpoints (PyTorchStreamWriter, miniz, torch 1.6 to
 * 2.4: stored records, ZIP64 end records always), so it never inflates: compressed or encrypted
 * entries are listed but refused when read. CRCs are not checked, as torch.load does not.
 */
#include "io/ckpt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SIG_LOCAL    0x04034b50u
#define SIG_CENTRAL  0x02014b50u
#define SIG_EOCD     0x06054b50u
#define SIG_EOCD64   0x06064b50u
#define SIG_LOCATOR  0x07064b50u
#define LOCAL_SIZE   30
#define CENTRAL_SIZE 46
#define EOCD_SIZE    22
#define LOCATOR_SIZE 20
#define EOCD64_SIZE  56
#define MAX_COMMENT  65535
#define EXTRA_ZIP64  0x0001

static uint16_t rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* An entry name for messages: quoted, escaped, shortened. */
static const char *entry_name(const char *name, size_t len, char *buf, size_t size)
{
    return sdc_json_quote(name, len, buf, size);
}

/* The values of the end-of-central-directory record(s) that matter. */
typedef struct end_record {
    uint64_t n_entries;
    uint64_t cd_size;
    uint64_t cd_offset;
    uint64_t end; /* where the central directory must end: the first end record */
} end_record;

/* The last EOCD signature whose comment runs exactly to the end of the input. */
static sdc_status find_eocd(sdc_zip *z, size_t *pos)
{
    if (z->size < EOCD_SIZE)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: %zu bytes, too short for a ZIP archive (its end record alone is %d "
                        "bytes)",
                        z->name, z->size, EOCD_SIZE);
    size_t last = z->size - EOCD_SIZE;
    size_t first = last > MAX_COMMENT ? last - MAX_COMMENT : 0;
    for (size_t p = last + 1; p-- > first;) {
        const unsigned char *r = z->data + p;
        if (rd32(r) == SIG_EOCD && p + EOCD_SIZE + rd16(r + 20) == z->size) {
            *pos = p;
            return SDC_STATUS_OK;
        }
    }
    return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                    "%s: no ZIP end-of-central-directory record in the last %zu bytes: the file "
                    "is truncated or not a ZIP archive",
                    z->name, z->size - first);
}

/* A 32-bit field of the classic record must equal the ZIP64 one or be saturated. */
static bool agrees(uint64_t classic, uint64_t saturated, uint64_t value64)
{
    return classic == saturated || classic == value64;
}

static sdc_status read_zip64_end(sdc_zip *z, size_t eocd, end_record *end)
{
    const unsigned char *loc = z->data + eocd - LOCATOR_SIZE;
    uint32_t disk = rd32(loc + 4), n_disks = rd32(loc + 16);
    uint64_t off = rd64(loc + 8);
    if (disk != 0 || n_disks > 1)
        return sdc_fail(z->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: ZIP64 locator names disk %" PRIu32 " of %" PRIu32
                        ": split archives are not supported",
                        z->name, disk, n_disks);
    uint64_t limit = eocd - LOCATOR_SIZE;
    if (off > limit || limit - off < EOCD64_SIZE)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: ZIP64 end record offset %" PRIu64
                        " leaves no room for its %d bytes before the locator at byte %" PRIu64,
                        z->name, off, EOCD64_SIZE, limit);
    const unsigned char *r = z->data + off;
    if (rd32(r) != SIG_EOCD64)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: byte %" PRIu64 ": expected the ZIP64 end record signature "
                        "PK\\x06\\x06 (the ZIP64 locator points there)",
                        z->name, off);
    uint64_t rec = rd64(r + 4);
    if (rec < EOCD64_SIZE - 12 || rec > limit - off - 12)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: ZIP64 end record at byte %" PRIu64 " declares %" PRIu64
                        " bytes, expected %d to %" PRIu64,
                        z->name, off, rec, EOCD64_SIZE - 12, limit - off - 12);
    uint32_t disk64 = rd32(r + 16), cd_disk64 = rd32(r + 20);
    uint64_t n_here = rd64(r + 24), n = rd64(r + 32);
    if (disk64 != 0 || cd_disk64 != 0 || n_here != n)
        return sdc_fail(z->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: the ZIP64 end record describes a split archive (disk %" PRIu32
                        ", central directory on disk %" PRIu32 ", %" PRIu64 " of %" PRIu64
                        " entries here)",
                        z->name, disk64, cd_disk64, n_here, n);
    const unsigned char *e = z->data + eocd;
    if (!agrees(rd16(e + 10), 0xFFFF, n) || !agrees(rd32(e + 12), 0xFFFFFFFFu, rd64(r + 40)) ||
        !agrees(rd32(e + 16), 0xFFFFFFFFu, rd64(r + 48)))
        return sdc_fail(
            z->ctx, SDC_STATUS_FORMAT,
            "%s: the end-of-central-directory record (%u entries, %" PRIu32 " bytes at %" PRIu32
            ") contradicts the ZIP64 one (%" PRIu64 " entries, %" PRIu64 " bytes at %" PRIu64 ")",
            z->name, rd16(e + 10), rd32(e + 12), rd32(e + 16), n, rd64(r + 40), rd64(r + 48));
    end->n_entries = n;
    end->cd_size = rd64(r + 40);
    end->cd_offset = rd64(r + 48);
    end->end = off;
    z->zip64 = true;
    return SDC_STATUS_OK;
}

static sdc_status read_end(sdc_zip *z, end_record *end)
{
    size_t eocd = 0;
    sdc_status st = find_eocd(z, &eocd);
    if (st != SDC_STATUS_OK)
        return st;
    const unsigned char *e = z->data + eocd;
    uint16_t disk = rd16(e + 4), cd_disk = rd16(e + 6), n_here = rd16(e + 8), n = rd16(e + 10);
    if (eocd >= LOCATOR_SIZE && rd32(e - LOCATOR_SIZE) == SIG_LOCATOR) {
        if ((st = read_zip64_end(z, eocd, end)) != SDC_STATUS_OK)
            return st;
    } else {
        if (disk != 0 || cd_disk != 0 || n_here != n)
            return sdc_fail(z->ctx, SDC_STATUS_UNSUPPORTED,
                            "%s: split ZIP archive (disk %u, central directory on disk %u, %u of "
                            "%u entries here) is not supported",
                            z->name, disk, cd_disk, n_here, n);
        end->n_entries = n;
        end->cd_size = rd32(e + 12);
        end->cd_offset = rd32(e + 16);
        end->end = eocd;
    }
    if (end->cd_offset > end->end || end->cd_size > end->end - end->cd_offset)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: central directory of %" PRIu64 " bytes at byte %" PRIu64
                        " runs past the end records at byte %" PRIu64
                        " (file is %zu bytes): truncated or not a ZIP archive",
                        z->name, end->cd_size, end->cd_offset, end->end, z->size);
    if (end->n_entries > end->cd_size / CENTRAL_SIZE)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: %" PRIu64 " entries cannot fit in a central directory of %" PRIu64
                        " bytes (each needs at least %d)",
                        z->name, end->n_entries, end->cd_size, CENTRAL_SIZE);
    return SDC_STATUS_OK;
}

/* The ZIP64 extra field holds, in this order, each of the four values whose classic field is
 * saturated. */
static sdc_status read_zip64_extra(sdc_zip *z, size_t index, const unsigned char *extra,
                                   size_t extra_len, uint64_t *usize, uint64_t *csize,
                                   uint64_t *offset, uint32_t *disk, const char *ename)
{
    bool need_u = *usize == 0xFFFFFFFFu, need_c = *csize == 0xFFFFFFFFu;
    bool need_o = *offset == 0xFFFFFFFFu, need_d = *disk == 0xFFFF;
    if (!need_u && !need_c && !need_o && !need_d)
        return SDC_STATUS_OK;
    size_t p = 0;
    while (p + 4 <= extra_len) {
        uint16_t id = rd16(extra + p), len = rd16(extra + p + 2);
        if (len > extra_len - p - 4)
            break;
        if (id == EXTRA_ZIP64) {
            const unsigned char *f = extra + p + 4;
            size_t need = 8 * (size_t)(need_u + need_c + need_o) + 4 * (size_t)need_d;
            if (len < need)
                return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                                "%s: central directory entry %zu (%s): ZIP64 extra field has %u "
                                "bytes, expected %zu for its saturated fields",
                                z->name, index, ename, len, need);
            if (need_u) {
                *usize = rd64(f);
                f += 8;
            }
            if (need_c) {
                *csize = rd64(f);
                f += 8;
            }
            if (need_o) {
                *offset = rd64(f);
                f += 8;
            }
            if (need_d)
                *disk = rd32(f);
            return SDC_STATUS_OK;
        }
        p += 4 + (size_t)len;
    }
    return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                    "%s: central directory entry %zu (%s): sizes or offset are 0xFFFFFFFF but "
                    "there is no ZIP64 extra field holding them",
                    z->name, index, ename);
}

/* The local header must sit in the data area, name the same entry and leave room for the
 * data before the central directory. */
static sdc_status read_local(sdc_zip *z, size_t index, sdc_zip_entry *e, const char *ename)
{
    uint64_t limit = z->cd_offset;
    if (e->local_offset > limit || limit - e->local_offset < LOCAL_SIZE)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: entry %zu (%s): local header offset %" PRIu64
                        " is outside the data area [0, %" PRIu64 ") of the file (%zu bytes)",
                        z->name, index, ename, e->local_offset, limit, z->size);
    const unsigned char *h = z->data + e->local_offset;
    if (rd32(h) != SIG_LOCAL)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: entry %zu (%s): byte %" PRIu64
                        ": expected a local header signature PK\\x03\\x04",
                        z->name, index, ename, e->local_offset);
    uint16_t method = rd16(h + 8), n = rd16(h + 26), m = rd16(h + 28);
    uint64_t start = e->local_offset + LOCAL_SIZE;
    if ((uint64_t)n + m > limit - start)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: entry %zu (%s): local header name and extra fields (%u + %u bytes) "
                        "run past the data area",
                        z->name, index, ename, n, m);
    if (n != e->name_len || memcmp(h + LOCAL_SIZE, e->name, n) != 0) {
        char local[96];
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: entry %zu: the local header names %s but the central directory %s",
                        z->name, index,
                        entry_name((const char *)h + LOCAL_SIZE, n, local, sizeof local), ename);
    }
    if (method != e->method)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: entry %s: local header says method %u, central directory %u", z->name,
                        ename, method, e->method);
    e->data_offset = start + n + m;
    if (e->size > limit - e->data_offset)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: entry %s: %" PRIu64 " bytes of data at byte %" PRIu64
                        " run past the data area, which ends at the central directory (byte "
                        "%" PRIu64 ")",
                        z->name, ename, e->size, e->data_offset, limit);
    /* Without a data descriptor (bit 3) the local sizes must agree with the central ones. */
    uint32_t lc = rd32(h + 18), lu = rd32(h + 22);
    if (!(rd16(h + 6) & 0x8) && lc != 0xFFFFFFFFu && lu != 0xFFFFFFFFu &&
        (lc != e->size || lu != e->uncompressed_size))
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: entry %s: local header sizes (%" PRIu32 ", %" PRIu32
                        ") contradict the central directory (%" PRIu64 ", %" PRIu64 ")",
                        z->name, ename, lc, lu, e->size, e->uncompressed_size);
    return SDC_STATUS_OK;
}

static sdc_status read_central(sdc_zip *z, size_t index, uint64_t *pos, uint64_t cd_end,
                               sdc_zip_entry *e)
{
    char ename[96];
    if (cd_end - *pos < CENTRAL_SIZE)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: central directory entry %zu at byte %" PRIu64
                        " runs past the end of the central directory (byte %" PRIu64 ")",
                        z->name, index, *pos, cd_end);
    const unsigned char *c = z->data + *pos;
    if (rd32(c) != SIG_CENTRAL)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: byte %" PRIu64 ": expected central directory entry %zu (signature "
                        "PK\\x01\\x02)",
                        z->name, *pos, index);
    uint16_t n = rd16(c + 28), m = rd16(c + 30), k = rd16(c + 32);
    if ((uint64_t)n + m + k > cd_end - *pos - CENTRAL_SIZE)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: central directory entry %zu: name, extra and comment (%u + %u + %u "
                        "bytes) run past the end of the central directory",
                        z->name, index, n, m, k);
    e->name = (const char *)c + CENTRAL_SIZE;
    e->name_len = n;
    e->flags = rd16(c + 8);
    e->method = rd16(c + 10);
    e->size = rd32(c + 20);
    e->uncompressed_size = rd32(c + 24);
    e->local_offset = rd32(c + 42);
    uint32_t disk = rd16(c + 34);
    entry_name(e->name, n, ename, sizeof ename);
    sdc_status st = read_zip64_extra(z, index, c + CENTRAL_SIZE + n, m, &e->uncompressed_size,
                                     &e->size, &e->local_offset, &disk, ename);
    if (st != SDC_STATUS_OK)
        return st;
    if (disk != 0)
        return sdc_fail(z->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: entry %s starts on disk %" PRIu32 ": split archives are not supported",
                        z->name, ename, disk);
    if (e->method == 0 && e->size != e->uncompressed_size)
        return sdc_fail(z->ctx, SDC_STATUS_FORMAT,
                        "%s: entry %s is stored (not compressed) but its sizes differ (%" PRIu64
                        " and %" PRIu64 " bytes)",
                        z->name, ename, e->size, e->uncompressed_size);
    *pos += CENTRAL_SIZE + (uint64_t)n + m + k;
    return read_local(z, index, e, ename);
}

static int compare_names(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn;
}

static int compare_entries(const void *pa, const void *pb)
{
    const sdc_zip_entry *a = pa, *b = pb;
    return compare_names(a->name, a->name_len, b->name, b->name_len);
}

sdc_status sdc_zip_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                         sdc_zip *out)
{
    memset(out, 0, sizeof *out);
    sdc_zip z = {.ctx = ctx, .name = name, .data = data, .size = data ? size : 0};
    end_record end = {0};
    sdc_status st = read_end(&z, &end);
    if (st != SDC_STATUS_OK)
        return st;
    z.cd_offset = end.cd_offset;
    if (end.n_entries > 0) {
        z.entries = sdc_calloc(ctx, (size_t)end.n_entries, sizeof *z.entries);
        if (!z.entries)
            return sdc_fail_oom(ctx, name, (size_t)end.n_entries * sizeof *z.entries);
    }
    uint64_t pos = end.cd_offset, cd_end = end.cd_offset + end.cd_size;
    for (size_t i = 0; i < end.n_entries; i++) {
        if ((st = read_central(&z, i, &pos, cd_end, &z.entries[i])) != SDC_STATUS_OK)
            goto fail;
        z.n_entries++;
    }
    if (z.n_entries > 1)
        qsort(z.entries, z.n_entries, sizeof *z.entries, compare_entries);
    for (size_t i = 1; i < z.n_entries; i++) {
        if (compare_entries(&z.entries[i - 1], &z.entries[i]) == 0) {
            char ename[96];
            st =
                sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: two entries are named %s", name,
                         entry_name(z.entries[i].name, z.entries[i].name_len, ename, sizeof ename));
            goto fail;
        }
    }
    *out = z;
    return SDC_STATUS_OK;

fail:
    sdc_zip_free(&z);
    return st;
}

void sdc_zip_free(sdc_zip *zip)
{
    if (!zip)
        return;
    sdc_free(zip->ctx, zip->entries);
    memset(zip, 0, sizeof *zip);
}

const sdc_zip_entry *sdc_zip_find(const sdc_zip *zip, const char *name, size_t len)
{
    size_t lo = 0, hi = zip->n_entries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const sdc_zip_entry *e = &zip->entries[mid];
        int c = compare_names(name, len, e->name, e->name_len);
        if (c == 0)
            return e;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const char *method_name(uint16_t method)
{
    switch (method) {
    case 8:
        return "deflate";
    case 9:
        return "deflate64";
    case 12:
        return "bzip2";
    case 14:
        return "LZMA";
    case 93:
        return "zstd";
    case 95:
        return "xz";
    default:
        return "unknown";
    }
}

sdc_status sdc_zip_entry_bytes(const sdc_zip *zip, const sdc_zip_entry *e,
                               const unsigned char **out)
{
    char ename[96];
    *out = NULL;
    if (e->flags & 0x1)
        return sdc_fail(zip->ctx, SDC_STATUS_UNSUPPORTED, "%s: entry %s is encrypted", zip->name,
                        entry_name(e->name, e->name_len, ename, sizeof ename));
    if (e->method != 0)
        return sdc_fail(zip->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: entry %s is compressed with method %u (%s); sdc reads only stored "
                        "(uncompressed) entries, which is how torch.save writes them",
                        zip->name, entry_name(e->name, e->name_len, ename, sizeof ename), e->method,
                        method_name(e->method));
    *out = zip->data + e->data_offset;
    return SDC_STATUS_OK;
}
