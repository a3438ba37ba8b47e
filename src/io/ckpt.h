/*
 * ckpt.h — the parts of the PyTorch checkpoint reader (src/io/zip.c, pickle.c, ckpt.c) that its
 * tests and fuzz targets reach into: a read-only ZIP container and a pickle machine that knows
 * only what torch.save writes and builds plain values from it. Nothing here ever calls, imports
 * or executes anything named in a file: globals are looked up in a fixed allow-list and turned
 * into inert values. The rest of sdc sees a checkpoint as an sdc_st_file (io.h).
 */
#ifndef SDC_IO_CKPT_H
#define SDC_IO_CKPT_H

#include "io/io.h"

/* ---------------------------------------------------------------------------------------- */
/* ZIP (read-only, stored entries only)                                                       */

typedef struct sdc_zip_entry {
    const char *name; /* points into the archive; not NUL-terminated */
    size_t name_len;
    uint16_t method;       /* 0 stored, 8 deflate, ... */
    uint16_t flags;        /* general purpose bits; bit 0 = encrypted */
    uint64_t local_offset; /* of the local header */
    uint64_t data_offset;  /* of the entry's bytes, right after the local header */
    uint64_t size;         /* bytes in the archive (compressed size) */
    uint64_t uncompressed_size;
} sdc_zip_entry;

typedef struct sdc_zip {
    sdc_context *ctx;
    const char *name; /* for messages; not owned */
    const unsigned char *data;
    size_t size;
    sdc_zip_entry *entries; /* sorted by name; names are unique */
    size_t n_entries;
    uint64_t cd_offset; /* where the central directory starts (all data lies before) */
    bool zip64;         /* a ZIP64 end-of-central-directory record was used */
} sdc_zip;

/* Reads the central directory and every local header of the archive in `data` (kept alive by
 * the caller), checking every offset and size against the input. On failure *out is empty. */
sdc_status sdc_zip_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                         sdc_zip *out);
void sdc_zip_free(sdc_zip *zip);
/* NULL when absent. */
const sdc_zip_entry *sdc_zip_find(const sdc_zip *zip, const char *name, size_t len);
/* The bytes of an entry stored without compression or encryption; any other entry is
 * SDC_STATUS_UNSUPPORTED naming it and its method. */
sdc_status sdc_zip_entry_bytes(const sdc_zip *zip, const sdc_zip_entry *e,
                               const unsigned char **out);

/* ---------------------------------------------------------------------------------------- */
/* Restricted pickle machine                                                                  */

/* Bounds no real checkpoint comes near (an SDXL state dict needs ~2 MB of values and ~30k
 * memo slots); inputs beyond them are refused with SDC_STATUS_UNSUPPORTED. */
#define SDC_PICKLE_MAX_MEMORY ((size_t)256 << 20) /* bytes of values built */
#define SDC_PICKLE_MAX_STACK  ((size_t)1 << 20)   /* values on the stack */
#define SDC_PICKLE_MAX_MARKS  1024                /* open MARKs */
#define SDC_PICKLE_MAX_MEMO   ((size_t)1 << 22)   /* memo index */
#define SDC_PICKLE_MAX_NAME   256                 /* bytes in a GLOBAL module or name */

typedef enum sdc_pickle_type {
    SDC_PICKLE_TYPE_NONE,
    SDC_PICKLE_TYPE_BOOL,
    SDC_PICKLE_TYPE_INT,    /* fits in int64 */
    SDC_PICKLE_TYPE_BIGINT, /* does not: the little-endian two's complement bytes */
    SDC_PICKLE_TYPE_FLOAT,
    SDC_PICKLE_TYPE_STRING, /* valid UTF-8, may contain NUL (see len) */
    SDC_PICKLE_TYPE_BYTES,
    SDC_PICKLE_TYPE_TUPLE,
    SDC_PICKLE_TYPE_LIST,
    SDC_PICKLE_TYPE_DICT,    /* dict or collections.OrderedDict, in insertion order */
    SDC_PICKLE_TYPE_GLOBAL,  /* an allowed global, as a value (never called by sdc) */
    SDC_PICKLE_TYPE_STORAGE, /* a persistent id ('storage', type, key, location, numel) */
    SDC_PICKLE_TYPE_TENSOR,  /* what a torch._utils._rebuild_* call describes */
    SDC_PICKLE_TYPE_OBJECT,  /* the inert result of another allowed call (numpy scalar, set) */
    SDC_PICKLE_TYPE_COUNT
} sdc_pickle_type;

/* The allow-list: what each allowed global is. */
typedef enum sdc_pickle_global {
    SDC_PICKLE_GLOBAL_ORDERED_DICT,      /* collections.OrderedDict */
    SDC_PICKLE_GLOBAL_REBUILD_TENSOR,    /* torch._utils._rebuild_tensor (torch < 1.0) */
    SDC_PICKLE_GLOBAL_REBUILD_TENSOR_V2, /* torch._utils._rebuild_tensor_v2 */
    SDC_PICKLE_GLOBAL_REBUILD_TENSOR_V3, /* torch._utils._rebuild_tensor_v3 (float8, uint16..) */
    SDC_PICKLE_GLOBAL_REBUILD_PARAMETER, /* torch._utils._rebuild_parameter */
    SDC_PICKLE_GLOBAL_STORAGE_TYPE,      /* torch.FloatStorage ..., torch.storage.UntypedStorage */
    SDC_PICKLE_GLOBAL_DTYPE,             /* torch.float32 ... */
    SDC_PICKLE_GLOBAL_TORCH_SIZE,        /* torch.Size */
    SDC_PICKLE_GLOBAL_CODECS_ENCODE,     /* _codecs.encode: how protocol 2 spells bytes */
    SDC_PICKLE_GLOBAL_NUMPY_SCALAR,      /* numpy.core.multiarray.scalar (a numpy global_step) */
    SDC_PICKLE_GLOBAL_NUMPY_DTYPE,       /* numpy.dtype */
    SDC_PICKLE_GLOBAL_NUMPY_RECONSTRUCT, /* numpy.core.multiarray._reconstruct */
    SDC_PICKLE_GLOBAL_NUMPY_NDARRAY,     /* numpy.ndarray */
    SDC_PICKLE_GLOBAL_SET,               /* builtins.set */
    SDC_PICKLE_GLOBAL_LIGHTNING_CLASS,   /* pytorch_lightning ModelCheckpoint: a dict key only */
    SDC_PICKLE_GLOBAL_COUNT
} sdc_pickle_global;

typedef struct sdc_pickle_value sdc_pickle_value;

typedef struct sdc_pickle_item {
    sdc_pickle_value *key;
    sdc_pickle_value *value;
} sdc_pickle_item;

struct sdc_pickle_value {
    sdc_pickle_type type;
    size_t offset; /* byte offset of the opcode that made the value, for messages */
    union {
        bool boolean;
        int64_t integer;
        double real;
        struct {
            const char *chars; /* points into the pickle or its arena; not NUL-terminated */
            size_t len;
        } bytes; /* STRING, BYTES, BIGINT */
        struct {
            sdc_pickle_value **items;
            size_t count, cap;
        } seq; /* TUPLE, LIST */
        struct {
            sdc_pickle_item *items;
            size_t count, cap;
        } dict;
        struct {
            sdc_pickle_global kind; /* for OBJECT: the global whose call made it */
            sdc_dtype dtype;        /* STORAGE_TYPE and DTYPE globals */
            bool untyped;           /* torch.storage.UntypedStorage: numel counts bytes */
            const char *name;       /* "torch.FloatStorage": module.name, static */
        } global;                   /* GLOBAL, OBJECT */
        struct {
            sdc_dtype dtype; /* of its elements (U8 for untyped storage) */
            bool untyped;
            const char *key; /* decimal digits, points into the pickle */
            size_t key_len;
            uint64_t numel; /* elements of dtype */
        } storage;
        struct {
            const sdc_pickle_value *storage;
            sdc_dtype dtype;
            int ndim;
            int64_t shape[SDC_ST_MAX_DIMS];
            int64_t stride[SDC_ST_MAX_DIMS]; /* in elements */
            int64_t storage_offset;          /* in elements of dtype */
        } tensor;
    } u;
};

/* What one pickle held. Values live in its arena and may be shared (the memo makes a DAG, or
 * even a cycle, so nothing walks them recursively). */
typedef struct sdc_pickle {
    sdc_arena arena;
    sdc_pickle_value *root;
    size_t consumed;             /* bytes read, up to and including STOP */
    sdc_pickle_value **storages; /* every persistent id in the order it was read */
    size_t n_storages;
} sdc_pickle;

/* Runs the pickle at the start of `data` up to its STOP opcode. `what` names the input in
 * messages ("model.ckpt: archive/data.pkl"), which also give the byte offset and the opcode at
 * fault. Any global outside the allow-list, any opcode torch.save does not write, REDUCE or
 * BUILD on anything but the allowed targets, and any persistent id other than a storage is
 * refused. Strings are validated as UTF-8 and point into `data`, which must outlive *out. */
sdc_status sdc_pickle_load(sdc_context *ctx, const void *data, size_t size, const char *what,
                           sdc_pickle **out);
void sdc_pickle_free(sdc_context *ctx, sdc_pickle *pickle);
/* "dict", "tensor", ... */
const char *sdc_pickle_type_name(sdc_pickle_type type);

/* ---------------------------------------------------------------------------------------- */
/* Checkpoints                                                                                */

/* Builds the file object over data (a mapped file when map != NULL); takes ownership of *map
 * in all cases. Used by sdc_st_open after it has seen sdc_ckpt_sniff say yes. */
sdc_status sdc_ckpt_create(sdc_context *ctx, const unsigned char *data, size_t size,
                           const char *name, sdc_mapped_file *map, sdc_st_file **out);

#endif /* SDC_IO_CKPT_H */
