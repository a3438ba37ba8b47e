/*
 * util.c — small helpers shared by the subcommands: context creation, error reports, number
 * formatting, JSON string output, strict number parsing.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

sdc_context *cli_context(int n_threads, bool verbose)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = n_threads;
    p.log_level = verbose ? SDC_LOG_LEVEL_DEBUG : SDC_LOG_LEVEL_WARN;
    sdc_context *ctx = NULL;
    sdc_status st = sdc_context_create(&p, &ctx);
    if (st != SDC_STATUS_OK) {
        fprintf(stderr, "sdc: cannot start: %s\n", sdc_status_string(st));
        return NULL;
    }
    return ctx;
}

void cli_report(const char *command, sdc_context *ctx)
{
    const char *msg = sdc_context_errmsg(ctx);
    fprintf(stderr, "sdc %s: %s\n", command,
            msg && *msg ? msg : sdc_status_string(sdc_context_errcode(ctx)));
}

const char *cli_group_digits(uint64_t v, char *buf, size_t size)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t out = 0;
    for (int i = 0; i < n && out + 1 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0 && out + 2 < size)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

void cli_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* Digits with at most one leading '-' (when negatives are allowed) and nothing else. */
static bool all_digits(const char *s, bool allow_minus)
{
    if (allow_minus && *s == '-')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

bool cli_parse_long(const char *s, long min, long max, long *out)
{
    if (!all_digits(s, min < 0))
        return false;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno == ERANGE || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
    if (!all_digits(s, false))
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE)
        return false;
    *out = (uint64_t)v;
    return true;
}

bool cli_parse_double(const char *s, double min, double max, double *out)
{
    /* strtod alone would also take leading spaces, "inf", "nan" and hex floats */
    bool digit = false;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digit = true;
        else if (!strchr("+-.eE", *p))
            return false;
    }
    if (!digit)
        return false;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}
