/*
 * test.h — the few macros sdc's tests are written with. A failed CHECK records the file, line
 * and values and the test goes on; the executable's exit status is non-zero if any check
 * failed, and its last line counts checks and failures.
 */
#ifndef SDC_TESTS_TEST_H
#define SDC_TESTS_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

void test_check(bool ok, const char *file, int line, const char *expr);
void test_checkf(bool ok, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void test_run(const char *name, void (*fn)(void));
int test_finish(void);
/* Path under a test-data root, in a static rotating buffer: TEST_PATH(SDC_TEST_DATA_DIR, "x"). */
const char *test_path(const char *root, const char *rel);
/* Runs a shell command and returns its exit code (-1 if it could not run or was killed);
 * *out receives everything it wrote to stdout, NUL-terminated (free() it). */
int test_capture(const char *command, char **out);
/* Runs the built `sdc ARGS` (SDC_CLI_PATH; ARGS as shell words) and returns its stdout and
 * stderr together (never NULL; free() it); *code receives the exit code as test_capture. */
char *test_run_cli(const char *args, int *code);
/* A fresh path under the build's scratch folder, unique per test executable. */
const char *test_tmp_path(const char *name);

#define CHECK(cond) test_check((cond), __FILE__, __LINE__, #cond)
#define CHECK_MSG(cond, ...) test_checkf((cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_EQ_INT(a, b)                                                                     \
    do {                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                    \
        test_checkf(a_ == b_, __FILE__, __LINE__, "%s == %s (%lld vs %lld)", #a, #b, a_, b_);  \
    } while (0)
#define CHECK_EQ_STR(a, b)                                                                     \
    do {                                                                                       \
        const char *a_ = (a), *b_ = (b);                                                       \
        test_checkf(a_ && b_ && strcmp(a_, b_) == 0, __FILE__, __LINE__,                       \
                    "%s == %s (\"%s\" vs \"%s\")", #a, #b, a_ ? a_ : "(null)",                 \
                    b_ ? b_ : "(null)");                                                       \
    } while (0)
#define CHECK_CONTAINS(haystack, needle)                                                       \
    do {                                                                                       \
        const char *h_ = (haystack), *n_ = (needle);                                           \
        test_checkf(h_ && strstr(h_, n_) != NULL, __FILE__, __LINE__,                          \
                    "\"%s\" contains \"%s\"", h_ ? h_ : "(null)", n_);                         \
    } while (0)
#define RUN(fn) test_run(#fn, fn)

#endif /* SDC_TESTS_TEST_H */
