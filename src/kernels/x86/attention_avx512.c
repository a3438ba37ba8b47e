/*
 * attention_avx512.c — the float32 AVX-512 online-softmax step of attention.c (its body is
 * softmax_avx512.h). Compiled with -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma -mf16c.
 */
#define SDC_SOFTMAX_STEP_NAME sdc_x86_softmax_step_avx512
#include "kernels/x86/softmax_avx512.h"
