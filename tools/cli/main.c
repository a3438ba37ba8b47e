/*
 * main.c — the sdc command: subcommand dispatch, --help and --version. Each subcommand lives
 * in its own cmd_<name>.c and uses only the public header plus the CLI's own helpers.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const cli_command commands[] = {
    {"analyze", "measure per-layer palettization sensitivity, write mixed-bit recipes",
     cmd_analyze},
    {"bench", "time each model component against the machine's sgemm rate", cmd_bench},
    {"convert", "convert a model into a compact sdc bundle (f16, palettized, int8)", cmd_convert},
    {"generate", "generate images from a prompt (text to image, image to image, inpainting)",
     cmd_generate},
    {"inspect", "show the tensors, dtypes, shapes and metadata of a model file", cmd_inspect},
    {"tokenize", "show the token ids of a prompt and what truncation cuts off", cmd_tokenize},
};
static const size_t n_commands = sizeof commands / sizeof commands[0];

static void usage(FILE *out)
{
    fprintf(out, "usage: sdc <command> [options]\n"
                 "       sdc <command> --help\n"
                 "       sdc --version\n\n"
                 "commands:\n");
    for (size_t i = 0; i < n_commands; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            for (size_t i = 0; i < n_commands; i++) {
                if (strcmp(argv[2], commands[i].name) == 0) {
                    char *help_argv[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, help_argv);
                }
            }
            fprintf(stderr, "sdc: unknown command '%s'\n", argv[2]);
            return CLI_EXIT_USAGE;
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("sdc %s\n", sdc_version());
        return 0;
    }
    for (size_t i = 0; i < n_commands; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sdc: unknown command '%s' (see 'sdc --help')\n", name);
    return CLI_EXIT_USAGE;
}
