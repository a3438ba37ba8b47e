/*
 * compat.h — the only place compiler extensions are named. Everything else in sdc is plain
 * C11; these macros expand to nothing on compilers that lack the extension.
 */
#ifndef SDC_CORE_COMPAT_H
#define SDC_CORE_COMPAT_H

#if defined(__GNUC__) || defined(__clang__)
#define SDC_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#define SDC_LIKELY(x) __builtin_expect(!!(x), 1)
#define SDC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SDC_UNUSED __attribute__((unused))
/* Compiles one function for an instruction set beyond the build's baseline (runtime dispatch
 * decides whether it is called). */
#define SDC_TARGET(isa) __attribute__((target(isa)))
/* Always inlined, so a constant argument specialises the body (SIMD micro-kernels). */
#define SDC_ALWAYS_INLINE inline __attribute__((always_inline))
/* Unrolls the next loop completely (its trip count a constant after inlining): a micro-kernel's
 * loops over accumulator rows, which then stay in registers instead of an array on the stack. */
#define SDC_UNROLL _Pragma("GCC unroll 16")
#else
#define SDC_PRINTF(fmt_index, first_arg)
#define SDC_LIKELY(x) (x)
#define SDC_UNLIKELY(x) (x)
#define SDC_UNUSED
#define SDC_TARGET(isa)
#define SDC_ALWAYS_INLINE inline
#define SDC_UNROLL
#endif

#if defined(__x86_64__) || defined(_M_X64)
#define SDC_ARCH_X86_64 1
#else
#define SDC_ARCH_X86_64 0
#endif

/* Tells the processor the thread is spinning on a shared variable (x86 PAUSE). */
#if SDC_ARCH_X86_64 && (defined(__GNUC__) || defined(__clang__))
#define SDC_CPU_RELAX() __builtin_ia32_pause()
#else
#define SDC_CPU_RELAX() ((void)0)
#endif

#endif /* SDC_CORE_COMPAT_H */
