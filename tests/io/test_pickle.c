/*
 * Tests src/io/pickle.c: every hostile pickle of tests/data/pickle/NAME.pkl (written by
 * tools/reference/make_ckpt_samples.py) is refused with its own status and message naming the
 * opcode, byte offset or global; the values built from valid opcodes (integers of every width,
 * floats, strings, bytes via _codecs.encode, memo sharing, containers, tensors, storages, the
 * protocol 4 opcodes); deep nesting without recursion; allocation failure at every point.
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

static sdc_status load(const void *data, size_t size, sdc_pickle **out)
{
    return sdc_pickle_load(ctx, data, size, "t.pkl", out);
}

/* ---------------------------------------------------------------------------------------- */
/* The hostile corpus                                                                         */

typedef struct hostile_case {
    const char *file;
    sdc_status status;
    const char *needle;  /* distinctive part of the message */
    const char *needle2; /* where: "byte N (OPCODE)" */
} hostile_case;

static const hostile_case hostile[] = {
    /* code execution through globals, whatever way they are spelled */
    {"reduce_os_system", SDC_STATUS_UNSUPPORTED, "global \"posix.system\" is not allowed",
     "byte 2 (GLOBAL)"},
    {"proto0_os_system", SDC_STATUS_UNSUPPORTED, "global \"os.system\" is not allowed",
     "byte 0 (GLOBAL)"},
    {"builtins_eval", SDC_STATUS_UNSUPPORTED, "global \"__builtin__.eval\"", "byte 2 (GLOBAL)"},
    {"builtins_exec", SDC_STATUS_UNSUPPORTED, "global \"builtins.exec\"", "byte 2 (GLOBAL)"},
    {"posix_system_stack_global", SDC_STATUS_UNSUPPORTED, "global \"posix.system\"",
     "byte 19 (STACK_GLOBAL)"},
    /* Python 3 writes subprocess.Popen under its Python 2 name at protocol 2 */
    {"subprocess_popen", SDC_STATUS_UNSUPPORTED, "global \"commands.Popen\" is not allowed",
     "byte 2 (GLOBAL)"},
    {"torch_load_from_bytes", SDC_STATUS_UNSUPPORTED, "global \"torch.storage._load_from_bytes\"",
     "byte 2 (GLOBAL)"},
    {"complex_storage", SDC_STATUS_UNSUPPORTED, "global \"torch.ComplexFloatStorage\"", "(GLOBAL)"},
    /* calls of anything but an allowed function */
    {"nested_reduce", SDC_STATUS_UNSUPPORTED, "calls a dict; only allowed", "byte 30 (REDUCE)"},
    {"reduce_storage_type", SDC_STATUS_UNSUPPORTED,
     "calls torch.FloatStorage, which sdc accepts only as a value", "(REDUCE)"},
    {"reduce_lightning_class", SDC_STATUS_UNSUPPORTED,
     "calls pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint, which", "(REDUCE)"},
    {"rebuild_one_arg", SDC_STATUS_FORMAT,
     "torch._utils._rebuild_tensor_v2 called with 1 arguments, expected 6", "(REDUCE)"},
    {"rebuild_string_storage", SDC_STATUS_FORMAT,
     "argument 1 (storage) is the string \"storage\", expected a storage", "(REDUCE)"},
    {"rebuild_nine_dims", SDC_STATUS_FORMAT,
     "argument 3 (size) is a tuple, expected a tuple of at most 8", "(REDUCE)"},
    {"rebuild_negative_size", SDC_STATUS_FORMAT,
     "argument 3 (size) is the integer -1, expected a tuple of at most 8 non-negative", "(REDUCE)"},
    {"codecs_utf8", SDC_STATUS_FORMAT,
     "_codecs.encode argument 2 (encoding) is the string \"utf-8\"", "(REDUCE)"},
    /* object construction and state */
    {"build_on_list", SDC_STATUS_UNSUPPORTED, "sets the state of a list to a dict",
     "byte 4 (BUILD)"},
    {"build_on_tensor", SDC_STATUS_UNSUPPORTED, "sets the state of a tensor to a dict", "(BUILD)"},
    {"inst", SDC_STATUS_UNSUPPORTED, "opcode 0x69 is not one torch.save writes", "byte 1 (INST)"},
    {"obj", SDC_STATUS_UNSUPPORTED, "opcode 0x6f is not one torch.save writes", "(OBJ)"},
    {"newobj", SDC_STATUS_UNSUPPORTED, "opcode 0x81 is not one torch.save writes",
     "byte 28 (NEWOBJ)"},
    {"ext1", SDC_STATUS_UNSUPPORTED, "opcode 0x82", "byte 2 (EXT1)"},
    {"unknown_opcode", SDC_STATUS_FORMAT, "unknown opcode 0xff", "byte 2 (unknown opcode)"},
    {"protocol_99", SDC_STATUS_UNSUPPORTED, "pickle protocol 99", "byte 0 (PROTO)"},
    /* sizes */
    {"huge_string", SDC_STATUS_FORMAT,
     "string of 4294967295 bytes runs past the end of the pickle (4 bytes remain)",
     "byte 2 (BINUNICODE)"},
    {"huge_string8", SDC_STATUS_FORMAT, "string of 9223372036854775808 bytes runs past",
     "byte 2 (BINUNICODE8)"},
    {"huge_long", SDC_STATUS_UNSUPPORTED, "integer of 2147483647 bytes", "byte 2 (LONG4)"},
    {"frame_past_end", SDC_STATUS_FORMAT, "frame of 4611686018427387904 bytes runs past",
     "byte 2 (FRAME)"},
    {"invalid_utf8", SDC_STATUS_FORMAT, "is not valid UTF-8 at its byte 0", "byte 2 (BINUNICODE)"},
    {"deep_mark", SDC_STATUS_UNSUPPORTED, "more than 1024 nested MARKs", "byte 1026 (MARK)"},
    {"global_no_newline", SDC_STATUS_FORMAT, "not ended by a newline within 257 bytes",
     "byte 2 (GLOBAL)"},
    /* the memo */
    {"memo_get_missing", SDC_STATUS_FORMAT, "memo index 5 was never stored (0 stored)",
     "byte 2 (BINGET)"},
    {"memo_long_get_missing", SDC_STATUS_FORMAT, "memo index 4294967295 was never stored",
     "byte 5 (LONG_BINGET)"},
    {"memo_put_huge", SDC_STATUS_UNSUPPORTED, "memo index 4294967295 is above sdc's limit",
     "byte 3 (LONG_BINPUT)"},
    /* persistent ids */
    {"persid_bad_key", SDC_STATUS_FORMAT,
     "storage key is the string \"../../etc/passwd\", expected a decimal number", "(BINPERSID)"},
    {"persid_module", SDC_STATUS_UNSUPPORTED,
     "persistent id is the string \"module\"; sdc accepts only ('storage'", "(BINPERSID)"},
    {"persid_not_tuple", SDC_STATUS_UNSUPPORTED, "persistent id is the string \"storage\"",
     "byte 14 (BINPERSID)"},
    /* stack discipline */
    {"stack_underflow", SDC_STATUS_FORMAT, "stack underflow", "byte 2 (REDUCE)"},
    {"setitem_on_list", SDC_STATUS_FORMAT, "works on a dict but the stack holds a list",
     "byte 5 (SETITEM)"},
    {"dict_key_list", SDC_STATUS_FORMAT, "a list cannot be a dict key", "byte 5 (SETITEM)"},
    {"appends_without_mark", SDC_STATUS_FORMAT, "no MARK to close", "byte 4 (APPENDS)"},
    {"no_stop", SDC_STATUS_FORMAT, "ends without a STOP opcode (truncated)", "byte 11"},
    {"stop_two_values", SDC_STATUS_FORMAT, "ends with 2 values on the stack", "byte 4 (STOP)"},
};

static void test_hostile_corpus(void)
{
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        const hostile_case *c = &hostile[i];
        char rel[128];
        snprintf(rel, sizeof rel, "pickle/%s.pkl", c->file);
        char *data = NULL;
        size_t size = 0;
        if (sdc_file_read_all(ctx, test_path(SDC_TEST_DATA_DIR, rel), &data, &size) !=
            SDC_STATUS_OK) {
            CHECK_MSG(false, "%s: %s", rel, sdc_context_errmsg(ctx));
            continue;
        }
        sdc_pickle *p = (sdc_pickle *)1;
        sdc_status st = sdc_pickle_load(ctx, data, size, c->file, &p);
        CHECK_MSG(st == c->status, "%s: status %d, expected %d (%s)", c->file, (int)st,
                  (int)c->status, sdc_context_errmsg(ctx));
        CHECK(p == NULL);
        const char *msg = sdc_context_errmsg(ctx);
        CHECK_MSG(strncmp(msg, c->file, strlen(c->file)) == 0, "%s: message names the input: %s",
                  c->file, msg);
        CHECK_CONTAINS(msg, c->needle);
        CHECK_CONTAINS(msg, c->needle2);
        sdc_free(ctx, data);
        check_no_leak();
    }
}

/* Inputs that are not hostile at the pickle level: the VM builds them (the checkpoint layer
 * refuses what does not make a state dict). */
static void test_corpus_controls(void)
{
    char *data = NULL;
    size_t size = 0;
    CHECK(sdc_file_read_all(ctx, test_path(SDC_TEST_DATA_DIR, "pickle/deep_tuple.pkl"), &data,
                            &size) == SDC_STATUS_OK);
    sdc_pickle *p = NULL;
    CHECK(load(data, size, &p) == SDC_STATUS_OK);
    if (p) {
        /* 20000 nested 1-tuples around None, walked without recursion */
        const sdc_pickle_value *v = p->root;
        int depth = 0;
        while (v->type == SDC_PICKLE_TYPE_TUPLE && v->u.seq.count == 1) {
            v = v->u.seq.items[0];
            depth++;
        }
        CHECK_EQ_INT(depth, 20000);
        CHECK_EQ_INT(v->type, SDC_PICKLE_TYPE_NONE);
        CHECK_EQ_INT(p->consumed, size);
    }
    sdc_pickle_free(ctx, p);
    sdc_free(ctx, data);

    CHECK(sdc_file_read_all(ctx, test_path(SDC_TEST_DATA_DIR, "pickle/_valid_state.pkl"), &data,
                            &size) == SDC_STATUS_OK);
    p = NULL;
    CHECK(load(data, size, &p) == SDC_STATUS_OK);
    if (p) {
        const sdc_pickle_value *root = p->root;
        CHECK_EQ_INT(root->type, SDC_PICKLE_TYPE_DICT);
        CHECK_EQ_INT(root->u.dict.count, 1);
        const sdc_pickle_value *sd = root->u.dict.items[0].value;
        CHECK_EQ_INT(sd->type, SDC_PICKLE_TYPE_DICT);
        const sdc_pickle_value *t = sd->u.dict.items[0].value;
        CHECK_EQ_INT(t->type, SDC_PICKLE_TYPE_TENSOR);
        CHECK_EQ_INT(t->u.tensor.dtype, SDC_DTYPE_F32);
        CHECK_EQ_INT(t->u.tensor.ndim, 1);
        CHECK_EQ_INT(t->u.tensor.shape[0], 4);
        CHECK_EQ_INT(t->u.tensor.stride[0], 1);
        CHECK_EQ_INT(t->u.tensor.storage_offset, 0);
        const sdc_pickle_value *s = t->u.tensor.storage;
        CHECK_EQ_INT(s->type, SDC_PICKLE_TYPE_STORAGE);
        CHECK(s->u.storage.key_len == 1 && s->u.storage.key[0] == '0');
        CHECK_EQ_INT(s->u.storage.numel, 4);
        CHECK_EQ_INT(p->n_storages, 1);
        CHECK(p->storages[0] == s);
    }
    sdc_pickle_free(ctx, p);
    sdc_free(ctx, data);
    check_no_leak();
}

/* ---------------------------------------------------------------------------------------- */
/* Values                                                                                     */

#define PICKLE(s) (s), sizeof(s) - 1

static void test_integers(void)
{
    /* [BININT -2, BININT1 255, BININT2 65535, LONG1 0 bytes, LONG1 -1, LONG1 2^63 (9 bytes),
     *  LONG1 with redundant sign bytes, LONG4 of 2 bytes] */
    /* clang-format off */
    static const char pk[] = "\x80\x02]("
                             "J\xfe\xff\xff\xff"
                             "K\xff"
                             "M\xff\xff"
                             "\x8a\x00"
                             "\x8a\x01\xff"
                             "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00"
                             "\x8a\x04\x05\x00\x00\x00"
                             "\x8b\x02\x00\x00\x00\x00\x80"
                             "e.";
    /* clang-format on */
    sdc_pickle *p = NULL;
    CHECK(load(PICKLE(pk), &p) == SDC_STATUS_OK);
    if (!p)
        return;
    const sdc_pickle_value *l = p->root;
    CHECK_EQ_INT(l->type, SDC_PICKLE_TYPE_LIST);
    CHECK_EQ_INT(l->u.seq.count, 8);
    static const int64_t want[] = {-2, 255, 65535, 0, -1, 0, 5, -32768};
    for (size_t i = 0; i < 8 && i < l->u.seq.count; i++) {
        const sdc_pickle_value *v = l->u.seq.items[i];
        if (i == 5) {
            CHECK_EQ_INT(v->type, SDC_PICKLE_TYPE_BIGINT);
            CHECK_EQ_INT(v->u.bytes.len, 9);
            continue;
        }
        CHECK_EQ_INT(v->type, SDC_PICKLE_TYPE_INT);
        CHECK_EQ_INT(v->u.integer, want[i]);
    }
    sdc_pickle_free(ctx, p);
    check_no_leak();
}

static void test_scalars_and_strings(void)
{
    /* (1.5, "é", b"ab", True, False, None, "xé" as bytes via _codecs.encode, u"" short) */
    /* clang-format off */
    static const char pk[] = "\x80\x02("
                             "G\x3f\xf8\x00\x00\x00\x00\x00\x00"
                             "X\x02\x00\x00\x00\xc3\xa9"
                             "C\x02" "ab"
                             "\x88\x89N"
                             "c_codecs\nencode\nX\x03\x00\x00\x00x\xc3\xbf"
                             "X\x06\x00\x00\x00latin1\x86R"
                             "\x8c\x00"
                             "U\x03" "abc"
                             "t.";
    /* clang-format on */
    sdc_pickle *p = NULL;
    sdc_status st = load(PICKLE(pk), &p);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    if (!p)
        return;
    const sdc_pickle_value *t = p->root;
    CHECK_EQ_INT(t->type, SDC_PICKLE_TYPE_TUPLE);
    CHECK_EQ_INT(t->u.seq.count, 9);
    sdc_pickle_value **v = t->u.seq.items;
    CHECK(v[0]->type == SDC_PICKLE_TYPE_FLOAT && v[0]->u.real == 1.5);
    CHECK(v[1]->type == SDC_PICKLE_TYPE_STRING && v[1]->u.bytes.len == 2 &&
          memcmp(v[1]->u.bytes.chars, "\xc3\xa9", 2) == 0);
    CHECK(v[2]->type == SDC_PICKLE_TYPE_BYTES && v[2]->u.bytes.len == 2);
    CHECK(v[3]->type == SDC_PICKLE_TYPE_BOOL && v[3]->u.boolean);
    CHECK(v[4]->type == SDC_PICKLE_TYPE_BOOL && !v[4]->u.boolean);
    CHECK(v[5]->type == SDC_PICKLE_TYPE_NONE);
    CHECK(v[6]->type == SDC_PICKLE_TYPE_BYTES && v[6]->u.bytes.len == 2 &&
          memcmp(v[6]->u.bytes.chars, "x\xff", 2) == 0);
    CHECK(v[7]->type == SDC_PICKLE_TYPE_STRING && v[7]->u.bytes.len == 0);
    CHECK(v[8]->type == SDC_PICKLE_TYPE_STRING && v[8]->u.bytes.len == 3);
    sdc_pickle_free(ctx, p);

    /* _codecs.encode of a character above U+00FF has no latin-1 byte */
    /* clang-format off */
    static const char bad[] = "\x80\x02" "c_codecs\nencode\nX\x03\x00\x00\x00\xe2\x82\xac"
                              "X\x06\x00\x00\x00latin1\x86R.";
    /* clang-format on */
    CHECK_EQ_INT(load(PICKLE(bad), &p), SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "expected characters below U+0100 only");
    /* overlong and surrogate encodings are not UTF-8 */
    CHECK_EQ_INT(load(PICKLE("\x80\x02X\x02\x00\x00\x00\xc0\x80."), &p), SDC_STATUS_FORMAT);
    CHECK_EQ_INT(load(PICKLE("\x80\x02X\x03\x00\x00\x00\xed\xa0\x80."), &p), SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "not valid UTF-8");
    check_no_leak();
}

static void test_memo_and_containers(void)
{
    /* d = {}; l = [d, d]; {"l": l, "k": (1, 2), "k": 3} with POP and POP_MARK in between */
    /* clang-format off */
    static const char pk[] = "\x80\x02}q\x00"
                             "(N1"
                             "]q\x01(h\x00h\x00" "e"
                             "0"
                             "(X\x01\x00\x00\x00l" "h\x01"
                             "X\x01\x00\x00\x00k" "K\x01K\x02\x86"
                             "X\x01\x00\x00\x00k" "K\x03"
                             "u"
                             "h\x01" "0"
                             ".";
    /* clang-format on */
    sdc_pickle *p = NULL;
    sdc_status st = load(PICKLE(pk), &p);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    if (!p)
        return;
    /* the root is the dict: the list on top of it was popped */
    const sdc_pickle_value *d = p->root;
    CHECK_EQ_INT(d->type, SDC_PICKLE_TYPE_DICT);
    CHECK_EQ_INT(d->u.dict.count, 3);
    const sdc_pickle_value *l = d->u.dict.items[0].value;
    CHECK_EQ_INT(l->type, SDC_PICKLE_TYPE_LIST);
    CHECK_EQ_INT(l->u.seq.count, 2);
    /* the memo shares values: the list holds the root dict itself, twice (a cycle) */
    CHECK(l->u.seq.items[0] == d && l->u.seq.items[1] == d);
    /* repeated keys are kept in order; readers take the last */
    CHECK_EQ_INT(d->u.dict.items[2].value->u.integer, 3);
    sdc_pickle_free(ctx, p);
    check_no_leak();
}

static void test_protocol4_and_trailing(void)
{
    /* FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, EMPTY_SET + ADDITEMS, FROZENSET,
     * BINBYTES8; then bytes after STOP that the caller may read (legacy files) */
    /* clang-format off */
    static const char pk[] = "\x80\x04\x95\x30\x00\x00\x00\x00\x00\x00\x00"
                             "(\x8c\x0b" "collections\x94\x8c\x0b" "OrderedDict\x94\x93)R\x94"
                             "\x8f(K\x01K\x02\x90"
                             "(K\x03\x91"
                             "\x8e\x01\x00\x00\x00\x00\x00\x00\x00z"
                             "h\x02"
                             "t.TRAILING";
    /* clang-format on */
    sdc_pickle *p = NULL;
    sdc_status st = load(PICKLE(pk), &p);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    if (!p)
        return;
    CHECK_EQ_INT(p->consumed, sizeof pk - 1 - strlen("TRAILING"));
    const sdc_pickle_value *t = p->root;
    CHECK_EQ_INT(t->type, SDC_PICKLE_TYPE_TUPLE);
    CHECK_EQ_INT(t->u.seq.count, 5);
    CHECK_EQ_INT(t->u.seq.items[0]->type, SDC_PICKLE_TYPE_DICT);
    CHECK_EQ_INT(t->u.seq.items[1]->type, SDC_PICKLE_TYPE_OBJECT);
    CHECK_EQ_INT(t->u.seq.items[2]->type, SDC_PICKLE_TYPE_OBJECT);
    CHECK_EQ_INT(t->u.seq.items[3]->type, SDC_PICKLE_TYPE_BYTES);
    CHECK(t->u.seq.items[4] == t->u.seq.items[0]); /* MEMOIZE numbered it 2 */
    sdc_pickle_free(ctx, p);
    check_no_leak();
}

static void test_allowed_calls(void)
{
    /* numpy scalar (a numpy global_step), set([1]), torch.Size, _rebuild_parameter of a
     * _rebuild_tensor (v1) of an untyped storage, _rebuild_tensor_v3 with float8 */
    /* clang-format off */
    static const char pk[] =
        "\x80\x02("
        "cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00i8\x89\x88\x87R"
        "(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        "C\x08\x05\x00\x00\x00\x00\x00\x00\x00\x86R"
        "c__builtin__\nset\n]K\x01" "a\x85R"
        "ctorch\nSize\nK\x02K\x03\x86\x85R"
        "ctorch._utils\n_rebuild_parameter\n"
        "ctorch._utils\n_rebuild_tensor\n((X\x07\x00\x00\x00storagectorch.storage\nUntypedStorage\n"
        "X\x01\x00\x00\x00" "3X\x04\x00\x00\x00" "cudaK\x10tQK\x04K\x02K\x02\x86K\x02K\x01\x86tR"
        "\x88}\x87R"
        "ctorch._utils\n_rebuild_tensor_v3\n"
        "((X\x07\x00\x00\x00storagectorch.storage\nUntypedStorage\n"
        "X\x01\x00\x00\x00" "4X\x03\x00\x00\x00" "cpuK\x03tQK\x00K\x03\x85K\x01\x85\x89}"
        "ctorch\nfloat8_e4m3fn\nNtR"
        "t.";
    /* clang-format on */
    sdc_pickle *p = NULL;
    sdc_status st = load(PICKLE(pk), &p);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    if (!p)
        return;
    sdc_pickle_value **v = p->root->u.seq.items;
    CHECK_EQ_INT(p->root->u.seq.count, 5);
    CHECK(v[0]->type == SDC_PICKLE_TYPE_OBJECT &&
          v[0]->u.global.kind == SDC_PICKLE_GLOBAL_NUMPY_SCALAR);
    CHECK(v[1]->type == SDC_PICKLE_TYPE_OBJECT && v[1]->u.global.kind == SDC_PICKLE_GLOBAL_SET);
    CHECK(v[2]->type == SDC_PICKLE_TYPE_TUPLE && v[2]->u.seq.count == 2);
    /* the parameter is its tensor: uint8 elements of an untyped storage of 16 bytes */
    CHECK_EQ_INT(v[3]->type, SDC_PICKLE_TYPE_TENSOR);
    CHECK_EQ_INT(v[3]->u.tensor.dtype, SDC_DTYPE_U8);
    CHECK_EQ_INT(v[3]->u.tensor.storage_offset, 4);
    CHECK_EQ_INT(v[3]->u.tensor.storage->u.storage.numel, 16);
    CHECK(v[3]->u.tensor.storage->u.storage.untyped);
    CHECK_EQ_INT(v[4]->type, SDC_PICKLE_TYPE_TENSOR);
    CHECK_EQ_INT(v[4]->u.tensor.dtype, SDC_DTYPE_F8_E4M3);
    CHECK_EQ_INT(p->n_storages, 2);
    sdc_pickle_free(ctx, p);
    check_no_leak();
}

static void test_type_names(void)
{
    for (int t = 0; t < SDC_PICKLE_TYPE_COUNT; t++)
        CHECK(strlen(sdc_pickle_type_name((sdc_pickle_type)t)) > 0);
    CHECK_EQ_STR(sdc_pickle_type_name(SDC_PICKLE_TYPE_COUNT), "?");
    sdc_pickle *p = (sdc_pickle *)1;
    CHECK_EQ_INT(load(NULL, 0, &p), SDC_STATUS_FORMAT);
    CHECK(p == NULL);
    CHECK_CONTAINS(sdc_context_errmsg(ctx),
                   "t.pkl: byte 0 (end of input): the pickle ends without a STOP");
    sdc_pickle_free(ctx, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Allocation failures                                                                        */

static void test_fault_injection(void)
{
    char *data = NULL;
    size_t size = 0;
    CHECK(sdc_file_read_all(ctx, test_path(SDC_TEST_DATA_DIR, "pickle/_valid_state.pkl"), &data,
                            &size) == SDC_STATUS_OK);
    sdc_alloc_stats s;
    uint64_t n;
    for (n = 1; n < 1000; n++) {
        sdc_alloc_get_stats(ctx, &s);
        size_t live = s.live_bytes;
        sdc_alloc_fail_nth(ctx, n);
        sdc_pickle *p = NULL;
        sdc_status st = load(data, size, &p);
        sdc_alloc_fail_nth(ctx, 0);
        sdc_pickle_free(ctx, p);
        sdc_alloc_get_stats(ctx, &s);
        CHECK_EQ_INT(s.live_bytes, live);
        if (st == SDC_STATUS_OK)
            break;
        CHECK_EQ_INT(st, SDC_STATUS_OUT_OF_MEMORY);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "out of memory");
    }
    CHECK(n > 3 && n < 1000);
    sdc_free(ctx, data);
    check_no_leak();
}

int main(void)
{
    sdc_context_params params = sdc_context_default_params();
    params.n_threads = 1;
    if (sdc_context_create(&params, &ctx) != SDC_STATUS_OK)
        return 1;
    RUN(test_hostile_corpus);
    RUN(test_corpus_controls);
    RUN(test_integers);
    RUN(test_scalars_and_strings);
    RUN(test_memo_and_containers);
    RUN(test_protocol4_and_trailing);
    RUN(test_allowed_calls);
    RUN(test_type_names);
    RUN(test_fault_injection);
    sdc_context_destroy(ctx);
    return test_finish();
}
