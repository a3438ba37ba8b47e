/*
 * cmd_tokenize.c — `sdc tokenize TEXT`: how a model's CLIP tokenizer splits a prompt: the ids
 * the text encoder gets, each token's string, the count, and the part truncation cuts off.
 * --json prints the same as one JSON object for programs.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(FILE *out)
{
    fprintf(
        out,
        "usage: sdc tokenize (-m MODEL_DIR | --vocab FILE --merges FILE) [options] TEXT...\n\n"
        "Shows how a CLIP tokenizer splits TEXT: the token ids the text encoder gets (the\n"
        "start token, at most 75 tokens of the prompt, the end token, padding up to 77),\n"
        "each token's string, the count, and the part of the prompt that truncation cuts\n"
        "off (the text encoder never sees it). Several TEXT arguments are joined with\n"
        "spaces; TEXT \"-\" reads the prompt from standard input.\n\n"
        "options:\n"
        "  -m, --model DIR    a diffusers model folder (its tokenizer/ subfolder is used) or a\n"
        "                     tokenizer folder holding vocab.json and merges.txt; the pad\n"
        "                     token and max length come from its tokenizer_config.json\n"
        "  --tokenizer NAME   the model folder's tokenizer subfolder (default tokenizer;\n"
        "                     tokenizer_2 is SDXL's second tokenizer)\n"
        "  --vocab FILE       a CLIP vocab.json, instead of -m (needs --merges)\n"
        "  --merges FILE      a CLIP merges.txt, instead of -m (needs --vocab)\n"
        "  --pad eot|excl     with --vocab/--merges: pad with <|endoftext|> (id 49407,\n"
        "                     SD 1.x; the default) or with \"!\" (id 0, SD 2.x and SDXL's\n"
        "                     tokenizer_2, which also makes every \"!\" its own token)\n"
        "  --json             print one JSON object: ids (padded), tokens, count, kept,\n"
        "                     untruncated_ids, truncated (the text cut off, \"\" if none)\n"
        "  -h, --help         show this help\n\n"
        "Token strings are CLIP's byte-level BPE tokens: \"</w>\" ends a word and non-ASCII\n"
        "bytes show as Latin-1 look-alikes (\"caf\xc3\x83\xc2\xa9</w>\" is \"caf\xc3\xa9\").\n");
}

static bool has_vocab(const char *path)
{
    size_t n = strlen(path) + 16;
    char *p = malloc(n);
    if (!p)
        return false;
    snprintf(p, n, "%s/vocab.json", path);
    bool ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

static char *read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            char *p = cap < ((size_t)1 << 30) ? realloc(buf, cap * 2) : NULL;
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
    }
    if (!buf || ferror(stdin)) {
        free(buf);
        return NULL;
    }
    /* a prompt piped from echo ends with one newline that is not part of it */
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    *len = n;
    return buf;
}

static void print_ids(const int32_t *ids, size_t n)
{
    printf("[");
    for (size_t i = 0; i < n; i++)
        printf("%s%d", i ? ", " : "", (int)ids[i]);
    printf("]");
}

static void print_json(const sdc_tokens *t)
{
    size_t n_ids, n_full, count = sdc_tokens_count(t);
    const int32_t *ids = sdc_tokens_ids(t, &n_ids);
    const int32_t *full = sdc_tokens_untruncated_ids(t, &n_full);
    printf("{\"ids\": ");
    print_ids(ids, n_ids);
    printf(", \"tokens\": [");
    for (size_t i = 0; i < count; i++) {
        printf("%s", i ? ", " : "");
        cli_json_string(stdout, sdc_tokens_string(t, i));
    }
    printf("], \"count\": %zu, \"kept\": %zu, \"untruncated_ids\": ", count, sdc_tokens_kept(t));
    print_ids(full, n_full);
    printf(", \"truncated\": ");
    cli_json_string(stdout, sdc_tokens_truncated_text(t));
    printf("}\n");
}

static void print_text(const char *source, const sdc_tokenizer *tok, const sdc_tokens *t)
{
    size_t n_ids, n_full, count = sdc_tokens_count(t), kept = sdc_tokens_kept(t);
    const int32_t *ids = sdc_tokens_ids(t, &n_ids);
    const int32_t *full = sdc_tokens_untruncated_ids(t, &n_full);
    int max = sdc_tokenizer_max_length(tok);
    printf("tokenizer: %s (pad id %d, %d ids per prompt)\n", source, (int)sdc_tokenizer_pad_id(tok),
           max);
    printf("count:     %zu token%s (at most %d fit between the start and end tokens)\n", count,
           count == 1 ? "" : "s", max - 2);
    printf("ids:       ");
    print_ids(ids, n_ids);
    printf("\ntokens:\n");
    printf("  %5s  %6s  %s\n", "#", "id", "token");
    printf("  %5s  %6d  %s\n", "start", (int)full[0], "(start token)");
    for (size_t i = 0; i < count; i++) {
        if (i == kept)
            printf("  ----- cut off by truncation below this line -----\n");
        printf("  %5zu  %6d  %s\n", i + 1, (int)full[i + 1], sdc_tokens_string(t, i));
    }
    printf("  %5s  %6d  %s\n", "end", (int)full[n_full - 1], "(end token)");
    if (kept < count)
        printf("truncated: %zu token%s cut off; the text encoder does not see: \"%s\"\n",
               count - kept, count - kept == 1 ? "" : "s", sdc_tokens_truncated_text(t));
    else
        printf("truncated: nothing\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "sdc tokenize: %s%s%s (see 'sdc tokenize --help')\n", msg, arg ? " " : "",
            arg ? arg : "");
    return CLI_EXIT_USAGE;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *subfolder = "tokenizer", *vocab = NULL, *merges = NULL;
    const char *pad = NULL;
    bool json = false, options_done = false;
    char **words = calloc((size_t)argc + 1, sizeof(char *));
    size_t n_words = 0;
    if (!words) {
        fprintf(stderr, "sdc tokenize: out of memory\n");
        return CLI_EXIT_FAILURE;
    }
    int rc = CLI_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes_value = strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0 ||
                           strcmp(a, "--tokenizer") == 0 || strcmp(a, "--vocab") == 0 ||
                           strcmp(a, "--merges") == 0 || strcmp(a, "--pad") == 0;
        if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
            words[n_words++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (cli_is_help(a)) {
            help(stdout);
            goto done;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (takes_value) {
            if (++i >= argc) {
                rc = usage_error("missing value after", a);
                goto done;
            }
            if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0)
                model = argv[i];
            else if (strcmp(a, "--tokenizer") == 0)
                subfolder = argv[i];
            else if (strcmp(a, "--vocab") == 0)
                vocab = argv[i];
            else if (strcmp(a, "--merges") == 0)
                merges = argv[i];
            else
                pad = argv[i];
        } else {
            rc = usage_error("unknown option", a);
            goto done;
        }
    }
    if (model && (vocab || merges)) {
        rc = usage_error("give either -m MODEL_DIR or --vocab and --merges, not both", NULL);
        goto done;
    }
    if (!model && !(vocab && merges)) {
        rc = usage_error(vocab || merges ? "--vocab and --merges go together"
                                         : "which tokenizer? give -m MODEL_DIR (a diffusers "
                                           "model folder) or --vocab FILE --merges FILE",
                         NULL);
        goto done;
    }
    if (pad && model) {
        rc = usage_error("--pad goes with --vocab/--merges; a model folder's "
                         "tokenizer_config.json sets its pad token",
                         NULL);
        goto done;
    }
    if (pad && strcmp(pad, "eot") != 0 && strcmp(pad, "excl") != 0) {
        rc = usage_error("--pad takes eot or excl, not", pad);
        goto done;
    }
    if (n_words == 0) {
        rc = usage_error("no prompt given", NULL);
        goto done;
    }

    /* The prompt: the words joined by spaces, or standard input for "-". */
    char *text = NULL;
    size_t len = 0;
    if (n_words == 1 && strcmp(words[0], "-") == 0) {
        text = read_stdin(&len);
        if (!text) {
            fprintf(stderr, "sdc tokenize: cannot read the prompt from standard input\n");
            rc = CLI_EXIT_FAILURE;
            goto done;
        }
    } else {
        for (size_t i = 0; i < n_words; i++)
            len += strlen(words[i]) + 1;
        text = malloc(len + 1);
        if (!text) {
            fprintf(stderr, "sdc tokenize: out of memory\n");
            rc = CLI_EXIT_FAILURE;
            goto done;
        }
        len = 0;
        for (size_t i = 0; i < n_words; i++) {
            size_t n = strlen(words[i]);
            if (i)
                text[len++] = ' ';
            memcpy(text + len, words[i], n);
            len += n;
        }
        text[len] = '\0';
    }

    sdc_context *ctx = cli_context(1, false);
    if (!ctx) {
        rc = CLI_EXIT_FAILURE;
        goto free_text;
    }
    sdc_tokenizer *tok = NULL;
    sdc_tokens *tokens = NULL;
    char *source = NULL;
    sdc_status st;
    if (model) {
        size_t n = strlen(model) + strlen(subfolder) + 2;
        source = malloc(n);
        if (!source) {
            fprintf(stderr, "sdc tokenize: out of memory\n");
            rc = CLI_EXIT_FAILURE;
            goto destroy_ctx;
        }
        snprintf(source, n, "%s/%s", model, subfolder);
        if (!has_vocab(source) && has_vocab(model))
            snprintf(source, n, "%s", model); /* -m names a tokenizer folder itself */
        st = sdc_tokenizer_create_from_dir(ctx, source, &tok);
    } else {
        sdc_tokenizer_params params = sdc_tokenizer_default_params();
        params.pad_token = pad && strcmp(pad, "excl") == 0 ? "!" : NULL;
        st = sdc_tokenizer_create_from_files(ctx, vocab, merges, &params, &tok);
    }
    if (st == SDC_STATUS_OK)
        st = sdc_tokenizer_tokenize(tok, text, len, &tokens);
    if (st != SDC_STATUS_OK) {
        cli_report("tokenize", ctx);
        rc = CLI_EXIT_FAILURE;
        goto destroy_tok;
    }
    if (json)
        print_json(tokens);
    else
        print_text(source ? source : vocab, tok, tokens);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "sdc tokenize: cannot write the output\n");
        rc = CLI_EXIT_FAILURE;
    }
destroy_tok:
    sdc_tokens_destroy(tokens);
    sdc_tokenizer_destroy(tok);
    free(source);
destroy_ctx:
    sdc_context_destroy(ctx);
free_text:
    free(text);
done:
    free(words);
    return rc;
}
