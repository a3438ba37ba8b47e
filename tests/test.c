/*
 * test.c — the runner behind test.h.
 */
#include "test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int n_checks, n_failed;
static const char *current = "";

void test_check(bool ok, const char *file, int line, const char *expr)
{
    n_checks++;
    if (!ok) {
        n_failed++;
        fprintf(stderr, "FAIL %s:%d [%s]: %s\n", file, line, current, expr);
    }
}

void test_checkf(bool ok, const char *file, int line, const char *fmt, ...)
{
    n_checks++;
    if (ok)
        return;
    n_failed++;
    fprintf(stderr, "FAIL %s:%d [%s]: ", file, line, current);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void test_run(const char *name, void (*fn)(void))
{
    current = name;
    int before = n_failed;
    fn();
    fprintf(stderr, "%s %s\n", n_failed == before ? "ok  " : "FAIL", name);
    current = "";
}

int test_finish(void)
{
    fprintf(stderr, "%d checks, %d failed\n", n_checks, n_failed);
    return n_failed == 0 ? 0 : 1;
}

const char *test_path(const char *root, const char *rel)
{
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", root, rel);
    return b;
}

const char *test_tmp_path(const char *name)
{
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%ld-%s", SDC_TEST_TMP_DIR, (long)getpid(), name);
    return b;
}

int test_capture(const char *command, char **out)
{
    *out = NULL;
    FILE *p = popen(command, "r");
    if (!p)
        return -1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, p);
        if (got == 0)
            break;
        n += got;
    }
    int status = pclose(p);
    if (!buf)
        return -1;
    buf[n] = '\0';
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *test_run_cli(const char *args, int *code)
{
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", SDC_CLI_PATH, args);
    CHECK_MSG(n > 0 && (size_t)n < sizeof cmd, "command line fits: sdc %s", args);
    char *out = NULL;
    *code = test_capture(cmd, &out);
    CHECK_MSG(out != NULL, "sdc %s: ran", args);
    return out ? out : calloc(1, 1);
}
