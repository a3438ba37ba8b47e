/*
 * gemm.c — the packed, cache-blocked GEMM driver of the x86 backend (BLIS-style loops: k blocks
 * of SDC_X86_KC, one operand's packed block in L2 reused over the other's range, an A sliver in
 * L1 reused across the B slivers), the work split into items over the thread pool (an operand
 * several items would pack alike is packed once, shared, in the op scratch), and the standard
 * packers (matrix rows, transposed rows, weights through the decode hook).
 */
#include "kernels/x86/x86.h"

#include <string.h>

enum {
    BLOCK = 384, /* rows (M or N) of one packed block of SDC_X86_KC values: whole slivers */
};
static_assert(BLOCK % 96 == 0, "a block holds whole slivers of every MR (6, 12) and NR (16, 32)");

/* Scratch of one thread: A block, B block, decode temporaries. */
#define BLOCK_BYTES ((size_t)BLOCK * SDC_X86_KC * sizeof(float))
static_assert(2 * BLOCK_BYTES + SDC_X86_PACK_TMP_BYTES <= SDC_THREAD_SCRATCH_BYTES,
              "the packed blocks fit in a thread's scratch");

typedef struct gemm_plan {
    const sdc_x86_gemm *g;
    int64_t kb;    /* k values per block */
    int64_t block; /* rows of a packed block: BLOCK * SDC_X86_KC / kb, whole slivers */
    int64_t m_chunk, n_chunk;
    int64_t m_chunks, n_chunks;
    /* The items' k range: [k_begin, k_end), whole k blocks (all of K unless shared). */
    int64_t k_begin, k_end;
    /* Shared packing: the operand each item would pack again (A, or B in the REUSE_B order)
     * packed once, k blocks [k_begin, k_end) of it whole, k block j at shared + j *
     * shared_stride, its slivers in order. NULL: each item packs both operands itself. */
    unsigned char *shared;
    size_t shared_stride;
    int shared_width;     /* lanes of its slivers: NR for B, MR for A */
    int64_t shared_units; /* packing work units per k block (SHARED_UNIT slivers each) */
    sdc_context *ctx;
} gemm_plan;

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static int64_t round_up(int64_t a, int64_t b)
{
    return ceil_div(a, b) * b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* The end of the sliver starting at i: `width` on, but never past i1 or the end of i's column
 * group (group_n columns each; 0 for rows, which have no groups). */
static int64_t sliver_end(int64_t i, int64_t i1, int width, int64_t group_n)
{
    int64_t end = min64(i + width, i1);
    if (group_n > 0)
        end = min64(end, (i / group_n + 1) * group_n);
    return end;
}

/* A sliver of A with this many rows is packed 8 wide for ukernel8 (see compute). */
static bool narrow_sliver(const sdc_x86_isa *isa, int64_t rows)
{
    return rows <= 8 && isa->ukernel8 != NULL;
}

/* Packs [i0, i1) into slivers of `width` at dst; with `narrow` (A's rows) a last sliver of at
 * most 8 rows is packed 8 wide. */
static void pack_block(sdc_x86_gemm_pack_fn pack, const void *src, const sdc_x86_isa *isa,
                       int width, bool narrow, int64_t group_n, int64_t i0, int64_t i1, int64_t k0,
                       int64_t kc, unsigned char *dst, float *tmp)
{
    size_t sliver = sdc_x86_sliver_bytes(isa, width, kc);
    for (int64_t i = i0; i < i1; dst += sliver) {
        int64_t e = sliver_end(i, i1, width, group_n);
        int w = narrow && narrow_sliver(isa, e - i) ? 8 : width;
        pack(src, isa, w, i, e - i, k0, kc, dst, tmp);
        i = e;
    }
}

/* The micro-kernels over a packed A block of rows [m0, m1) and B block of columns [n0, n1). */
static void compute(const gemm_plan *plan, const unsigned char *a_block, int64_t m0, int64_t m1,
                    const unsigned char *b_block, int64_t n0, int64_t n1, int64_t kc, bool first)
{
    const sdc_x86_gemm *g = plan->g;
    const sdc_x86_isa *isa = g->isa;
    size_t a_sliver = sdc_x86_sliver_bytes(isa, isa->mr, kc);
    size_t b_sliver = sdc_x86_sliver_bytes(isa, isa->nr, kc);
    int64_t kcp = sdc_x86_kc_padded(isa, kc);
    bool load_c = !first || g->accumulate;
    for (int64_t m = m0; m < m1; m += isa->mr, a_block += a_sliver) {
        int mr = (int)min64(isa->mr, m1 - m);
        /* A last sliver of at most 8 rows: packed 8 wide, the narrower kernel skips the
         * padding rows. */
        sdc_x86_ukernel_fn ukernel = narrow_sliver(isa, mr) ? isa->ukernel8 : isa->ukernel;
        const float *bias_m = first && g->bias_m ? g->bias_m + m : NULL;
        const unsigned char *b = b_block;
        for (int64_t n = n0; n < n1; b += b_sliver) {
            int64_t e = sliver_end(n, n1, isa->nr, g->n_group);
            int64_t group = g->n_group > 0 ? n / g->n_group : 0;
            float *c = g->c + group * g->group_c_offset + m * g->ldc + (n - group * g->n_group);
            const float *bias_n = first && g->bias_n ? g->bias_n + n : NULL;
            ukernel(kcp, a_block, b, c, g->ldc, mr, (int)(e - n), load_c, bias_m, bias_n);
            n = e;
        }
    }
}

/* Whether items pack B once and reuse it over their rows (else A over their columns). */
static bool reuses_b(const sdc_x86_gemm *g)
{
    return g->order == SDC_X86_GEMM_ORDER_REUSE_B && g->n_group == 0;
}

/* The shared packing of k block k0 from sliver `first` on (of `width` lanes; see gemm_plan). */
static const unsigned char *shared_slivers(const gemm_plan *plan, int64_t k0, int width,
                                           int64_t first)
{
    int64_t kc = min64(plan->kb, plan->g->K - k0);
    return plan->shared + (size_t)((k0 - plan->k_begin) / plan->kb) * plan->shared_stride +
           (size_t)(first / width) * sdc_x86_sliver_bytes(plan->g->isa, width, kc);
}

static void gemm_item(const gemm_plan *plan, int64_t item, int thread)
{
    const sdc_x86_gemm *g = plan->g;
    const sdc_x86_isa *isa = g->isa;
    int64_t mi = item / plan->n_chunks, ni = item % plan->n_chunks;
    int64_t m0 = mi * plan->m_chunk, m1 = min64(g->M, m0 + plan->m_chunk);
    int64_t n0 = ni * plan->n_chunk, n1 = min64(g->N, n0 + plan->n_chunk);
    if (m0 >= m1 || n0 >= n1)
        return;

    unsigned char *scratch = sdc_thread_scratch(plan->ctx, thread);
    unsigned char *a_buf = scratch, *b_buf = scratch + BLOCK_BYTES;
    float *tmp = (float *)(scratch + 2 * BLOCK_BYTES);

    int64_t kb = plan->kb, block = plan->block;
    for (int64_t k0 = plan->k_begin; k0 < plan->k_end; k0 += kb) {
        int64_t kc = min64(kb, g->K - k0);
        bool first = k0 == 0;
        if (reuses_b(g)) {
            const unsigned char *b_block = b_buf;
            if (plan->shared)
                b_block = shared_slivers(plan, k0, isa->nr, n0);
            else
                pack_block(g->pack_b, g->b_src, isa, isa->nr, false, g->n_group, n0, n1, k0, kc,
                           b_buf, tmp);
            for (int64_t mb = m0; mb < m1; mb += block) {
                int64_t me = min64(m1, mb + block);
                pack_block(g->pack_a, g->a_src, isa, isa->mr, true, 0, mb, me, k0, kc, a_buf, tmp);
                compute(plan, a_buf, mb, me, b_block, n0, n1, kc, first);
            }
        } else {
            const unsigned char *a_block = a_buf;
            if (plan->shared)
                a_block = shared_slivers(plan, k0, isa->mr, m0);
            else
                pack_block(g->pack_a, g->a_src, isa, isa->mr, true, 0, m0, m1, k0, kc, a_buf, tmp);
            /* B blocks end on sliver boundaries: at most BLOCK columns of whole slivers. */
            for (int64_t nb = n0; nb < n1;) {
                int64_t ne = nb;
                for (int64_t used = 0; ne < n1 && used + isa->nr <= block; used += isa->nr)
                    ne = sliver_end(ne, n1, isa->nr, g->n_group);
                pack_block(g->pack_b, g->b_src, isa, isa->nr, false, g->n_group, nb, ne, k0, kc,
                           b_buf, tmp);
                compute(plan, a_block, m0, m1, b_buf, nb, ne, kc, first);
                nb = ne;
            }
        }
    }
}

static void gemm_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const gemm_plan *plan = arg;
    for (int64_t item = begin; item < end; item++)
        gemm_item(plan, item, thread);
}

enum { SHARED_UNIT = 8 }; /* slivers per work unit of the shared packing */

/* Shared packing, work units [begin, end): unit u packs SHARED_UNIT slivers of one k block. */
static void shared_pack_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const gemm_plan *plan = arg;
    const sdc_x86_gemm *g = plan->g;
    const sdc_x86_isa *isa = g->isa;
    bool b = reuses_b(g);
    int width = plan->shared_width;
    int64_t rows = b ? g->N : g->M, units = plan->shared_units;
    float *tmp =
        (float *)((unsigned char *)sdc_thread_scratch(plan->ctx, thread) + 2 * BLOCK_BYTES);
    for (int64_t u = begin; u < end; u++) {
        int64_t k0 = plan->k_begin + u / units * plan->kb, kc = min64(plan->kb, g->K - k0);
        int64_t i0 = u % units * SHARED_UNIT * width, i1 = min64(rows, i0 + SHARED_UNIT * width);
        unsigned char *dst = (unsigned char *)shared_slivers(plan, k0, width, i0);
        if (b)
            pack_block(g->pack_b, g->b_src, isa, width, false, 0, i0, i1, k0, kc, dst, tmp);
        else
            pack_block(g->pack_a, g->a_src, isa, width, true, 0, i0, i1, k0, kc, dst, tmp);
    }
}

/* Runs the items over k blocks [0, K): when more than one item would pack the same part of
 * one operand (A's rows with several column chunks, or B's columns with several row chunks in
 * the REUSE_B order), that operand is packed once into the op scratch, as many k blocks at a
 * time as fit, and the items read it there; else each item packs what it uses. Either way
 * each C element sums the same k blocks in the same order, so the results are identical. */
static void run_items(gemm_plan *plan)
{
    const sdc_x86_gemm *g = plan->g;
    const sdc_x86_isa *isa = g->isa;
    sdc_context *ctx = plan->ctx;
    int64_t items = plan->m_chunks * plan->n_chunks;
    bool b = reuses_b(g);
    int width = b ? isa->nr : isa->mr;
    int64_t slivers = ceil_div(b ? g->N : g->M, width);
    size_t stride = (size_t)slivers * sdc_x86_sliver_bytes(isa, width, plan->kb);
    int64_t per_group = (int64_t)(SDC_OP_SCRATCH_BYTES / stride);
    int64_t repeats = b ? plan->m_chunks : plan->n_chunks;
    if (repeats < 2 || per_group < 1) {
        plan->k_begin = 0;
        plan->k_end = g->K;
        sdc_parallel_for(ctx, items, 1, gemm_range, plan);
        return;
    }
    plan->shared = sdc_op_scratch(ctx);
    plan->shared_stride = stride;
    plan->shared_width = width;
    plan->shared_units = ceil_div(slivers, SHARED_UNIT);
    for (int64_t k0 = 0; k0 < g->K; k0 += per_group * plan->kb) {
        plan->k_begin = k0;
        plan->k_end = min64(g->K, k0 + per_group * plan->kb);
        int64_t blocks = ceil_div(plan->k_end - k0, plan->kb);
        sdc_parallel_for(ctx, blocks * plan->shared_units, 1, shared_pack_range, plan);
        sdc_parallel_for(ctx, items, 1, gemm_range, plan);
    }
}

/* Splits `len` into chunks: at most `max` long (0 = no limit), a multiple of `unit`, about
 * `want` of them but none shorter than `min_len` unless len is. */
static void split(int64_t len, int64_t unit, int64_t max, int64_t want, int64_t min_len,
                  int64_t *chunk, int64_t *count)
{
    int64_t n = want < 1 ? 1 : want;
    if (min_len > 0 && n > ceil_div(len, min_len))
        n = ceil_div(len, min_len);
    if (max > 0 && n < ceil_div(len, max))
        n = ceil_div(len, max);
    if (n < 1)
        n = 1;
    *chunk = round_up(ceil_div(len, n), unit);
    if (max > 0 && *chunk > max)
        *chunk = max / unit * unit;
    if (*chunk < unit)
        *chunk = unit;
    *count = ceil_div(len, *chunk);
}

/* How many chunks to cut the second dimension into when the first has `first` of them: about
 * want / first, raised until the items (first x that) divide evenly over the threads, as the
 * items cost the same and a thread left with one more than the others slows the whole GEMM. */
static int64_t balanced_want(int64_t want, int64_t first, int n_threads)
{
    int64_t base = ceil_div(want, first), c = base;
    while ((first * c) % n_threads != 0 && c < base + n_threads)
        c++;
    return c;
}

void sdc_x86_gemm_run(sdc_context *ctx, const sdc_x86_gemm *g)
{
    if (g->M <= 0 || g->N <= 0)
        return;
    if (g->K <= 0) {
        /* An empty sum: C = bias (or C += nothing). */
        for (int64_t m = 0; m < g->M; m++) {
            for (int64_t n = 0; n < g->N; n++) {
                int64_t group = g->n_group > 0 ? n / g->n_group : 0;
                int64_t col = g->n_group > 0 ? n % g->n_group : n;
                float *c = g->c + group * g->group_c_offset + m * g->ldc + col;
                float v = (g->bias_m ? g->bias_m[m] : 0.0f) + (g->bias_n ? g->bias_n[n] : 0.0f);
                *c = g->accumulate ? *c + v : v;
            }
        }
        return;
    }
    const sdc_x86_isa *isa = g->isa;
    int n_threads = sdc_context_n_threads(ctx);
    gemm_plan plan = {.g = g, .ctx = ctx};
    /* A packed block holds BLOCK_BYTES: BLOCK rows of float32, twice as many of bf16 pairs
     * (each packed value of the other operand then serves twice as many products). */
    int64_t block_rows = BLOCK * (int64_t)(sizeof(float) / isa->elem);
    /* One k block when K is at most two blocks (each pass over C costs memory traffic, and a
     * short K would pay it twice for little work), in narrower packed blocks; else equal k
     * blocks of at most SDC_X86_KC. */
    if (g->K <= 2 * SDC_X86_KC) {
        plan.kb = round_up(g->K, 8);
        plan.block = g->K <= SDC_X86_KC ? block_rows : block_rows * SDC_X86_KC / plan.kb / 96 * 96;
    } else {
        plan.kb = round_up(ceil_div(g->K, ceil_div(g->K, SDC_X86_KC)), 8);
        plan.block = block_rows;
    }
    /* Several items per thread so that a core slowed by other work gets fewer of them. */
    int64_t want = n_threads > 1 ? 4 * (int64_t)n_threads : 1;
    if (reuses_b(g)) {
        /* Few rows (a text encoder's 154 tokens): split the columns further instead. */
        int64_t m_possible = ceil_div(g->M, 192);
        split(g->N, isa->nr, plan.block, ceil_div(want, m_possible), 128, &plan.n_chunk,
              &plan.n_chunks);
        split(g->M, isa->mr, 0, balanced_want(want, plan.n_chunks, n_threads), 192, &plan.m_chunk,
              &plan.m_chunks);
    } else {
        split(g->M, isa->mr, plan.block, 1, 0, &plan.m_chunk, &plan.m_chunks);
        split(g->N, isa->nr, 0, balanced_want(want, plan.m_chunks, n_threads), 128, &plan.n_chunk,
              &plan.n_chunks);
    }
    run_items(&plan);
}

/* ---------------------------------------------------------------------------------------- */
/* Standard packers                                                                           */

void sdc_x86_pack_rows(const void *src, const sdc_x86_isa *isa, int width, int64_t i0, int64_t n,
                       int64_t k0, int64_t kc, void *dst, float *tmp)
{
    (void)tmp;
    const sdc_x86_rows *r = src;
    isa->pack(r->data + i0 * r->ld + k0, r->ld, 1, (int)n, width, kc, sdc_x86_kc_padded(isa, kc),
              dst);
}

void sdc_x86_pack_cols(const void *src, const sdc_x86_isa *isa, int width, int64_t i0, int64_t n,
                       int64_t k0, int64_t kc, void *dst, float *tmp)
{
    (void)tmp;
    const sdc_x86_rows *r = src;
    isa->pack(r->data + k0 * r->ld + i0, 1, r->ld, (int)n, width, kc, sdc_x86_kc_padded(isa, kc),
              dst);
}

void sdc_x86_pack_weight(const void *src, const sdc_x86_isa *isa, int width, int64_t i0, int64_t n,
                         int64_t k0, int64_t kc, void *dst, float *tmp)
{
    const sdc_weight *w = src;
    if (w->format == SDC_WEIGHT_FORMAT_DENSE && w->dtype == SDC_DTYPE_F16 && isa->pack_f16_rows) {
        int64_t row_len = sdc_weight_row_len(w);
        isa->pack_f16_rows((const uint16_t *)w->data + i0 * row_len + k0, row_len, (int)n, width,
                           kc, sdc_x86_kc_padded(isa, kc), dst);
        return;
    }
    /* Compressed weights the ISA reads as float16 (palettes of F16 entries): decoded to
     * float16 rows in tmp, then packed like F16 weights. */
    uint16_t *half = (uint16_t *)(void *)tmp;
    if (w->format != SDC_WEIGHT_FORMAT_DENSE && isa->pack_f16_rows && isa->weight_to_f16 &&
        isa->weight_to_f16(w, i0, n, k0, kc, half, kc)) {
        isa->pack_f16_rows(half, kc, (int)n, width, kc, sdc_x86_kc_padded(isa, kc), dst);
        return;
    }
    sdc_x86_decode_rows(w, i0, n, k0, kc, tmp, kc);
    isa->pack(tmp, kc, 1, (int)n, width, kc, sdc_x86_kc_padded(isa, kc), dst);
}
