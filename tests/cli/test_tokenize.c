/*
 * Tests `sdc tokenize` by running the built command (SDC_CLI_PATH): the table output shows
 * what truncation cuts off, --json is one parseable object with the same content, --pad excl
 * and -m MODEL_DIR pick the pad token, and bad command lines and prompts fail clearly.
 */
#include "io/io.h"
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define VOCAB  SDC_TEST_DATA_DIR "/clip/vocab.json"
#define MERGES SDC_TEST_DATA_DIR "/clip/merges.txt"
#define FILES  "--vocab '" VOCAB "' --merges '" MERGES "'"

/* Runs `sdc tokenize <args>` through the shell; returns the exit code and stdout (+ stderr when
 * with_stderr) in a malloc'd string. */
static int run(const char *args, bool with_stderr, char **out)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' tokenize %s%s", SDC_CLI_PATH, args, with_stderr ? " 2>&1" : "");
    FILE *p = popen(cmd, "r");
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!p || !buf) {
        CHECK_MSG(false, "cannot run %s", cmd);
        free(buf);
        if (p)
            pclose(p);
        *out = NULL;
        return -1;
    }
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap * 2);
            if (!b)
                break;
            buf = b;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    int status = pclose(p);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *long_prompt(void)
{
    static char text[1024];
    text[0] = '\0';
    for (int i = 0; i < 74; i++)
        strcat(text, "cat ");
    strcat(text, "pneumonoultramicroscopicsilicovolcanoconiosis dog");
    return text;
}

static void test_table_shows_truncation(void)
{
    char args[4096], *out = NULL;
    snprintf(args, sizeof args, FILES " '%s'", long_prompt());
    CHECK_EQ_INT(run(args, false, &out), 0);
    CHECK_CONTAINS(out, "count:     89 tokens");
    CHECK_CONTAINS(out, "cut off by truncation below this line");
    CHECK_CONTAINS(out, "   75   28714  pneu\n");
    CHECK_CONTAINS(out, "truncated: 14 tokens cut off; the text encoder does not see: "
                        "\"monoultramicroscopicsilicovolcanoconiosis dog\"");
    CHECK_CONTAINS(out, "ids:       [49406, 2368, 2368,");
    free(out);

    CHECK_EQ_INT(run(FILES " a photo of a cat", false, &out), 0);
    CHECK_CONTAINS(out, "count:     5 tokens");
    CHECK_CONTAINS(out, "truncated: nothing");
    CHECK_CONTAINS(out, "[49406, 320, 1125, 539, 320, 2368, 49407, 49407,");
    free(out);
}

static const sdc_json *member(const sdc_json *root, const char *key, sdc_json_type type)
{
    const sdc_json *v = sdc_json_get_type(root, key, type);
    CHECK_MSG(v != NULL, "--json output has no %s of type %s", key, sdc_json_type_name(type));
    return v;
}

static void test_json(void)
{
    sdc_context *ctx = NULL;
    sdc_context_create(NULL, &ctx);
    char args[4096], *out = NULL;
    snprintf(args, sizeof args, "--json " FILES " '%s'", long_prompt());
    CHECK_EQ_INT(run(args, false, &out), 0);
    sdc_json_doc *doc = NULL;
    CHECK(out &&
          sdc_json_parse(ctx, out, strlen(out), "sdc tokenize --json", &doc) == SDC_STATUS_OK);
    if (doc) {
        const sdc_json *ids = member(doc->root, "ids", SDC_JSON_TYPE_ARRAY);
        const sdc_json *tokens = member(doc->root, "tokens", SDC_JSON_TYPE_ARRAY);
        const sdc_json *full = member(doc->root, "untruncated_ids", SDC_JSON_TYPE_ARRAY);
        const sdc_json *cut = member(doc->root, "truncated", SDC_JSON_TYPE_STRING);
        const sdc_json *count = member(doc->root, "count", SDC_JSON_TYPE_NUMBER);
        const sdc_json *kept = member(doc->root, "kept", SDC_JSON_TYPE_NUMBER);
        if (ids && tokens && full && cut && count && kept) {
            CHECK_EQ_INT(ids->u.array.count, 77);
            CHECK_EQ_INT(tokens->u.array.count, 89);
            CHECK_EQ_INT(full->u.array.count, 91);
            CHECK_EQ_INT(count->u.number.int_value, 89);
            CHECK_EQ_INT(kept->u.number.int_value, 75);
            CHECK_EQ_INT(ids->u.array.items[0]->u.number.int_value, 49406);
            CHECK_EQ_INT(ids->u.array.items[75]->u.number.int_value, 28714); /* "pneu" */
            CHECK_EQ_INT(ids->u.array.items[76]->u.number.int_value, 49407);
            CHECK_EQ_STR(tokens->u.array.items[88]->u.string.chars, "dog</w>");
            CHECK_EQ_STR(cut->u.string.chars, "monoultramicroscopicsilicovolcanoconiosis dog");
        }
        sdc_json_free(doc);
    }
    free(out);

    /* pad "!": every "!" is its own token (id 0), and padding is 0 */
    CHECK_EQ_INT(run("--json --pad excl " FILES " 'wow!!'", false, &out), 0);
    CHECK_CONTAINS(out, "\"ids\": [49406, 2781, 0, 0, 49407, 0, 0,");
    CHECK_CONTAINS(out, "\"tokens\": [\"wow</w>\", \"!\", \"!\"]");
    CHECK_CONTAINS(out, "\"truncated\": \"\"");
    free(out);
    /* a prompt from standard input; quotes and backslashes escaped in JSON */
    CHECK_EQ_INT(run("--json " FILES " - < /dev/null", false, &out), 0);
    CHECK_CONTAINS(out, "\"ids\": [49406, 49407, 49407,");
    free(out);
    CHECK_EQ_INT(run("--json " FILES " '\"q\\'", false, &out), 0);
    CHECK_CONTAINS(out, "\"tokens\": [\"\\\"</w>\", \"q</w>\", \"\\\\</w>\"]");
    free(out);
    sdc_context_destroy(ctx);
}

static void test_model_folder(void)
{
    sdc_context *ctx = NULL;
    sdc_context_create(NULL, &ctx);
    const char *model = test_tmp_path("model_sd2");
    char dir[4096], path[8192];
    snprintf(dir, sizeof dir, "%s/tokenizer", model);
    CHECK(mkdir(model, 0755) == 0 || errno == EEXIST);
    CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    unlink(path);
    CHECK(symlink(VOCAB, path) == 0);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    unlink(path);
    CHECK(symlink(MERGES, path) == 0);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    static const char config[] = "{\"model_max_length\": 77, \"pad_token\": \"!\", "
                                 "\"tokenizer_class\": \"CLIPTokenizer\"}";
    CHECK(sdc_file_write_all(ctx, path, config, strlen(config)) == SDC_STATUS_OK);

    char args[8192], *out = NULL;
    snprintf(args, sizeof args, "-m '%s' 'wow!!'", model);
    CHECK_EQ_INT(run(args, false, &out), 0);
    CHECK_CONTAINS(out, "pad id 0, 77 ids per prompt");
    CHECK_CONTAINS(out, "[49406, 2781, 0, 0, 49407, 0, 0,");
    free(out);
    /* the tokenizer folder itself works too; --pad does not go with -m */
    snprintf(args, sizeof args, "--model '%s' --json 'wow!!'", dir);
    CHECK_EQ_INT(run(args, false, &out), 0);
    CHECK_CONTAINS(out, "[49406, 2781, 0, 0, 49407, 0, 0,");
    free(out);
    snprintf(args, sizeof args, "-m '%s' --pad eot x", model);
    CHECK_EQ_INT(run(args, true, &out), 2);
    CHECK_CONTAINS(out, "--pad");
    free(out);
    snprintf(args, sizeof args, "-m '%s' --tokenizer tokenizer_2 x", model);
    CHECK_EQ_INT(run(args, true, &out), 1);
    CHECK_CONTAINS(out, "tokenizer_2");
    free(out);
    sdc_context_destroy(ctx);
}

static void test_errors(void)
{
    char *out = NULL;
    CHECK_EQ_INT(run("--help", false, &out), 0);
    CHECK_CONTAINS(out, "usage: sdc tokenize");
    CHECK_CONTAINS(out, "--json");
    CHECK_CONTAINS(out, "--pad eot|excl");
    free(out);
    CHECK_EQ_INT(run("'a cat'", true, &out), 2);
    CHECK_CONTAINS(out, "-m MODEL_DIR");
    CHECK_CONTAINS(out, "--vocab FILE --merges FILE");
    free(out);
    CHECK_EQ_INT(run("--vocab '" VOCAB "' x", true, &out), 2);
    CHECK_CONTAINS(out, "go together");
    free(out);
    CHECK_EQ_INT(run(FILES, true, &out), 2);
    CHECK_CONTAINS(out, "no prompt");
    free(out);
    CHECK_EQ_INT(run(FILES " --pad nope x", true, &out), 2);
    CHECK_CONTAINS(out, "nope");
    free(out);
    CHECK_EQ_INT(run(FILES " --frobnicate x", true, &out), 2);
    CHECK_CONTAINS(out, "--frobnicate");
    free(out);
    /* invalid UTF-8 from standard input: the byte offset is named */
    const char *bad_path = test_tmp_path("bad_prompt.txt");
    FILE *f = fopen(bad_path, "wb");
    CHECK(f && fwrite("abc\377", 1, 4, f) == 4);
    if (f)
        fclose(f);
    char args[8192];
    snprintf(args, sizeof args, FILES " - < '%s'", bad_path);
    CHECK_EQ_INT(run(args, true, &out), 1);
    CHECK_CONTAINS(out, "not valid UTF-8: byte 0xff at offset 3");
    free(out);
    CHECK_EQ_INT(run("--vocab /nonexistent/vocab.json --merges '" MERGES "' x", true, &out), 1);
    CHECK_CONTAINS(out, "sdc tokenize: /nonexistent/vocab.json");
    free(out);
}

int main(void)
{
    RUN(test_table_shows_truncation);
    RUN(test_json);
    RUN(test_model_folder);
    RUN(test_errors);
    return test_finish();
}
