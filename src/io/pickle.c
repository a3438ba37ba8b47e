/*
 * pickle.c — a pickle machine for what torch.save writes (torch 0.4 to 2.4: protocol 2, and the
 * binary opcodes of 3 to 5), modelled on torch 2.4's _weights_only_unpickler.py. It never
 * imports or calls anything: allowed globals become inert values and REDUCE of an allowed
 * callable builds a value. Unlike torch's, it refuses NEWOBJ and BUILD on tensors and bounds
 * all memory.
 */
#include "io/ckpt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Opcodes                                                                                    */

enum {
    OP_MARK = '(',
    OP_STOP = '.',
    OP_POP = '0',
    OP_POP_MARK = '1',
    OP_BININT = 'J',
    OP_BININT1 = 'K',
    OP_BININT2 = 'M',
    OP_NONE = 'N',
    OP_BINPERSID = 'Q',
    OP_REDUCE = 'R',
    OP_BINSTRING = 'T',
    OP_SHORT_BINSTRING = 'U',
    OP_BINUNICODE = 'X',
    OP_APPEND = 'a',
    OP_BUILD = 'b',
    OP_GLOBAL = 'c',
    OP_EMPTY_DICT = '}',
    OP_APPENDS = 'e',
    OP_BINGET = 'h',
    OP_LONG_BINGET = 'j',
    OP_EMPTY_LIST = ']',
    OP_BINPUT = 'q',
    OP_LONG_BINPUT = 'r',
    OP_SETITEM = 's',
    OP_TUPLE = 't',
    OP_EMPTY_TUPLE = ')',
    OP_SETITEMS = 'u',
    OP_BINFLOAT = 'G',
    OP_PROTO = 0x80,
    OP_TUPLE1 = 0x85,
    OP_TUPLE2 = 0x86,
    OP_TUPLE3 = 0x87,
    OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89,
    OP_LONG1 = 0x8a,
    OP_LONG4 = 0x8b,
    OP_BINBYTES = 'B',
    OP_SHORT_BINBYTES = 'C',
    OP_SHORT_BINUNICODE = 0x8c,
    OP_BINUNICODE8 = 0x8d,
    OP_BINBYTES8 = 0x8e,
    OP_EMPTY_SET = 0x8f,
    OP_ADDITEMS = 0x90,
    OP_FROZENSET = 0x91,
    OP_STACK_GLOBAL = 0x93,
    OP_MEMOIZE = 0x94,
    OP_FRAME = 0x95,
};

/* Every opcode Python knows, so that a refusal can name it. */
/* clang-format off */
static const char *const op_names[256] = {
    ['('] = "MARK", ['.'] = "STOP", ['0'] = "POP", ['1'] = "POP_MARK", ['2'] = "DUP",
    ['F'] = "FLOAT", ['I'] = "INT", ['J'] = "BININT", ['K'] = "BININT1", ['L'] = "LONG",
    ['M'] = "BININT2", ['N'] = "NONE", ['P'] = "PERSID", ['Q'] = "BINPERSID", ['R'] = "REDUCE",
    ['S'] = "STRING", ['T'] = "BINSTRING", ['U'] = "SHORT_BINSTRING", ['V'] = "UNICODE",
    ['X'] = "BINUNICODE", ['a'] = "APPEND", ['b'] = "BUILD", ['c'] = "GLOBAL", ['d'] = "DICT",
    ['}'] = "EMPTY_DICT", ['e'] = "APPENDS", ['g'] = "GET", ['h'] = "BINGET", ['i'] = "INST",
    ['j'] = "LONG_BINGET", ['l'] = "LIST", [']'] = "EMPTY_LIST", ['o'] = "OBJ", ['p'] = "PUT",
    ['q'] = "BINPUT", ['r'] = "LONG_BINPUT", ['s'] = "SETITEM", ['t'] = "TUPLE",
    [')'] = "EMPTY_TUPLE", ['u'] = "SETITEMS", ['G'] = "BINFLOAT", ['B'] = "BINBYTES",
    ['C'] = "SHORT_BINBYTES", [0x80] = "PROTO", [0x81] = "NEWOBJ", [0x82] = "EXT1",
    [0x83] = "EXT2", [0x84] = "EXT4", [0x85] = "TUPLE1", [0x86] = "TUPLE2", [0x87] = "TUPLE3",
    [0x88] = "NEWTRUE", [0x89] = "NEWFALSE", [0x8a] = "LONG1", [0x8b] = "LONG4",
    [0x8c] = "SHORT_BINUNICODE", [0x8d] = "BINUNICODE8", [0x8e] = "BINBYTES8",
    [0x8f] = "EMPTY_SET", [0x90] = "ADDITEMS", [0x91] = "FROZENSET", [0x92] = "NEWOBJ_EX",
    [0x93] = "STACK_GLOBAL", [0x94] = "MEMOIZE", [0x95] = "FRAME", [0x96] = "BYTEARRAY8",
    [0x97] = "NEXT_BUFFER", [0x98] = "READONLY_BUFFER",
};
/* clang-format on */

/* ---------------------------------------------------------------------------------------- */
/* The allow-list                                                                             */

typedef struct allowed_global {
    const char *module;
    const char *name;
    const char *full; /* how messages spell it */
    sdc_pickle_global kind;
    sdc_dtype dtype;
    bool untyped;
} allowed_global;

/* clang-format off */
#define STORAGE(mod, n, dt) {mod, #n, mod "." #n, SDC_PICKLE_GLOBAL_STORAGE_TYPE, dt, false}
#define DTYPE(n, dt)        {"torch", #n, "torch." #n, SDC_PICKLE_GLOBAL_DTYPE, dt, false}
#define OTHER(mod, n, kind) {mod, n, mod "." n, kind, SDC_DTYPE_U8, false}
/* clang-format on */

static const allowed_global allowed[] = {
    OTHER("collections", "OrderedDict", SDC_PICKLE_GLOBAL_ORDERED_DICT),
    OTHER("torch._utils", "_rebuild_tensor", SDC_PICKLE_GLOBAL_REBUILD_TENSOR),
    OTHER("torch._utils", "_rebuild_tensor_v2", SDC_PICKLE_GLOBAL_REBUILD_TENSOR_V2),
    OTHER("torch._utils", "_rebuild_tensor_v3", SDC_PICKLE_GLOBAL_REBUILD_TENSOR_V3),
    OTHER("torch._utils", "_rebuild_parameter", SDC_PICKLE_GLOBAL_REBUILD_PARAMETER),
    STORAGE("torch", DoubleStorage, SDC_DTYPE_F64),
    STORAGE("torch", FloatStorage, SDC_DTYPE_F32),
    STORAGE("torch", HalfStorage, SDC_DTYPE_F16),
    STORAGE("torch", BFloat16Storage, SDC_DTYPE_BF16),
    STORAGE("torch", LongStorage, SDC_DTYPE_I64),
    STORAGE("torch", IntStorage, SDC_DTYPE_I32),
    STORAGE("torch", ShortStorage, SDC_DTYPE_I16),
    STORAGE("torch", CharStorage, SDC_DTYPE_I8),
    STORAGE("torch", ByteStorage, SDC_DTYPE_U8),
    STORAGE("torch", BoolStorage, SDC_DTYPE_BOOL),
    /* torch < 1.0 named the storage of a tensor saved from the GPU after its device */
    STORAGE("torch.cuda", DoubleStorage, SDC_DTYPE_F64),
    STORAGE("torch.cuda", FloatStorage, SDC_DTYPE_F32),
    STORAGE("torch.cuda", HalfStorage, SDC_DTYPE_F16),
    STORAGE("torch.cuda", BFloat16Storage, SDC_DTYPE_BF16),
    STORAGE("torch.cuda", LongStorage, SDC_DTYPE_I64),
    STORAGE("torch.cuda", IntStorage, SDC_DTYPE_I32),
    STORAGE("torch.cuda", ShortStorage, SDC_DTYPE_I16),
    STORAGE("torch.cuda", CharStorage, SDC_DTYPE_I8),
    STORAGE("torch.cuda", ByteStorage, SDC_DTYPE_U8),
    STORAGE("torch.cuda", BoolStorage, SDC_DTYPE_BOOL),
    {"torch.storage", "UntypedStorage", "torch.storage.UntypedStorage",
     SDC_PICKLE_GLOBAL_STORAGE_TYPE, SDC_DTYPE_U8, true},
    DTYPE(float64, SDC_DTYPE_F64),
    DTYPE(float32, SDC_DTYPE_F32),
    DTYPE(float16, SDC_DTYPE_F16),
    DTYPE(bfloat16, SDC_DTYPE_BF16),
    DTYPE(float8_e4m3fn, SDC_DTYPE_F8_E4M3),
    DTYPE(float8_e5m2, SDC_DTYPE_F8_E5M2),
    DTYPE(int64, SDC_DTYPE_I64),
    DTYPE(int32, SDC_DTYPE_I32),
    DTYPE(int16, SDC_DTYPE_I16),
    DTYPE(int8, SDC_DTYPE_I8),
    DTYPE(uint64, SDC_DTYPE_U64),
    DTYPE(uint32, SDC_DTYPE_U32),
    DTYPE(uint16, SDC_DTYPE_U16),
    DTYPE(uint8, SDC_DTYPE_U8),
    DTYPE(bool, SDC_DTYPE_BOOL),
    OTHER("torch", "Size", SDC_PICKLE_GLOBAL_TORCH_SIZE),
    OTHER("_codecs", "encode", SDC_PICKLE_GLOBAL_CODECS_ENCODE),
    OTHER("numpy.core.multiarray", "scalar", SDC_PICKLE_GLOBAL_NUMPY_SCALAR),
    OTHER("numpy._core.multiarray", "scalar", SDC_PICKLE_GLOBAL_NUMPY_SCALAR),
    OTHER("numpy.core.multiarray", "_reconstruct", SDC_PICKLE_GLOBAL_NUMPY_RECONSTRUCT),
    OTHER("numpy._core.multiarray", "_reconstruct", SDC_PICKLE_GLOBAL_NUMPY_RECONSTRUCT),
    OTHER("numpy", "dtype", SDC_PICKLE_GLOBAL_NUMPY_DTYPE),
    OTHER("numpy", "ndarray", SDC_PICKLE_GLOBAL_NUMPY_NDARRAY),
    OTHER("__builtin__", "set", SDC_PICKLE_GLOBAL_SET),
    OTHER("builtins", "set", SDC_PICKLE_GLOBAL_SET),
    OTHER("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint",
          SDC_PICKLE_GLOBAL_LIGHTNING_CLASS),
    OTHER("pytorch_lightning.callbacks", "model_checkpoint", SDC_PICKLE_GLOBAL_LIGHTNING_CLASS),
};

#undef STORAGE
#undef DTYPE
#undef OTHER

static const char *const type_names[] = {
    [SDC_PICKLE_TYPE_NONE] = "None",     [SDC_PICKLE_TYPE_BOOL] = "bool",
    [SDC_PICKLE_TYPE_INT] = "int",       [SDC_PICKLE_TYPE_BIGINT] = "int beyond 64 bits",
    [SDC_PICKLE_TYPE_FLOAT] = "float",   [SDC_PICKLE_TYPE_STRING] = "string",
    [SDC_PICKLE_TYPE_BYTES] = "bytes",   [SDC_PICKLE_TYPE_TUPLE] = "tuple",
    [SDC_PICKLE_TYPE_LIST] = "list",     [SDC_PICKLE_TYPE_DICT] = "dict",
    [SDC_PICKLE_TYPE_GLOBAL] = "global", [SDC_PICKLE_TYPE_STORAGE] = "storage",
    [SDC_PICKLE_TYPE_TENSOR] = "tensor", [SDC_PICKLE_TYPE_OBJECT] = "object",
};
static_assert(sizeof type_names / sizeof type_names[0] == SDC_PICKLE_TYPE_COUNT,
              "a name for every pickle value type");

const char *sdc_pickle_type_name(sdc_pickle_type type)
{
    return (unsigned)type < SDC_PICKLE_TYPE_COUNT ? type_names[type] : "?";
}

/* ---------------------------------------------------------------------------------------- */
/* The machine                                                                                */

typedef struct vm {
    sdc_context *ctx;
    const char *what;
    const unsigned char *data;
    size_t size;
    size_t pos;    /* next byte to read */
    size_t op_pos; /* the opcode being run */
    int op;
    sdc_pickle *out;
    size_t budget_used; /* bytes of values built, against SDC_PICKLE_MAX_MEMORY */
    sdc_pickle_value **stack;
    size_t n_stack, cap_stack;
    size_t *marks; /* stack heights at each open MARK */
    size_t n_marks, cap_marks;
    sdc_pickle_value **memo; /* NULL where nothing was stored */
    size_t cap_memo, n_memo; /* n_memo: slots stored, the next MEMOIZE index */
    size_t cap_storages;
    sdc_pickle_value *none, *yes, *no, *empty_tuple;
    sdc_status err; /* of the last failure, for callers of functions that return NULL */
} vm;

static sdc_status fail(vm *m, sdc_status status, const char *fmt, ...) SDC_PRINTF(3, 4);

static sdc_status fail(vm *m, sdc_status status, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *name = m->op < 0 ? "end of input" : op_names[m->op];
    m->err = status;
    return sdc_fail(m->ctx, status, "%s: byte %zu (%s): %s", m->what, m->op_pos,
                    name ? name : "unknown opcode", msg);
}

static sdc_status fail_oom(vm *m, size_t bytes)
{
    m->err = SDC_STATUS_OUT_OF_MEMORY;
    return sdc_fail_oom(m->ctx, m->what, bytes);
}

/* Arena memory for values, counted against the budget. NULL with the error set. */
static void *vm_alloc(vm *m, size_t bytes)
{
    if (bytes > SDC_PICKLE_MAX_MEMORY - m->budget_used) {
        fail(m, SDC_STATUS_UNSUPPORTED,
             "the values built so far need more than sdc's limit of %zu MiB for a checkpoint's "
             "pickle",
             SDC_PICKLE_MAX_MEMORY >> 20);
        return NULL;
    }
    void *p = sdc_arena_alloc(&m->out->arena, bytes, sizeof(void *));
    if (!p) {
        fail_oom(m, bytes);
        return NULL;
    }
    m->budget_used += bytes;
    return p;
}

static sdc_pickle_value *new_value(vm *m, sdc_pickle_type type)
{
    sdc_pickle_value *v = vm_alloc(m, sizeof *v);
    if (v) {
        memset(v, 0, sizeof *v);
        v->type = type;
        v->offset = m->op_pos;
    }
    return v;
}

static const char *describe(const sdc_pickle_value *v, char *buf, size_t size)
{
    char q[64];
    switch (v->type) {
    case SDC_PICKLE_TYPE_NONE:
        snprintf(buf, size, "None");
        break;
    case SDC_PICKLE_TYPE_BOOL:
        snprintf(buf, size, "%s", v->u.boolean ? "True" : "False");
        break;
    case SDC_PICKLE_TYPE_INT:
        snprintf(buf, size, "the integer %" PRId64, v->u.integer);
        break;
    case SDC_PICKLE_TYPE_STRING:
        snprintf(buf, size, "the string %s",
                 sdc_json_quote(v->u.bytes.chars, v->u.bytes.len, q, sizeof q));
        break;
    case SDC_PICKLE_TYPE_GLOBAL:
        snprintf(buf, size, "the global %s", v->u.global.name);
        break;
    case SDC_PICKLE_TYPE_OBJECT:
        snprintf(buf, size, "an object made by %s", v->u.global.name);
        break;
    default:
        snprintf(buf, size, "a %s", sdc_pickle_type_name(v->type));
        break;
    }
    return buf;
}

/* ---- reading operands ---- */

static sdc_status need(vm *m, uint64_t n, const char *what)
{
    if (n > m->size - m->pos)
        return fail(m, SDC_STATUS_FORMAT,
                    "%s of %" PRIu64 " bytes runs past the end of the pickle (%zu bytes remain)",
                    what, n, m->size - m->pos);
    return SDC_STATUS_OK;
}

static sdc_status read_uint(vm *m, int n, uint64_t *out)
{
    sdc_status st = need(m, (uint64_t)n, "operand");
    if (st != SDC_STATUS_OK)
        return st;
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | m->data[m->pos + (size_t)i];
    m->pos += (size_t)n;
    *out = v;
    return SDC_STATUS_OK;
}

/* Strict UTF-8: no overlong forms, surrogates or code points above U+10FFFF. Returns the
 * offset of the first bad byte, or len. */
static size_t utf8_check(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (n > len - i)
            return i;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n;
    }
    return len;
}

/* ---- the stack ---- */

static sdc_status push(vm *m, sdc_pickle_value *v)
{
    if (m->n_stack == m->cap_stack) {
        if (m->cap_stack >= SDC_PICKLE_MAX_STACK)
            return fail(m, SDC_STATUS_UNSUPPORTED,
                        "more than %zu values on the stack, above sdc's limit",
                        SDC_PICKLE_MAX_STACK);
        size_t cap = m->cap_stack ? m->cap_stack * 2 : 64;
        sdc_pickle_value **s = sdc_realloc(m->ctx, m->stack, cap * sizeof *s);
        if (!s)
            return fail_oom(m, cap * sizeof *s);
        m->stack = s;
        m->cap_stack = cap;
    }
    m->stack[m->n_stack++] = v;
    return SDC_STATUS_OK;
}

/* Values above the innermost MARK. */
static size_t frame_base(const vm *m)
{
    return m->n_marks ? m->marks[m->n_marks - 1] : 0;
}

static sdc_status pop(vm *m, sdc_pickle_value **out)
{
    if (m->n_stack == frame_base(m))
        return fail(m, SDC_STATUS_FORMAT, "stack underflow: no value to take%s",
                    m->n_marks ? " above the last MARK" : "");
    *out = m->stack[--m->n_stack];
    return SDC_STATUS_OK;
}

static sdc_status top(vm *m, sdc_pickle_value **out)
{
    if (m->n_stack == frame_base(m))
        return fail(m, SDC_STATUS_FORMAT, "stack underflow: no value to work on%s",
                    m->n_marks ? " above the last MARK" : "");
    *out = m->stack[m->n_stack - 1];
    return SDC_STATUS_OK;
}

/* The values above the innermost MARK, which is closed. *items stays valid until the next
 * push. */
static sdc_status pop_mark(vm *m, sdc_pickle_value ***items, size_t *count)
{
    if (m->n_marks == 0)
        return fail(m, SDC_STATUS_FORMAT, "no MARK to close");
    size_t base = m->marks[--m->n_marks];
    *items = m->stack ? m->stack + base : NULL; /* NULL + 0 is undefined */
    *count = m->n_stack - base;
    m->n_stack = base;
    return SDC_STATUS_OK;
}

/* ---- containers ---- */

static sdc_status seq_append(vm *m, sdc_pickle_value *seq, sdc_pickle_value *item)
{
    if (seq->u.seq.count == seq->u.seq.cap) {
        size_t cap = seq->u.seq.cap ? seq->u.seq.cap * 2 : 4;
        sdc_pickle_value **items = vm_alloc(m, cap * sizeof *items);
        if (!items)
            return m->err;
        if (seq->u.seq.count)
            memcpy(items, seq->u.seq.items, seq->u.seq.count * sizeof *items);
        seq->u.seq.items = items;
        seq->u.seq.cap = cap;
    }
    seq->u.seq.items[seq->u.seq.count++] = item;
    return SDC_STATUS_OK;
}

static bool hashable(const sdc_pickle_value *v)
{
    return v->type != SDC_PICKLE_TYPE_LIST && v->type != SDC_PICKLE_TYPE_DICT &&
           v->type != SDC_PICKLE_TYPE_TENSOR && v->type != SDC_PICKLE_TYPE_STORAGE;
}

/* Keys are not compared: a repeated key is resolved by whoever reads the dict (the last one
 * wins, as in Python), which keeps SETITEMS linear on hostile input. */
static sdc_status dict_set(vm *m, sdc_pickle_value *dict, sdc_pickle_value *key,
                           sdc_pickle_value *value)
{
    char got[96];
    if (!hashable(key))
        return fail(m, SDC_STATUS_FORMAT, "%s cannot be a dict key",
                    describe(key, got, sizeof got));
    if (dict->u.dict.count == dict->u.dict.cap) {
        size_t cap = dict->u.dict.cap ? dict->u.dict.cap * 2 : 8;
        sdc_pickle_item *items = vm_alloc(m, cap * sizeof *items);
        if (!items)
            return m->err;
        if (dict->u.dict.count)
            memcpy(items, dict->u.dict.items, dict->u.dict.count * sizeof *items);
        dict->u.dict.items = items;
        dict->u.dict.cap = cap;
    }
    dict->u.dict.items[dict->u.dict.count++] = (sdc_pickle_item){key, value};
    return SDC_STATUS_OK;
}

static sdc_status make_tuple(vm *m, sdc_pickle_value **items, size_t count, sdc_pickle_value **out)
{
    if (count == 0) {
        *out = m->empty_tuple;
        return SDC_STATUS_OK;
    }
    sdc_pickle_value *t = new_value(m, SDC_PICKLE_TYPE_TUPLE);
    sdc_pickle_value **copy = t ? vm_alloc(m, count * sizeof *copy) : NULL;
    if (!copy)
        return m->err;
    memcpy(copy, items, count * sizeof *copy);
    t->u.seq.items = copy;
    t->u.seq.count = t->u.seq.cap = count;
    *out = t;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Globals and calls                                                                          */

static bool str_is(const sdc_pickle_value *v, const char *s)
{
    size_t n = strlen(s);
    return v->type == SDC_PICKLE_TYPE_STRING && v->u.bytes.len == n &&
           memcmp(v->u.bytes.chars, s, n) == 0;
}

static sdc_status push_global(vm *m, const char *module, size_t module_len, const char *name,
                              size_t name_len)
{
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        const allowed_global *g = &allowed[i];
        if (strlen(g->module) == module_len && memcmp(g->module, module, module_len) == 0 &&
            strlen(g->name) == name_len && memcmp(g->name, name, name_len) == 0) {
            sdc_pickle_value *v = new_value(m, SDC_PICKLE_TYPE_GLOBAL);
            if (!v)
                return m->err;
            v->u.global.kind = g->kind;
            v->u.global.dtype = g->dtype;
            v->u.global.untyped = g->untyped;
            v->u.global.name = g->full;
            return push(m, v);
        }
    }
    /* module and name are at most SDC_PICKLE_MAX_NAME bytes each (GLOBAL) or were checked
     * to fit here (STACK_GLOBAL strings may be longer: they are cut) */
    char full[2 * SDC_PICKLE_MAX_NAME + 2], quoted[160];
    size_t ml = module_len < SDC_PICKLE_MAX_NAME ? module_len : SDC_PICKLE_MAX_NAME;
    size_t nl = name_len < SDC_PICKLE_MAX_NAME ? name_len : SDC_PICKLE_MAX_NAME;
    memcpy(full, module, ml);
    full[ml] = '.';
    memcpy(full + ml + 1, name, nl);
    return fail(m, SDC_STATUS_UNSUPPORTED,
                "global %s is not allowed: sdc reads only tensors, their storages and the "
                "plain values torch.save writes next to them, and never runs code named in a "
                "file (torch.load would import and call it)",
                sdc_json_quote(full, ml + 1 + nl, quoted, sizeof quoted));
}

/* GLOBAL's operands: "module\nname\n". */
static sdc_status read_line(vm *m, const char **s, size_t *len)
{
    const unsigned char *start = m->data + m->pos;
    size_t avail = m->size - m->pos;
    size_t limit = avail < SDC_PICKLE_MAX_NAME + 1 ? avail : SDC_PICKLE_MAX_NAME + 1;
    const unsigned char *nl = memchr(start, '\n', limit);
    if (!nl)
        return fail(m, SDC_STATUS_FORMAT,
                    "module or name is not ended by a newline within %zu bytes (limit %d)", limit,
                    SDC_PICKLE_MAX_NAME);
    *s = (const char *)start;
    *len = (size_t)(nl - start);
    m->pos += *len + 1;
    if (utf8_check(start, *len) != *len)
        return fail(m, SDC_STATUS_FORMAT, "module or name is not valid UTF-8");
    return SDC_STATUS_OK;
}

/* Argument checks for the calls: `fn` names the callable, `i` the 0-based argument. */
static sdc_status bad_arg(vm *m, const char *fn, size_t i, const char *role,
                          const sdc_pickle_value *got, const char *expected)
{
    char g[96];
    return fail(m, SDC_STATUS_FORMAT, "%s argument %zu (%s) is %s, expected %s", fn, i + 1, role,
                describe(got, g, sizeof g), expected);
}

static sdc_status int_tuple(vm *m, const char *fn, size_t i, const char *role,
                            const sdc_pickle_value *v, int64_t *out, int *n, bool non_negative)
{
    const char *expected = non_negative ? "a tuple of at most 8 non-negative integers"
                                        : "a tuple of at most 8 integers";
    if (v->type != SDC_PICKLE_TYPE_TUPLE || v->u.seq.count > SDC_ST_MAX_DIMS)
        return bad_arg(m, fn, i, role, v, expected);
    for (size_t k = 0; k < v->u.seq.count; k++) {
        const sdc_pickle_value *d = v->u.seq.items[k];
        if (d->type != SDC_PICKLE_TYPE_INT || (non_negative && d->u.integer < 0))
            return bad_arg(m, fn, i, role, d, expected);
        out[k] = d->u.integer;
    }
    *n = (int)v->u.seq.count;
    return SDC_STATUS_OK;
}

/* _rebuild_tensor(storage, storage_offset, size, stride), _v2 adds (requires_grad,
 * backward_hooks[, metadata]), _v3 adds (requires_grad, backward_hooks, dtype[, metadata]). */
static sdc_status rebuild_tensor(vm *m, const sdc_pickle_value *fn, sdc_pickle_value **a, size_t n,
                                 sdc_pickle_value **out)
{
    const char *name = fn->u.global.name;
    sdc_pickle_global kind = fn->u.global.kind;
    size_t min = kind == SDC_PICKLE_GLOBAL_REBUILD_TENSOR      ? 4
                 : kind == SDC_PICKLE_GLOBAL_REBUILD_TENSOR_V2 ? 6
                                                               : 7;
    size_t max = kind == SDC_PICKLE_GLOBAL_REBUILD_TENSOR ? 4 : min + 1;
    if (n < min || n > max)
        return fail(m, SDC_STATUS_FORMAT, "%s called with %zu arguments, expected %zu%s", name, n,
                    min, max > min ? " or one more (metadata)" : "");
    sdc_pickle_value *t = new_value(m, SDC_PICKLE_TYPE_TENSOR);
    if (!t)
        return m->err;
    if (a[0]->type != SDC_PICKLE_TYPE_STORAGE)
        return bad_arg(m, name, 0, "storage", a[0], "a storage (a persistent id)");
    if (a[1]->type != SDC_PICKLE_TYPE_INT || a[1]->u.integer < 0)
        return bad_arg(m, name, 1, "storage_offset", a[1], "a non-negative integer");
    int ndim = 0, nstride = 0;
    sdc_status st;
    if ((st = int_tuple(m, name, 2, "size", a[2], t->u.tensor.shape, &ndim, true)) !=
            SDC_STATUS_OK ||
        (st = int_tuple(m, name, 3, "stride", a[3], t->u.tensor.stride, &nstride, false)) !=
            SDC_STATUS_OK)
        return st;
    if (nstride != ndim)
        return fail(m, SDC_STATUS_FORMAT, "%s: %d strides for %d dimensions", name, nstride, ndim);
    if (n > 4) {
        if (a[4]->type != SDC_PICKLE_TYPE_BOOL)
            return bad_arg(m, name, 4, "requires_grad", a[4], "True or False");
        if (a[5]->type != SDC_PICKLE_TYPE_DICT)
            return bad_arg(m, name, 5, "backward_hooks", a[5], "an OrderedDict");
    }
    sdc_dtype dtype = a[0]->u.storage.dtype;
    if (kind == SDC_PICKLE_GLOBAL_REBUILD_TENSOR_V3) {
        if (a[6]->type != SDC_PICKLE_TYPE_GLOBAL || a[6]->u.global.kind != SDC_PICKLE_GLOBAL_DTYPE)
            return bad_arg(m, name, 6, "dtype", a[6], "a torch dtype such as torch.float8_e4m3fn");
        dtype = a[6]->u.global.dtype;
    }
    if (n == max && n > min && a[n - 1]->type != SDC_PICKLE_TYPE_NONE &&
        a[n - 1]->type != SDC_PICKLE_TYPE_DICT)
        return bad_arg(m, name, n - 1, "metadata", a[n - 1], "None or a dict");
    t->u.tensor.storage = a[0];
    t->u.tensor.dtype = dtype;
    t->u.tensor.ndim = ndim;
    t->u.tensor.storage_offset = a[1]->u.integer;
    *out = t;
    return SDC_STATUS_OK;
}

/* _codecs.encode(text, "latin1"): protocol 2's way of writing bytes. */
static sdc_status codecs_encode(vm *m, sdc_pickle_value **a, size_t n, sdc_pickle_value **out)
{
    const char *fn = "_codecs.encode";
    if (n != 2)
        return fail(m, SDC_STATUS_FORMAT, "%s called with %zu arguments, expected 2", fn, n);
    if (a[0]->type != SDC_PICKLE_TYPE_STRING)
        return bad_arg(m, fn, 0, "text", a[0], "a string");
    if (!str_is(a[1], "latin1") && !str_is(a[1], "latin-1"))
        return bad_arg(m, fn, 1, "encoding", a[1], "\"latin1\"");
    const unsigned char *s = (const unsigned char *)a[0]->u.bytes.chars;
    size_t len = a[0]->u.bytes.len;
    sdc_pickle_value *v = new_value(m, SDC_PICKLE_TYPE_BYTES);
    unsigned char *b = v ? vm_alloc(m, len ? len : 1) : NULL;
    if (!b)
        return m->err;
    size_t o = 0;
    for (size_t i = 0; i < len; o++) {
        /* the string is valid UTF-8: each code point must fit in one byte */
        if (s[i] < 0x80) {
            b[o] = s[i++];
        } else if ((s[i] & 0xE0) == 0xC0 && s[i] <= 0xC3) {
            b[o] = (unsigned char)((s[i] & 0x03) << 6 | (s[i + 1] & 0x3F));
            i += 2;
        } else {
            return bad_arg(m, fn, 0, "text", a[0], "characters below U+0100 only");
        }
    }
    v->u.bytes.chars = (const char *)b;
    v->u.bytes.len = o;
    *out = v;
    return SDC_STATUS_OK;
}

static sdc_pickle_value *new_object(vm *m, const sdc_pickle_value *fn)
{
    sdc_pickle_value *v = new_value(m, SDC_PICKLE_TYPE_OBJECT);
    if (v) {
        v->u.global.kind = fn->u.global.kind;
        v->u.global.name = fn->u.global.name;
    }
    return v;
}

/* The inert numpy and builtin calls: checked for shape, kept as opaque objects. */
static sdc_status call_other(vm *m, const sdc_pickle_value *fn, sdc_pickle_value **a, size_t n,
                             sdc_pickle_value **out)
{
    const char *name = fn->u.global.name;
    switch (fn->u.global.kind) {
    case SDC_PICKLE_GLOBAL_NUMPY_SCALAR:
        if (n != 2)
            return fail(m, SDC_STATUS_FORMAT, "%s called with %zu arguments, expected 2", name, n);
        if (a[0]->type != SDC_PICKLE_TYPE_OBJECT ||
            a[0]->u.global.kind != SDC_PICKLE_GLOBAL_NUMPY_DTYPE)
            return bad_arg(m, name, 0, "dtype", a[0], "a numpy.dtype");
        if (a[1]->type != SDC_PICKLE_TYPE_BYTES)
            return bad_arg(m, name, 1, "value", a[1], "bytes");
        break;
    case SDC_PICKLE_GLOBAL_NUMPY_DTYPE:
        if (n != 3)
            return fail(m, SDC_STATUS_FORMAT, "%s called with %zu arguments, expected 3", name, n);
        if (a[0]->type != SDC_PICKLE_TYPE_STRING)
            return bad_arg(m, name, 0, "type", a[0], "a string such as \"i8\"");
        if (a[1]->type != SDC_PICKLE_TYPE_BOOL || a[2]->type != SDC_PICKLE_TYPE_BOOL)
            return bad_arg(m, name, a[1]->type != SDC_PICKLE_TYPE_BOOL ? 1 : 2, "flag",
                           a[a[1]->type != SDC_PICKLE_TYPE_BOOL ? 1 : 2], "True or False");
        break;
    case SDC_PICKLE_GLOBAL_NUMPY_RECONSTRUCT:
        if (n != 3)
            return fail(m, SDC_STATUS_FORMAT, "%s called with %zu arguments, expected 3", name, n);
        if (a[0]->type != SDC_PICKLE_TYPE_GLOBAL ||
            a[0]->u.global.kind != SDC_PICKLE_GLOBAL_NUMPY_NDARRAY)
            return bad_arg(m, name, 0, "subtype", a[0], "numpy.ndarray");
        if (a[1]->type != SDC_PICKLE_TYPE_TUPLE || a[2]->type != SDC_PICKLE_TYPE_BYTES)
            return bad_arg(m, name, a[1]->type != SDC_PICKLE_TYPE_TUPLE ? 1 : 2, "shape or order",
                           a[a[1]->type != SDC_PICKLE_TYPE_TUPLE ? 1 : 2], "a tuple, then bytes");
        break;
    case SDC_PICKLE_GLOBAL_SET:
        if (n > 1 || (n == 1 && a[0]->type != SDC_PICKLE_TYPE_LIST))
            return fail(m, SDC_STATUS_FORMAT, "%s called with %zu arguments, expected one list",
                        name, n);
        break;
    default:
        return fail(m, SDC_STATUS_INTERNAL, "no call for %s", name);
    }
    *out = new_object(m, fn);
    return *out ? SDC_STATUS_OK : m->err;
}

static sdc_status op_reduce(vm *m)
{
    sdc_pickle_value *args = NULL, *fn = NULL;
    sdc_status st;
    if ((st = pop(m, &args)) != SDC_STATUS_OK || (st = top(m, &fn)) != SDC_STATUS_OK)
        return st;
    char got[96];
    if (fn->type != SDC_PICKLE_TYPE_GLOBAL)
        return fail(m, SDC_STATUS_UNSUPPORTED,
                    "calls %s; only allowed torch, collections and numpy functions may be called",
                    describe(fn, got, sizeof got));
    if (args->type != SDC_PICKLE_TYPE_TUPLE)
        return fail(m, SDC_STATUS_FORMAT, "the arguments of %s are %s, expected a tuple",
                    fn->u.global.name, describe(args, got, sizeof got));
    sdc_pickle_value **a = args->u.seq.items;
    size_t n = args->u.seq.count;
    sdc_pickle_value *result = NULL;
    switch (fn->u.global.kind) {
    case SDC_PICKLE_GLOBAL_ORDERED_DICT:
        if (n != 0)
            return fail(m, SDC_STATUS_UNSUPPORTED,
                        "collections.OrderedDict called with %zu arguments; torch.save calls it "
                        "with none and adds the items after",
                        n);
        if (!(result = new_value(m, SDC_PICKLE_TYPE_DICT)))
            return m->err;
        break;
    case SDC_PICKLE_GLOBAL_REBUILD_TENSOR:
    case SDC_PICKLE_GLOBAL_REBUILD_TENSOR_V2:
    case SDC_PICKLE_GLOBAL_REBUILD_TENSOR_V3:
        if ((st = rebuild_tensor(m, fn, a, n, &result)) != SDC_STATUS_OK)
            return st;
        break;
    case SDC_PICKLE_GLOBAL_REBUILD_PARAMETER:
        /* _rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself */
        if (n != 3)
            return fail(m, SDC_STATUS_FORMAT, "%s called with %zu arguments, expected 3",
                        fn->u.global.name, n);
        if (a[0]->type != SDC_PICKLE_TYPE_TENSOR)
            return bad_arg(m, fn->u.global.name, 0, "data", a[0], "a tensor");
        if (a[1]->type != SDC_PICKLE_TYPE_BOOL || a[2]->type != SDC_PICKLE_TYPE_DICT)
            return bad_arg(m, fn->u.global.name, a[1]->type != SDC_PICKLE_TYPE_BOOL ? 1 : 2,
                           "requires_grad or backward_hooks",
                           a[a[1]->type != SDC_PICKLE_TYPE_BOOL ? 1 : 2],
                           "True or False, then an OrderedDict");
        result = a[0];
        break;
    case SDC_PICKLE_GLOBAL_TORCH_SIZE: {
        int64_t dims[SDC_ST_MAX_DIMS];
        int nd = 0;
        if (n != 1)
            return fail(m, SDC_STATUS_FORMAT, "torch.Size called with %zu arguments, expected 1",
                        n);
        if ((st = int_tuple(m, "torch.Size", 0, "sizes", a[0], dims, &nd, true)) != SDC_STATUS_OK)
            return st;
        result = a[0];
        break;
    }
    case SDC_PICKLE_GLOBAL_CODECS_ENCODE:
        if ((st = codecs_encode(m, a, n, &result)) != SDC_STATUS_OK)
            return st;
        break;
    case SDC_PICKLE_GLOBAL_NUMPY_SCALAR:
    case SDC_PICKLE_GLOBAL_NUMPY_DTYPE:
    case SDC_PICKLE_GLOBAL_NUMPY_RECONSTRUCT:
    case SDC_PICKLE_GLOBAL_SET:
        if ((st = call_other(m, fn, a, n, &result)) != SDC_STATUS_OK)
            return st;
        break;
    default:
        return fail(m, SDC_STATUS_UNSUPPORTED,
                    "calls %s, which sdc accepts only as a value, never as a function",
                    fn->u.global.name);
    }
    m->stack[m->n_stack - 1] = result;
    return SDC_STATUS_OK;
}

/* BUILD sets an object's state. torch.save writes it for a state dict's _metadata
 * (OrderedDict attributes) and numpy writes it for dtypes and arrays; nothing else may. */
static sdc_status op_build(vm *m)
{
    sdc_pickle_value *state = NULL, *obj = NULL;
    sdc_status st;
    if ((st = pop(m, &state)) != SDC_STATUS_OK || (st = top(m, &obj)) != SDC_STATUS_OK)
        return st;
    char got[96], s[96];
    if (obj->type == SDC_PICKLE_TYPE_DICT && state->type == SDC_PICKLE_TYPE_DICT)
        return SDC_STATUS_OK;
    if (obj->type == SDC_PICKLE_TYPE_OBJECT && state->type == SDC_PICKLE_TYPE_TUPLE &&
        (obj->u.global.kind == SDC_PICKLE_GLOBAL_NUMPY_DTYPE ||
         obj->u.global.kind == SDC_PICKLE_GLOBAL_NUMPY_RECONSTRUCT))
        return SDC_STATUS_OK;
    return fail(m, SDC_STATUS_UNSUPPORTED,
                "sets the state of %s to %s; sdc allows BUILD only on a dict (with a dict of "
                "attributes) and on numpy dtypes and arrays",
                describe(obj, got, sizeof got), describe(state, s, sizeof s));
}

/* A persistent id: ('storage', storage_type, key, location, numel), as torch.save writes it
 * (the legacy format adds view_metadata, which must be None). */
static sdc_status op_binpersid(vm *m)
{
    sdc_pickle_value *pid = NULL;
    sdc_status st = pop(m, &pid);
    if (st != SDC_STATUS_OK)
        return st;
    char got[96];
    if (pid->type != SDC_PICKLE_TYPE_TUPLE || pid->u.seq.count < 1 ||
        !str_is(pid->u.seq.items[0], "storage"))
        return fail(m, SDC_STATUS_UNSUPPORTED,
                    "persistent id is %s; sdc accepts only ('storage', type, key, location, "
                    "numel)",
                    pid->type == SDC_PICKLE_TYPE_TUPLE && pid->u.seq.count > 0
                        ? describe(pid->u.seq.items[0], got, sizeof got)
                        : describe(pid, got, sizeof got));
    size_t n = pid->u.seq.count;
    sdc_pickle_value **a = pid->u.seq.items;
    if (n != 5 && n != 6)
        return fail(m, SDC_STATUS_FORMAT,
                    "storage persistent id has %zu items, expected 5 (or 6 in the legacy format)",
                    n);
    if (a[1]->type != SDC_PICKLE_TYPE_GLOBAL ||
        a[1]->u.global.kind != SDC_PICKLE_GLOBAL_STORAGE_TYPE)
        return fail(m, SDC_STATUS_FORMAT,
                    "storage type is %s, expected a storage class such as "
                    "torch.FloatStorage",
                    describe(a[1], got, sizeof got));
    const sdc_pickle_value *key = a[2];
    bool digits =
        key->type == SDC_PICKLE_TYPE_STRING && key->u.bytes.len > 0 && key->u.bytes.len <= 20;
    for (size_t i = 0; digits && i < key->u.bytes.len; i++)
        digits = key->u.bytes.chars[i] >= '0' && key->u.bytes.chars[i] <= '9';
    if (!digits)
        return fail(m, SDC_STATUS_FORMAT,
                    "storage key is %s, expected a decimal number of 1 to 20 digits as "
                    "torch.save writes",
                    describe(key, got, sizeof got));
    if (a[3]->type != SDC_PICKLE_TYPE_STRING)
        return fail(m, SDC_STATUS_FORMAT,
                    "storage location is %s, expected a string such as "
                    "\"cpu\"",
                    describe(a[3], got, sizeof got));
    if (a[4]->type != SDC_PICKLE_TYPE_INT || a[4]->u.integer < 0)
        return fail(m, SDC_STATUS_FORMAT, "storage size is %s, expected a non-negative integer",
                    describe(a[4], got, sizeof got));
    if (n == 6 && a[5]->type != SDC_PICKLE_TYPE_NONE)
        return fail(m, SDC_STATUS_UNSUPPORTED,
                    "storage view (legacy view_metadata %s) is not supported: re-save with torch "
                    ">= 1.6 or convert to safetensors",
                    describe(a[5], got, sizeof got));
    sdc_pickle_value *v = new_value(m, SDC_PICKLE_TYPE_STORAGE);
    if (!v)
        return m->err;
    v->u.storage.dtype = a[1]->u.global.dtype;
    v->u.storage.untyped = a[1]->u.global.untyped;
    v->u.storage.key = key->u.bytes.chars;
    v->u.storage.key_len = key->u.bytes.len;
    v->u.storage.numel = (uint64_t)a[4]->u.integer;
    sdc_pickle *p = m->out;
    if (p->n_storages == m->cap_storages) {
        size_t cap = m->cap_storages ? m->cap_storages * 2 : 64;
        sdc_pickle_value **s = vm_alloc(m, cap * sizeof *s);
        if (!s)
            return m->err;
        if (p->n_storages)
            memcpy(s, p->storages, p->n_storages * sizeof *s);
        p->storages = s;
        m->cap_storages = cap;
    }
    p->storages[p->n_storages++] = v;
    return push(m, v);
}

/* ---------------------------------------------------------------------------------------- */
/* Operands into values                                                                       */

/* LONG1/LONG4: little-endian two's complement of n bytes. */
static sdc_status push_long(vm *m, uint64_t n)
{
    sdc_status st = need(m, n, "integer");
    if (st != SDC_STATUS_OK)
        return st;
    const unsigned char *b = m->data + m->pos;
    m->pos += (size_t)n;
    /* drop sign-extension bytes that do not change the value */
    size_t len = (size_t)n;
    while (len > 1 && ((b[len - 1] == 0x00 && !(b[len - 2] & 0x80)) ||
                       (b[len - 1] == 0xFF && (b[len - 2] & 0x80))))
        len--;
    sdc_pickle_value *v;
    if (len <= 8) {
        v = new_value(m, SDC_PICKLE_TYPE_INT);
        if (!v)
            return m->err;
        uint64_t u = len && (b[len - 1] & 0x80) ? ~(uint64_t)0 : 0;
        for (size_t i = len; i-- > 0;)
            u = u << 8 | b[i];
        v->u.integer = (int64_t)u;
    } else {
        v = new_value(m, SDC_PICKLE_TYPE_BIGINT);
        if (!v)
            return m->err;
        v->u.bytes.chars = (const char *)b;
        v->u.bytes.len = len;
    }
    return push(m, v);
}

static sdc_status push_text(vm *m, int len_bytes, sdc_pickle_type type)
{
    uint64_t n;
    sdc_status st = read_uint(m, len_bytes, &n);
    if (st != SDC_STATUS_OK)
        return st;
    if (m->op == OP_BINSTRING && n > INT32_MAX)
        return fail(m, SDC_STATUS_FORMAT, "negative string length %" PRId32, (int32_t)n);
    if ((st = need(m, n, type == SDC_PICKLE_TYPE_STRING ? "string" : "bytes")) != SDC_STATUS_OK)
        return st;
    const unsigned char *s = m->data + m->pos;
    if (type == SDC_PICKLE_TYPE_STRING) {
        size_t bad = utf8_check(s, (size_t)n);
        if (bad != n)
            return fail(m, SDC_STATUS_FORMAT,
                        "string of %" PRIu64 " bytes is not valid UTF-8 at "
                        "its byte %zu",
                        n, bad);
    }
    m->pos += (size_t)n;
    sdc_pickle_value *v = new_value(m, type);
    if (!v)
        return m->err;
    v->u.bytes.chars = (const char *)s;
    v->u.bytes.len = (size_t)n;
    return push(m, v);
}

static sdc_status memo_put(vm *m, uint64_t index)
{
    sdc_pickle_value *v = NULL;
    sdc_status st = top(m, &v);
    if (st != SDC_STATUS_OK)
        return st;
    if (index >= SDC_PICKLE_MAX_MEMO)
        return fail(m, SDC_STATUS_UNSUPPORTED, "memo index %" PRIu64 " is above sdc's limit of %zu",
                    index, SDC_PICKLE_MAX_MEMO - 1);
    if (index >= m->cap_memo) {
        size_t cap = m->cap_memo ? m->cap_memo : 256;
        while (cap <= index)
            cap *= 2;
        if (cap > SDC_PICKLE_MAX_MEMO)
            cap = SDC_PICKLE_MAX_MEMO;
        sdc_pickle_value **memo = sdc_realloc(m->ctx, m->memo, cap * sizeof *memo);
        if (!memo)
            return fail_oom(m, cap * sizeof *memo);
        memset(memo + m->cap_memo, 0, (cap - m->cap_memo) * sizeof *memo);
        m->memo = memo;
        m->cap_memo = cap;
    }
    if (!m->memo[index])
        m->n_memo++;
    m->memo[index] = v;
    return SDC_STATUS_OK;
}

static sdc_status memo_get(vm *m, uint64_t index)
{
    if (index >= m->cap_memo || !m->memo[index])
        return fail(m, SDC_STATUS_FORMAT, "memo index %" PRIu64 " was never stored (%zu stored)",
                    index, m->n_memo);
    return push(m, m->memo[index]);
}

/* ---------------------------------------------------------------------------------------- */
/* The loop                                                                                   */

static sdc_status push_new(vm *m, sdc_pickle_type type)
{
    sdc_pickle_value *v = new_value(m, type);
    return v ? push(m, v) : m->err;
}

static sdc_status step_tuple(vm *m, size_t n)
{
    if (m->n_stack - frame_base(m) < n)
        return fail(m, SDC_STATUS_FORMAT, "stack underflow: TUPLE%zu needs %zu values", n, n);
    sdc_pickle_value *t = NULL;
    sdc_status st = make_tuple(m, m->stack + m->n_stack - n, n, &t);
    if (st != SDC_STATUS_OK)
        return st;
    m->n_stack -= n;
    return push(m, t);
}

static sdc_status need_type(vm *m, const sdc_pickle_value *target, sdc_pickle_type type)
{
    char got[96];
    if (target->type != type)
        return fail(m, SDC_STATUS_FORMAT, "works on a %s but the stack holds %s",
                    sdc_pickle_type_name(type), describe(target, got, sizeof got));
    return SDC_STATUS_OK;
}

static sdc_status step(vm *m, bool *stop)
{
    sdc_status st = SDC_STATUS_OK;
    uint64_t u = 0;
    sdc_pickle_value *v = NULL, *k = NULL, *target = NULL, **items = NULL;
    size_t n = 0;
    switch (m->op) {
    case OP_PROTO:
        if ((st = read_uint(m, 1, &u)) != SDC_STATUS_OK)
            return st;
        if (u < 2 || u > 5)
            return fail(m, SDC_STATUS_UNSUPPORTED,
                        "pickle protocol %" PRIu64 "; torch.save "
                        "writes protocol 2 (sdc reads 2 to 5)",
                        u);
        return SDC_STATUS_OK;
    case OP_FRAME:
        if ((st = read_uint(m, 8, &u)) != SDC_STATUS_OK)
            return st;
        return need(m, u, "frame");
    case OP_STOP:
        if (m->n_marks != 0 || m->n_stack != 1)
            return fail(m, SDC_STATUS_FORMAT,
                        "the pickle ends with %zu values on the stack and "
                        "%zu open MARKs, expected exactly one value",
                        m->n_stack, m->n_marks);
        m->out->root = m->stack[0];
        *stop = true;
        return SDC_STATUS_OK;
    case OP_MARK:
        if (m->n_marks == m->cap_marks) {
            if (m->cap_marks >= SDC_PICKLE_MAX_MARKS)
                return fail(m, SDC_STATUS_UNSUPPORTED,
                            "more than %d nested MARKs, above sdc's "
                            "limit",
                            SDC_PICKLE_MAX_MARKS);
            size_t cap = m->cap_marks ? m->cap_marks * 2 : 16;
            size_t *marks = sdc_realloc(m->ctx, m->marks, cap * sizeof *marks);
            if (!marks)
                return fail_oom(m, cap * sizeof *marks);
            m->marks = marks;
            m->cap_marks = cap;
        }
        m->marks[m->n_marks++] = m->n_stack;
        return SDC_STATUS_OK;
    case OP_POP:
        if (m->n_stack > frame_base(m))
            return pop(m, &v);
        return pop_mark(m, &items, &n);
    case OP_POP_MARK:
        return pop_mark(m, &items, &n);
    case OP_NONE:
        return push(m, m->none);
    case OP_NEWTRUE:
        return push(m, m->yes);
    case OP_NEWFALSE:
        return push(m, m->no);
    case OP_BININT:
    case OP_BININT1:
    case OP_BININT2:
        if ((st = read_uint(m,
                            m->op == OP_BININT    ? 4
                            : m->op == OP_BININT1 ? 1
                                                  : 2,
                            &u)) != SDC_STATUS_OK)
            return st;
        if (!(v = new_value(m, SDC_PICKLE_TYPE_INT)))
            return m->err;
        v->u.integer = m->op == OP_BININT ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u;
        return push(m, v);
    case OP_LONG1:
    case OP_LONG4:
        if ((st = read_uint(m, m->op == OP_LONG1 ? 1 : 4, &u)) != SDC_STATUS_OK)
            return st;
        if (u > 64)
            return fail(m, SDC_STATUS_UNSUPPORTED,
                        "integer of %" PRIu64 " bytes; sdc reads at "
                        "most 64 (torch.save writes 64-bit sizes)",
                        u);
        return push_long(m, u);
    case OP_BINFLOAT:
        if ((st = need(m, 8, "float")) != SDC_STATUS_OK)
            return st;
        u = 0;
        for (int i = 0; i < 8; i++)
            u = u << 8 | m->data[m->pos++]; /* big-endian */
        if (!(v = new_value(m, SDC_PICKLE_TYPE_FLOAT)))
            return m->err;
        memcpy(&v->u.real, &u, sizeof u);
        return push(m, v);
    case OP_SHORT_BINUNICODE:
    case OP_SHORT_BINSTRING:
        return push_text(m, 1, SDC_PICKLE_TYPE_STRING);
    case OP_BINUNICODE:
    case OP_BINSTRING:
        return push_text(m, 4, SDC_PICKLE_TYPE_STRING);
    case OP_BINUNICODE8:
        return push_text(m, 8, SDC_PICKLE_TYPE_STRING);
    case OP_SHORT_BINBYTES:
        return push_text(m, 1, SDC_PICKLE_TYPE_BYTES);
    case OP_BINBYTES:
        return push_text(m, 4, SDC_PICKLE_TYPE_BYTES);
    case OP_BINBYTES8:
        return push_text(m, 8, SDC_PICKLE_TYPE_BYTES);
    case OP_EMPTY_TUPLE:
        return push(m, m->empty_tuple);
    case OP_TUPLE1:
    case OP_TUPLE2:
    case OP_TUPLE3:
        return step_tuple(m, (size_t)(m->op - OP_TUPLE1 + 1));
    case OP_TUPLE:
        if ((st = pop_mark(m, &items, &n)) != SDC_STATUS_OK ||
            (st = make_tuple(m, items, n, &v)) != SDC_STATUS_OK)
            return st;
        return push(m, v);
    case OP_EMPTY_LIST:
        return push_new(m, SDC_PICKLE_TYPE_LIST);
    case OP_EMPTY_DICT:
        return push_new(m, SDC_PICKLE_TYPE_DICT);
    case OP_APPEND:
        if ((st = pop(m, &v)) != SDC_STATUS_OK || (st = top(m, &target)) != SDC_STATUS_OK ||
            (st = need_type(m, target, SDC_PICKLE_TYPE_LIST)) != SDC_STATUS_OK)
            return st;
        return seq_append(m, target, v);
    case OP_APPENDS:
        if ((st = pop_mark(m, &items, &n)) != SDC_STATUS_OK ||
            (st = top(m, &target)) != SDC_STATUS_OK ||
            (st = need_type(m, target, SDC_PICKLE_TYPE_LIST)) != SDC_STATUS_OK)
            return st;
        for (size_t i = 0; i < n && st == SDC_STATUS_OK; i++)
            st = seq_append(m, target, items[i]);
        return st;
    case OP_SETITEM:
        if ((st = pop(m, &v)) != SDC_STATUS_OK || (st = pop(m, &k)) != SDC_STATUS_OK ||
            (st = top(m, &target)) != SDC_STATUS_OK ||
            (st = need_type(m, target, SDC_PICKLE_TYPE_DICT)) != SDC_STATUS_OK)
            return st;
        return dict_set(m, target, k, v);
    case OP_SETITEMS:
        if ((st = pop_mark(m, &items, &n)) != SDC_STATUS_OK ||
            (st = top(m, &target)) != SDC_STATUS_OK ||
            (st = need_type(m, target, SDC_PICKLE_TYPE_DICT)) != SDC_STATUS_OK)
            return st;
        if (n % 2 != 0)
            return fail(m, SDC_STATUS_FORMAT,
                        "%zu values after the MARK, expected key-value "
                        "pairs",
                        n);
        for (size_t i = 0; i < n && st == SDC_STATUS_OK; i += 2)
            st = dict_set(m, target, items[i], items[i + 1]);
        return st;
    case OP_EMPTY_SET:
    case OP_FROZENSET:
        /* protocol 4's sets: inert objects, their items only checked to be hashable */
        if (m->op == OP_FROZENSET && (st = pop_mark(m, &items, &n)) != SDC_STATUS_OK)
            return st;
        for (size_t i = 0; i < n; i++)
            if (!hashable(items[i]))
                return fail(m, SDC_STATUS_FORMAT, "a %s cannot be in a set",
                            sdc_pickle_type_name(items[i]->type));
        if (!(v = new_value(m, SDC_PICKLE_TYPE_OBJECT)))
            return m->err;
        v->u.global.kind = SDC_PICKLE_GLOBAL_SET;
        v->u.global.name = m->op == OP_FROZENSET ? "builtins.frozenset" : "builtins.set";
        return push(m, v);
    case OP_ADDITEMS:
        if ((st = pop_mark(m, &items, &n)) != SDC_STATUS_OK ||
            (st = top(m, &target)) != SDC_STATUS_OK)
            return st;
        if (target->type != SDC_PICKLE_TYPE_OBJECT ||
            target->u.global.kind != SDC_PICKLE_GLOBAL_SET)
            return fail(m, SDC_STATUS_FORMAT, "works on a set but the stack holds a %s",
                        sdc_pickle_type_name(target->type));
        for (size_t i = 0; i < n; i++)
            if (!hashable(items[i]))
                return fail(m, SDC_STATUS_FORMAT, "a %s cannot be in a set",
                            sdc_pickle_type_name(items[i]->type));
        return SDC_STATUS_OK;
    case OP_BINPUT:
    case OP_LONG_BINPUT:
        if ((st = read_uint(m, m->op == OP_BINPUT ? 1 : 4, &u)) != SDC_STATUS_OK)
            return st;
        return memo_put(m, u);
    case OP_MEMOIZE:
        return memo_put(m, m->n_memo);
    case OP_BINGET:
    case OP_LONG_BINGET:
        if ((st = read_uint(m, m->op == OP_BINGET ? 1 : 4, &u)) != SDC_STATUS_OK)
            return st;
        return memo_get(m, u);
    case OP_GLOBAL: {
        const char *mod, *name;
        size_t mod_len, name_len;
        if ((st = read_line(m, &mod, &mod_len)) != SDC_STATUS_OK ||
            (st = read_line(m, &name, &name_len)) != SDC_STATUS_OK)
            return st;
        return push_global(m, mod, mod_len, name, name_len);
    }
    case OP_STACK_GLOBAL:
        if ((st = pop(m, &v)) != SDC_STATUS_OK || (st = pop(m, &k)) != SDC_STATUS_OK)
            return st;
        if (k->type != SDC_PICKLE_TYPE_STRING || v->type != SDC_PICKLE_TYPE_STRING)
            return fail(m, SDC_STATUS_FORMAT, "module and name must be strings, got a %s and a %s",
                        sdc_pickle_type_name(k->type), sdc_pickle_type_name(v->type));
        return push_global(m, k->u.bytes.chars, k->u.bytes.len, v->u.bytes.chars, v->u.bytes.len);
    case OP_REDUCE:
        return op_reduce(m);
    case OP_BUILD:
        return op_build(m);
    case OP_BINPERSID:
        return op_binpersid(m);
    default:
        if (op_names[m->op])
            return fail(m, SDC_STATUS_UNSUPPORTED,
                        "opcode 0x%02x is not one torch.save writes for a checkpoint; sdc refuses "
                        "it",
                        (unsigned)m->op);
        return fail(m, SDC_STATUS_FORMAT, "unknown opcode 0x%02x", (unsigned)m->op);
    }
}

static sdc_status make_constants(vm *m)
{
    if (!(m->none = new_value(m, SDC_PICKLE_TYPE_NONE)) ||
        !(m->yes = new_value(m, SDC_PICKLE_TYPE_BOOL)) ||
        !(m->no = new_value(m, SDC_PICKLE_TYPE_BOOL)) ||
        !(m->empty_tuple = new_value(m, SDC_PICKLE_TYPE_TUPLE)))
        return m->err;
    m->yes->u.boolean = true;
    return SDC_STATUS_OK;
}

sdc_status sdc_pickle_load(sdc_context *ctx, const void *data, size_t size, const char *what,
                           sdc_pickle **out)
{
    *out = NULL;
    sdc_pickle *p = sdc_calloc(ctx, 1, sizeof *p);
    if (!p)
        return sdc_fail_oom(ctx, what, sizeof *p);
    sdc_arena_init(&p->arena, ctx, (size_t)1 << 16);
    vm m = {.ctx = ctx, .what = what, .data = data, .size = data ? size : 0, .out = p};
    sdc_status st = make_constants(&m);
    bool stop = false;
    while (st == SDC_STATUS_OK && !stop) {
        m.op_pos = m.pos;
        if (m.pos >= m.size) {
            m.op = -1;
            st = fail(&m, SDC_STATUS_FORMAT, "the pickle ends without a STOP opcode (truncated)");
            break;
        }
        m.op = m.data[m.pos++];
        st = step(&m, &stop);
    }
    sdc_free(ctx, m.stack);
    sdc_free(ctx, m.marks);
    sdc_free(ctx, m.memo);
    if (st != SDC_STATUS_OK) {
        sdc_pickle_free(ctx, p);
        return st;
    }
    p->consumed = m.pos;
    *out = p;
    return SDC_STATUS_OK;
}

void sdc_pickle_free(sdc_context *ctx, sdc_pickle *pickle)
{
    if (!pickle)
        return;
    sdc_arena_release(&pickle->arena);
    sdc_free(ctx, pickle);
}
