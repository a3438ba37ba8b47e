/*
 * default_model.c — the model `sdc generate` uses when no -m is given: $SDC_MODEL when set,
 * else the demo model that ships with sdc (data/demo/shapes.sdc, trained by tools/demo_model):
 * first where an install puts it, <bin>/../share/sdc/demo/shapes.sdc beside the running
 * executable, then in the source tree the binary was built from (a path compiled in by CMake,
 * so a fresh clone's build/bin/sdc finds it).
 */
#include "cli.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEMO_BUNDLE "shapes.sdc"

static bool is_bundle(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/model.json", dir);
    return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* <folder of the running executable>/../share/sdc/demo/shapes.sdc into buf. */
static bool installed_path(char *buf, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    int m = snprintf(buf, size, "%s/../share/sdc/demo/" DEMO_BUNDLE, exe);
    return m > 0 && (size_t)m < size;
}

const char *cli_default_model(char *buf, size_t size, const char **source, bool *demo)
{
    *demo = false;
    const char *env = getenv("SDC_MODEL");
    if (env && *env) {
        *source = "$SDC_MODEL";
        return env;
    }
    *source = "the demo model (coloured circles, squares and triangles; set $SDC_MODEL or "
              "give -m for another)";
    *demo = true;
    if (installed_path(buf, size) && is_bundle(buf))
        return buf;
#ifdef SDC_DEMO_MODEL_DIR
    int m = snprintf(buf, size, "%s/" DEMO_BUNDLE, SDC_DEMO_MODEL_DIR);
    if (m > 0 && (size_t)m < size && is_bundle(buf))
        return buf;
#endif
    *demo = false;
    return NULL;
}
