/*
 * cli.h — what the sdc command's files share: the subcommand table entry, exit codes, and
 * small output helpers. The CLI uses only the public header sdc.h.
 */
#ifndef SDC_CLI_CLI_H
#define SDC_CLI_CLI_H

#include "sdc.h"

#include <stdbool.h>
#include <stdio.h>

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1, /* the command ran and failed (bad file, bad model, ...) */
    CLI_EXIT_USAGE = 2,   /* the command line itself is wrong */
};

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

int cmd_analyze(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

/* The model to use when no -m is given (default_model.c): $SDC_MODEL when set, else the demo
 * bundle installed beside the executable or in the source tree it was built from (into buf);
 * NULL when there is none. *source says which, for a note on stderr; *demo is set when it is
 * the demo bundle (which generates with its own steps and guidance unless given). */
const char *cli_default_model(char *buf, size_t size, const char **source, bool *demo);
/* True when arg is -h or --help. */
bool cli_is_help(const char *arg);
/* Creates a context with the defaults (threads: all CPUs; logging to stderr at WARN).
 * Prints the reason and returns NULL on failure. */
sdc_context *cli_context(int n_threads, bool verbose);
/* Prints "sdc <command>: <message>" for the context's last error. */
void cli_report(const char *command, sdc_context *ctx);
/* 1234567 -> "1,234,567" into buf. */
const char *cli_group_digits(uint64_t v, char *buf, size_t size);
/* Writes s as a JSON string literal (with quotes) to out. */
void cli_json_string(FILE *out, const char *s);

/* Strict parsing of option values: the whole of s must be one decimal number (no spaces, no
 * '+', no hex, nothing after it: "12abc" is refused) within [min, max]. False otherwise, and
 * *out is left alone. */
bool cli_parse_long(const char *s, long min, long max, long *out);
bool cli_parse_u64(const char *s, uint64_t *out);
/* A finite decimal floating-point number ("7.5", "1e-3", ".5"); no inf, nan or hex. */
bool cli_parse_double(const char *s, double min, double max, double *out);

#endif /* SDC_CLI_CLI_H */
