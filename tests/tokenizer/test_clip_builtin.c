/*
 * The CLIP vocabulary built into the library (src/tokenizer/clip_builtin.c): the embedded
 * merges.txt is tests/data/clip's byte for byte, the vocab.json derived from it has exactly
 * the entries of tests/data/clip/vocab.json, and a tokenizer made from it gives the same ids
 * as one read from the files, with either pad token.
 */
#include "io/io.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>

static sdc_context *ctx;

static void test_files(void)
{
    char *vocab = NULL, *merges_file = NULL, *vocab_file = NULL;
    size_t vocab_size = 0, merges_size = 0, merges_file_size = 0, vocab_file_size = 0;
    const char *merges = NULL;
    CHECK(sdc_tok_clip_builtin_vocab(ctx, &vocab, &vocab_size, &merges, &merges_size) ==
          SDC_STATUS_OK);
    CHECK(sdc_file_read_all(ctx, SDC_TEST_DATA_DIR "/clip/merges.txt", &merges_file,
                            &merges_file_size) == SDC_STATUS_OK);
    CHECK(sdc_file_read_all(ctx, SDC_TEST_DATA_DIR "/clip/vocab.json", &vocab_file,
                            &vocab_file_size) == SDC_STATUS_OK);
    CHECK(merges && merges_file && merges_size == merges_file_size &&
          memcmp(merges, merges_file, merges_size) == 0);
    sdc_json_doc *a = NULL, *b = NULL;
    CHECK(vocab && sdc_json_parse(ctx, vocab, vocab_size, "derived", &a) == SDC_STATUS_OK);
    CHECK(vocab_file &&
          sdc_json_parse(ctx, vocab_file, vocab_file_size, "vocab.json", &b) == SDC_STATUS_OK);
    if (a && b) {
        CHECK_EQ_INT(a->root->u.object.count, 49408);
        CHECK_EQ_INT(a->root->u.object.count, b->root->u.object.count);
        size_t differ = 0;
        for (size_t i = 0; i < b->root->u.object.count; i++) {
            const sdc_json_member *m = &b->root->u.object.members[i];
            const sdc_json *v = sdc_json_get(a->root, m->key);
            if (!v || v->type != SDC_JSON_TYPE_NUMBER ||
                v->u.number.int_value != m->value->u.number.int_value)
                differ++;
        }
        CHECK_MSG(differ == 0, "%zu tokens differ from vocab.json", differ);
    }
    sdc_json_free(a);
    sdc_json_free(b);
    sdc_free(ctx, vocab);
    sdc_free(ctx, merges_file);
    sdc_free(ctx, vocab_file);
}

static void test_same_ids(void)
{
    static const char *const texts[] = {
        "a photo of an astronaut riding a horse on mars",
        "\"Quotes\" and \\backslashes\\, caf\xc3\xa9 (4k)!! \xf0\x9f\x98\x80 ",
        "",
    };
    static const char *const pads[] = {NULL, "!"};
    for (int p = 0; p < 2; p++) {
        sdc_tokenizer_params tp = sdc_tokenizer_default_params();
        tp.pad_token = pads[p];
        sdc_tokenizer *builtin = NULL, *files = NULL;
        CHECK(sdc_tok_clip_builtin(ctx, &tp, &builtin) == SDC_STATUS_OK);
        CHECK(sdc_tokenizer_create_from_files(ctx, SDC_TEST_DATA_DIR "/clip/vocab.json",
                                              SDC_TEST_DATA_DIR "/clip/merges.txt", &tp,
                                              &files) == SDC_STATUS_OK);
        for (size_t i = 0; builtin && files && i < sizeof texts / sizeof texts[0]; i++) {
            int32_t x[77], y[77];
            CHECK(sdc_tokenizer_encode(builtin, texts[i], strlen(texts[i]), x, 77, NULL) ==
                  SDC_STATUS_OK);
            CHECK(sdc_tokenizer_encode(files, texts[i], strlen(texts[i]), y, 77, NULL) ==
                  SDC_STATUS_OK);
            CHECK_MSG(memcmp(x, y, sizeof x) == 0, "ids of \"%s\" differ", texts[i]);
        }
        if (builtin)
            CHECK_EQ_INT(sdc_tokenizer_pad_id(builtin), p ? 0 : 49407);
        sdc_tokenizer_destroy(builtin);
        sdc_tokenizer_destroy(files);
    }
}

int main(void)
{
    if (sdc_context_create(NULL, &ctx) != SDC_STATUS_OK)
        return 2;
    RUN(test_files);
    RUN(test_same_ids);
    sdc_context_destroy(ctx);
    return test_finish();
}
