/*
 * cpu.c — which x86 vector extensions the processor has and the operating system enables
 * (CPUID for the instructions, XGETBV for the register state the OS saves), and the named
 * levels the kernels are dispatched by.
 */
#include "core/core.h"

#include <string.h>

#if SDC_ARCH_X86_64 && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

static uint64_t read_xcr0(void)
{
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

void sdc_cpu_detect(sdc_cpu_features *out)
{
    memset(out, 0, sizeof *out);
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return;
    unsigned max_leaf = a;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    bool osxsave = (c >> 27) & 1;
    bool avx = (c >> 28) & 1;
    bool fma = (c >> 12) & 1;
    bool f16c = (c >> 29) & 1;
    if (!osxsave || !avx)
        return;
    uint64_t xcr0 = read_xcr0();
    bool ymm_state = (xcr0 & 0x6) == 0x6;    /* SSE and AVX registers */
    bool zmm_state = (xcr0 & 0xe0) == 0xe0;  /* opmask, upper ZMM, ZMM16-31 */
    if (!ymm_state || max_leaf < 7)
        return;

    __cpuid_count(7, 0, a, b, c, d);
    unsigned leaf7_max_sub = a;
    out->avx2 = (b >> 5) & 1;
    out->fma = fma;
    out->f16c = f16c;
    if (zmm_state) {
        out->avx512f = (b >> 16) & 1;
        out->avx512bw = (b >> 30) & 1;
        out->avx512vl = (b >> 31) & 1;
        out->avx512_vnni = (c >> 11) & 1;
        if (leaf7_max_sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            out->avx512_bf16 = (a >> 5) & 1;
        }
    }
}
#else
void sdc_cpu_detect(sdc_cpu_features *out)
{
    memset(out, 0, sizeof *out);
}
#endif

sdc_cpu_level sdc_cpu_level_of(const sdc_cpu_features *f)
{
    if (!(f->avx2 && f->fma && f->f16c))
        return SDC_CPU_LEVEL_SCALAR;
    if (!(f->avx512f && f->avx512bw && f->avx512vl))
        return SDC_CPU_LEVEL_AVX2;
    if (!f->avx512_bf16)
        return SDC_CPU_LEVEL_AVX512;
    return SDC_CPU_LEVEL_AVX512_BF16;
}

void sdc_cpu_cap(sdc_cpu_features *f, sdc_cpu_level cap)
{
    if (cap < SDC_CPU_LEVEL_AVX512_BF16)
        f->avx512_bf16 = false;
    if (cap < SDC_CPU_LEVEL_AVX512) {
        f->avx512f = f->avx512bw = f->avx512vl = false;
        f->avx512_vnni = false;
    }
    if (cap < SDC_CPU_LEVEL_AVX2)
        f->avx2 = f->fma = f->f16c = false;
}

static const char *const level_names[] = {
    [SDC_CPU_LEVEL_SCALAR] = "scalar",
    [SDC_CPU_LEVEL_AVX2] = "avx2",
    [SDC_CPU_LEVEL_AVX512] = "avx512",
    [SDC_CPU_LEVEL_AVX512_BF16] = "avx512-bf16",
};
static_assert(sizeof level_names / sizeof level_names[0] == SDC_CPU_LEVEL_COUNT,
              "one name per CPU level");

const char *sdc_cpu_level_name(sdc_cpu_level level)
{
    if ((unsigned)level >= SDC_CPU_LEVEL_COUNT)
        return "unknown";
    return level_names[level];
}

bool sdc_cpu_level_from_name(const char *name, sdc_cpu_level *out)
{
    for (int i = 0; i < SDC_CPU_LEVEL_COUNT; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (sdc_cpu_level)i;
            return true;
        }
    }
    return false;
}
