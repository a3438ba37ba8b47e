/*
 * io.h — reading and writing the files sdc meets: mapped files, JSON, safetensors, .npy,
 * PNG and JPEG.
 *
 * Every reader treats its input as hostile: sizes are overflow-checked before anything is
 * allocated, every offset is checked against the file size, and a malformed file yields a
 * status plus a message naming the file and the field, tensor or byte offset at fault —
 * never a crash. Readers that parse memory (sdc_*_parse) exist next to the path-based ones so
 * the fuzz targets can drive them directly. This layer needs only core; it knows nothing of
 * models (which tensor names mean what is the models layer's business).
 */
#ifndef SDC_IO_IO_H
#define SDC_IO_IO_H

#include "core/core.h"

/* ---------------------------------------------------------------------------------------- */
/* Files                                                                                      */

/* A read-only view of a whole file. An empty file maps to data == NULL, size == 0. */
typedef struct sdc_mapped_file {
    const unsigned char *data;
    size_t size;
    char *path; /* owned copy, for messages */
} sdc_mapped_file;

sdc_status sdc_file_map(sdc_context *ctx, const char *path, sdc_mapped_file *out);
void sdc_file_unmap(sdc_context *ctx, sdc_mapped_file *file);

/* Reads a whole file into a NUL-terminated buffer (the NUL is not counted in *size). */
sdc_status sdc_file_read_all(sdc_context *ctx, const char *path, char **data, size_t *size);
/* Writes `size` bytes to path through a temporary file in the same directory and a rename, so
 * readers never see a half-written file. */
sdc_status sdc_file_write_all(sdc_context *ctx, const char *path, const void *data, size_t size);

/* A growable byte buffer (for writers). */
typedef struct sdc_buf {
    sdc_context *ctx;
    char *data;
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed; later appends do nothing */
} sdc_buf;

void sdc_buf_init(sdc_buf *b, sdc_context *ctx);
void sdc_buf_append(sdc_buf *b, const void *data, size_t len);
void sdc_buf_append_str(sdc_buf *b, const char *s);
void sdc_buf_printf(sdc_buf *b, const char *fmt, ...) SDC_PRINTF(2, 3);
void sdc_buf_free(sdc_buf *b);

/* ---------------------------------------------------------------------------------------- */
/* JSON (RFC 8259)                                                                            */

/* sdc parses JSON itself rather than through a library: numbers keep their exact 64-bit
 * integer value (safetensors offsets), duplicate keys are detected, nesting depth is bounded,
 * strings are validated as UTF-8, and all memory comes from the context's allocator. */

typedef enum sdc_json_type {
    SDC_JSON_TYPE_NULL,
    SDC_JSON_TYPE_BOOL,
    SDC_JSON_TYPE_NUMBER,
    SDC_JSON_TYPE_STRING,
    SDC_JSON_TYPE_ARRAY,
    SDC_JSON_TYPE_OBJECT,
    SDC_JSON_TYPE_COUNT
} sdc_json_type;

typedef struct sdc_json sdc_json;
typedef struct sdc_json_member sdc_json_member;

struct sdc_json {
    sdc_json_type type;
    union {
        bool boolean;
        struct {
            double value;
            int64_t int_value; /* exact when is_int */
            bool is_int;       /* written without fraction or exponent and fits in int64 */
        } number;
        struct {
            const char *chars; /* NUL-terminated UTF-8; may contain NUL (see len) */
            size_t len;
        } string;
        struct {
            sdc_json **items;
            size_t count;
        } array;
        struct {
            sdc_json_member *members; /* in document order */
            size_t count;
        } object;
    } u;
    uint32_t line, column; /* where the value starts, 1-based, for messages */
};

struct sdc_json_member {
    const char *key; /* NUL-terminated UTF-8 */
    size_t key_len;
    sdc_json *value;
};

/* A parsed document; all values live in its arena. */
typedef struct sdc_json_doc {
    sdc_arena arena;
    sdc_json *root;
} sdc_json_doc;

#define SDC_JSON_MAX_DEPTH 128

/* Parses `len` bytes. `what` names the input in error messages (a path, or "safetensors
 * header of model.safetensors"). A duplicate key in any object is an error. */
sdc_status sdc_json_parse(sdc_context *ctx, const char *text, size_t len, const char *what,
                          sdc_json_doc **out);
/* The same, with the keys of the top-level object called `key_noun` in the duplicate-key
 * message ("duplicate tensor name \"x\"" for key_noun "tensor name"); NULL means "key". */
sdc_status sdc_json_parse_keyed(sdc_context *ctx, const char *text, size_t len, const char *what,
                                const char *key_noun, sdc_json_doc **out);
void sdc_json_free(sdc_json_doc *doc);

/* Lookups return NULL when absent or of another type. */
const sdc_json *sdc_json_get(const sdc_json *object, const char *key);
const sdc_json *sdc_json_get_type(const sdc_json *object, const char *key, sdc_json_type type);
const char *sdc_json_type_name(sdc_json_type type);
/* Writes `len` bytes of s into out (size >= 8) as a double-quoted string fit for an error
 * message: quotes, backslashes, control characters and invalid UTF-8 escaped, shortened with
 * "..." when it does not fit. Returns out. */
const char *sdc_json_quote(const char *s, size_t len, char *out, size_t size);

/* A JSON writer into an sdc_buf: keeps track of commas and indentation. */
typedef struct sdc_json_writer {
    sdc_buf *buf;
    int depth;
    bool need_comma;
    bool pretty;
    bool after_key; /* a key was written; its value comes next */
} sdc_json_writer;

void sdc_json_writer_init(sdc_json_writer *w, sdc_buf *buf, bool pretty);
void sdc_json_begin_object(sdc_json_writer *w);
void sdc_json_end_object(sdc_json_writer *w);
void sdc_json_begin_array(sdc_json_writer *w);
void sdc_json_end_array(sdc_json_writer *w);
void sdc_json_key(sdc_json_writer *w, const char *key);
void sdc_json_string(sdc_json_writer *w, const char *s);
void sdc_json_string_n(sdc_json_writer *w, const char *s, size_t len);
void sdc_json_int(sdc_json_writer *w, int64_t v);
void sdc_json_uint(sdc_json_writer *w, uint64_t v);
/* Shortest text that reads back as the same double; non-finite values are written as null. */
void sdc_json_double(sdc_json_writer *w, double v);
void sdc_json_bool(sdc_json_writer *w, bool v);
void sdc_json_null(sdc_json_writer *w);
/* Writes a parsed value and everything inside it (keys in document order): a document read
 * back and written again keeps its content, not its spacing. */
void sdc_json_value(sdc_json_writer *w, const sdc_json *v);

/* ---------------------------------------------------------------------------------------- */
/* safetensors                                                                                */

#define SDC_ST_MAX_DIMS 8
/* The reference implementation refuses headers above 100 MB; so does sdc. */
#define SDC_ST_MAX_HEADER ((uint64_t)100000000)

typedef struct sdc_st_tensor {
    const char *name;
    sdc_dtype dtype;
    int ndim;
    int64_t shape[SDC_ST_MAX_DIMS];
    uint64_t begin, end;  /* byte offsets within the data section */
    const void *data;     /* points into the file's data section */
} sdc_st_tensor;

typedef struct sdc_st_kv {
    const char *key;
    const char *value;
} sdc_st_kv;

/* A safetensors file, or a PyTorch checkpoint read into the same form (see sdc_ckpt_open):
 * then data_section is the whole file, begin/end are file offsets, header_len is 0, and names
 * and metadata live in `strings`. */
typedef struct sdc_st_file {
    sdc_context *ctx;
    char *path;              /* as given to open or parse; for messages */
    const char *format;      /* "safetensors", "pytorch" or "pytorch-legacy" (static) */
    sdc_mapped_file map;     /* empty when parsed from memory */
    uint64_t header_len;     /* JSON header bytes */
    const unsigned char *data_section;
    uint64_t data_size;
    sdc_st_tensor *tensors;  /* sorted by name */
    size_t n_tensors;
    sdc_st_kv *metadata;     /* the "__metadata__" map, sorted by key */
    size_t n_metadata;
    sdc_json_doc *header;    /* names and metadata strings point into it */
    sdc_arena strings;       /* checkpoints: tensor names and metadata */
} sdc_st_file;

/* Maps and validates a safetensors file: header length against the file size, a JSON object
 * whose values are {dtype, shape, data_offsets} with known dtypes, non-negative shapes whose
 * byte size (overflow-checked) equals the span, spans inside the data section that do not
 * overlap, unique names, and string metadata. Gaps between spans are allowed.
 * A file whose content says it is a PyTorch checkpoint (sdc_ckpt_sniff) is read by
 * sdc_ckpt_open instead, so everything that reads safetensors files reads .ckpt files too. */
sdc_status sdc_st_open(sdc_context *ctx, const char *path, sdc_st_file **out);
/* The same over memory the caller keeps alive until sdc_st_close. `name` is for messages. */
sdc_status sdc_st_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                        sdc_st_file **out);
void sdc_st_close(sdc_st_file *file);

/* NULL when absent. */
const sdc_st_tensor *sdc_st_find(const sdc_st_file *file, const char *name);
const char *sdc_st_metadata(const sdc_st_file *file, const char *key);
uint64_t sdc_st_nbytes(const sdc_st_tensor *t);
int64_t sdc_st_numel(const sdc_st_tensor *t);

/* One tensor to write; data is read during sdc_st_write only. */
typedef struct sdc_st_entry {
    const char *name;
    sdc_dtype dtype;
    int ndim;
    int64_t shape[SDC_ST_MAX_DIMS];
    const void *data;
} sdc_st_entry;

/* Name prefix of the zero-filled U8 entries the writer inserts so that every tensor starts on
 * a 64-byte boundary while the file stays valid for readers that require contiguous spans. */
#define SDC_ST_PAD_PREFIX "sdc.pad."

/* Writes a safetensors file with tensors in the given order, the data section starting on a
 * 64-byte boundary of the file and every tensor's data 64-byte aligned (padding entries
 * fill the gaps). Output depends only on the inputs (byte-identical on rerun). */
sdc_status sdc_st_write(sdc_context *ctx, const char *path, const sdc_st_entry *entries,
                        size_t n_entries, const sdc_st_kv *metadata, size_t n_metadata);

/* Produces the `nbytes` bytes of entry `index` into dst. */
typedef sdc_status (*sdc_st_fill_fn)(void *user, size_t index, void *dst, size_t nbytes);
/* The same, with the data of entries whose data is NULL produced by `fill` while the file is
 * written: once per such entry, in order, into one buffer reused between entries (so a
 * converter never holds more than one tensor's bytes). A failing fill stops the write; no
 * file is left behind. */
sdc_status sdc_st_write_stream(sdc_context *ctx, const char *path, const sdc_st_entry *entries,
                               size_t n_entries, const sdc_st_kv *metadata, size_t n_metadata,
                               sdc_st_fill_fn fill, void *user);

/* True for the zero-filled U8 entries sdc_st_write inserts (SDC_ST_PAD_PREFIX + digits). */
bool sdc_st_is_padding(const sdc_st_tensor *t);

/* ---------------------------------------------------------------------------------------- */
/* Compressed weights in safetensors files (sdc bundle components, docs/bundle-format.md)     */

/* A compressed weight W is stored as plain tensors plus the metadata entry
 * "sdc.compressed.W" (a JSON object) that describes it:
 *   palette: {"storage": "palette", "bits": n, "shape": [...], "rows_per_group": r} with parts
 *            "W.indices" U8 [rows, ceil(row_len * n / 8)] (the layout of kernels.h) and
 *            "W.palette" F32/F16/BF16 [ceil(rows / r), 2^n];
 *   int8:    {"storage": "int8", "shape": [...]} with parts "W.int8" I8 of W's shape and
 *            "W.scale" F32 [rows].
 * The file stays a valid safetensors file that any reader opens. */
#define SDC_ST_COMPRESSED_PREFIX "sdc.compressed."

typedef enum sdc_st_storage {
    SDC_ST_STORAGE_DENSE,
    SDC_ST_STORAGE_PALETTE,
    SDC_ST_STORAGE_INT8,
    SDC_ST_STORAGE_COUNT
} sdc_st_storage;

/* "dense", "palette", "int8". */
const char *sdc_st_storage_name(sdc_st_storage storage);

/* One weight of a file: a plain tensor, or a compressed weight with its parts. */
typedef struct sdc_st_logical {
    const char *name;            /* valid while the file is open */
    sdc_st_storage storage;
    int ndim;
    int64_t shape[SDC_ST_MAX_DIMS]; /* the weight's own shape */
    int bits;                    /* palette: bits per index */
    int64_t rows_per_group;      /* palette: rows sharing one palette */
    const sdc_st_tensor *data;   /* dense: the tensor; palette: indices; int8: the values */
    const sdc_st_tensor *palette; /* palette: [groups, 2^bits] */
    const sdc_st_tensor *scale;  /* int8: [rows] */
    uint64_t nbytes;             /* the bytes of all its parts */
} sdc_st_logical;

/* The file's weights in name order: each described compressed weight with its parts checked
 * (present, dtypes and shapes as above, float parts aligned for in-place reads, no part shared),
 * every other tensor as dense; padding entries are left out. *out comes from the context's
 * allocator (sdc_free it). A malformed descriptor or part is SDC_STATUS_FORMAT naming the file
 * and the weight; an unknown storage is SDC_STATUS_UNSUPPORTED. */
sdc_status sdc_st_logical_list(const sdc_st_file *file, sdc_st_logical **out, size_t *n);

/* ---------------------------------------------------------------------------------------- */
/* PyTorch checkpoints (.ckpt, .pt, .pth written by torch.save)                               */

/* A checkpoint is a Python pickle; sdc reads it with a restricted machine (src/io/pickle.c)
 * that understands only what torch.save writes and refuses everything else, never importing or
 * running anything a file names. The result is an sdc_st_file whose tensors point into the
 * mapped file (nothing is copied):
 *  - formats: the ZIP archive of torch >= 1.6 ("<folder>/data.pkl" and stored records
 *    "<folder>/data/<key>", ZIP64 included) and the legacy stream of torch 0.4 to 1.5;
 *  - which tensors: if the top-level dict has a "state_dict" entry that is a dict (Lightning,
 *    LDM/CompVis and A1111-style checkpoints), its tensors, else the top-level dict's tensors;
 *    other values are skipped; a repeated key keeps its last value; names must be strings;
 *  - each tensor must be contiguous row-major (a strided view is SDC_STATUS_UNSUPPORTED naming
 *    the tensor); storage offsets are allowed; every byte must lie inside its storage;
 *  - metadata: the top-level dict's integer, float, bool and string values ("global_step").
 * Allowed globals: collections.OrderedDict; torch._utils._rebuild_tensor, _rebuild_tensor_v2,
 * _rebuild_tensor_v3, _rebuild_parameter; torch.{Double,Float,Half,BFloat16,Long,Int,Short,
 * Char,Byte,Bool}Storage (also under torch.cuda) and torch.storage.UntypedStorage; torch
 * dtypes; torch.Size; _codecs.encode; numpy scalar, dtype, ndarray and _reconstruct (a numpy
 * global_step); builtins.set; pytorch_lightning's ModelCheckpoint class as a value. Anything
 * else is SDC_STATUS_UNSUPPORTED naming the global or opcode and its byte offset. */

/* True when the bytes start like a torch.save file (ZIP or legacy magic number). */
bool sdc_ckpt_sniff(const void *data, size_t size);
sdc_status sdc_ckpt_open(sdc_context *ctx, const char *path, sdc_st_file **out);
/* The same over memory the caller keeps alive until sdc_st_close. `name` is for messages. */
sdc_status sdc_ckpt_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                          sdc_st_file **out);

/* ---------------------------------------------------------------------------------------- */
/* .npy (NumPy format 1.0, 2.0, 3.0; little-endian, C order)                                  */

typedef struct sdc_npy {
    sdc_dtype dtype;
    int ndim;
    int64_t shape[SDC_ST_MAX_DIMS];
    void *data; /* owned, SDC_ALIGN-aligned */
    size_t nbytes;
} sdc_npy;

sdc_status sdc_npy_read(sdc_context *ctx, const char *path, sdc_npy *out);
sdc_status sdc_npy_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                         sdc_npy *out);
void sdc_npy_free(sdc_context *ctx, sdc_npy *npy);
/* Writes format 1.0 (2.0 if the header needs it). */
sdc_status sdc_npy_write(sdc_context *ctx, const char *path, sdc_dtype dtype, int ndim,
                         const int64_t *shape, const void *data);

/* ---------------------------------------------------------------------------------------- */
/* Images: PNG (libpng) and JPEG (libjpeg)                                                    */

/* sdc_image (8-bit interleaved pixels) is declared in sdc.h. */

typedef struct sdc_text_chunk {
    char *key;   /* owned, Latin-1 keyword as PNG requires */
    char *value; /* owned, UTF-8 */
} sdc_text_chunk;

typedef struct sdc_text_chunks {
    sdc_text_chunk *items;
    size_t count;
} sdc_text_chunks;

/* Images above this many pixels on a side are refused before decoding. */
#define SDC_IMAGE_MAX_SIDE 16384

/* Reads a PNG or JPEG (chosen by content, not name). want_channels: 0 keeps the file's
 * layout (gray 1, gray+alpha -> 4, RGB 3, RGBA 4, palette 3 or 4), or 1, 3 or 4 to convert
 * (alpha is dropped, not composited). 16-bit samples are reduced to 8 bits. `text` may be NULL;
 * otherwise it receives the PNG's tEXt/zTXt/iTXt chunks (none for JPEG). */
sdc_status sdc_image_read(sdc_context *ctx, const char *path, int want_channels,
                          sdc_image *out, sdc_text_chunks *text);
sdc_status sdc_png_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                         int want_channels, sdc_image *out, sdc_text_chunks *text);
sdc_status sdc_jpeg_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                          int want_channels, sdc_image *out);
/* Writes an 8-bit PNG with the given text chunks (tEXt when the value is Latin-1, iTXt
 * otherwise), e.g. {"parameters", "<prompt>\nSteps: 20, ..."}. */
sdc_status sdc_png_write(sdc_context *ctx, const char *path, const sdc_image *image,
                         const sdc_text_chunk *text, size_t n_text);

void sdc_image_free(sdc_context *ctx, sdc_image *image);
void sdc_text_chunks_free(sdc_context *ctx, sdc_text_chunks *text);

#endif /* SDC_IO_IO_H */
