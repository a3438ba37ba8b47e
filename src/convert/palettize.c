/*
 * palettize.c — k-means weight palettization (coremltools 7 OpPalettizerConfig(mode="kmeans")):
 * an exact optimal 1-D k-means (Grønlund et al. 2017, DP with divide-and-conquer row minima) over
 * the float16-rounded values, counted not sorted, as the seed project clusters float16 weights.
 * Deliberate: centroids are rounded to the palette dtype, then each value takes its nearest entry.
 */
#include "convert/convert.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Exact 1-D k-means                                                                         */

/* Prefix sums over the values, centred on their mean so the variance formula keeps its digits. */
typedef struct kmeans_sums {
    const double *w; /* prefix sums of weights: w[i] = sum of weights of values [0, i) */
    const double *s; /* of weight * value */
    const double *q; /* of weight * value^2 */
} kmeans_sums;

/* The squared error of one cluster holding values [j, i), j < i. */
static double cluster_cost(const kmeans_sums *p, size_t j, size_t i)
{
    double w = p->w[i] - p->w[j];
    double s = p->s[i] - p->s[j];
    double c = (p->q[i] - p->q[j]) - s * s / w;
    return c > 0.0 ? c : 0.0;
}

typedef struct kmeans_layer {
    const kmeans_sums *sums;
    const double *prev; /* D[m-1][j] for j in [0, n] */
    double *cur;        /* D[m][i] */
    uint16_t *arg;      /* argmin j of D[m][i] (j < 65536 because n <= 65536) */
} kmeans_layer;

/* D[m][i] = min over j in [jlo, jhi] (j < i) of D[m-1][j] + cost(j, i); ties take the smallest
 * j so the result does not depend on how the range was split. */
static void solve_point(const kmeans_layer *L, size_t i, size_t jlo, size_t jhi)
{
    if (jhi > i - 1)
        jhi = i - 1;
    double best = INFINITY;
    size_t best_j = jlo;
    for (size_t j = jlo; j <= jhi; j++) {
        double v = L->prev[j] + cluster_cost(L->sums, j, i);
        if (v < best) {
            best = v;
            best_j = j;
        }
    }
    L->cur[i] = best;
    L->arg[i] = (uint16_t)best_j;
}

/* Fills D[m][i] for i in [lo, hi] knowing their argmins lie in [jlo, jhi] (the argmin is
 * non-decreasing in i for this cost, so the middle point splits the search range). */
static void solve_range(const kmeans_layer *L, size_t lo, size_t hi, size_t jlo, size_t jhi)
{
    while (lo <= hi) {
        size_t mid = lo + (hi - lo) / 2;
        solve_point(L, mid, jlo, jhi);
        size_t j = L->arg[mid];
        if (mid > lo)
            solve_range(L, lo, mid - 1, jlo, j);
        lo = mid + 1;
        jlo = j;
    }
}

enum { SEGMENTS = 32 };

typedef struct segment_job {
    const kmeans_layer *layer;
    size_t pivot[SEGMENTS + 1]; /* i of each solved pivot; segments lie strictly between */
} segment_job;

static void solve_segments(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const segment_job *job = arg;
    for (int64_t s = begin; s < end; s++) {
        size_t a = job->pivot[s], b = job->pivot[s + 1];
        if (b > a + 1)
            solve_range(job->layer, a + 1, b - 1, job->layer->arg[a], job->layer->arg[b]);
    }
}

/* One DP layer over i in [first, n]: the pivots first (each narrowed by the pivots around it),
 * then the segments between them on the context's threads. */
static void solve_layer(sdc_context *ctx, const kmeans_layer *L, size_t first, size_t n,
                        size_t jmin)
{
    if (n - first < 4 * SEGMENTS) {
        solve_range(L, first, n, jmin, n - 1);
        return;
    }
    segment_job job = {.layer = L};
    for (int s = 0; s <= SEGMENTS; s++)
        job.pivot[s] = first + (n - first) * (size_t)s / SEGMENTS;
    solve_point(L, job.pivot[0], jmin, n - 1);
    solve_point(L, job.pivot[SEGMENTS], L->arg[job.pivot[0]], n - 1);
    /* Pivots by bisection of the pivot list, each searching between its solved neighbours. */
    for (int step = SEGMENTS / 2; step >= 1; step /= 2)
        for (int s = step; s < SEGMENTS; s += 2 * step)
            solve_point(L, job.pivot[s], L->arg[job.pivot[s - step]], L->arg[job.pivot[s + step]]);
    sdc_parallel_for(ctx, SEGMENTS, 1, solve_segments, &job);
}

sdc_status sdc_kmeans1d(sdc_context *ctx, const double *x, const double *weight, size_t n, int k,
                        double *centroids, size_t *first, int *n_clusters, double *sse)
{
    if (n == 0 || k < 1 || n > SDC_KMEANS_MAX_VALUES)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "k-means: %zu values into %d clusters (needs 1 to %d values, k >= 1)", n, k,
                        SDC_KMEANS_MAX_VALUES);
    size_t K = (size_t)k < n ? (size_t)k : n;
    double total_w = 0.0, total_s = 0.0;
    for (size_t i = 0; i < n; i++) {
        total_w += weight[i];
        total_s += weight[i] * x[i];
    }
    double mean = total_s / total_w;

    size_t cells = (n + 1) * 5, arg_cells;
    double *mem = NULL;
    uint16_t *args = NULL;
    sdc_status st = SDC_STATUS_OK;
    if (!sdc_size_mul(K, n + 1, &arg_cells) || !(mem = sdc_malloc(ctx, cells * sizeof *mem)) ||
        !(args = sdc_malloc(ctx, arg_cells * sizeof *args))) {
        st = sdc_fail_oom(ctx, "k-means tables", cells * sizeof *mem + arg_cells * 2);
        goto done;
    }
    double *pw = mem, *ps = mem + (n + 1), *pq = mem + 2 * (n + 1);
    double *prev = mem + 3 * (n + 1), *cur = mem + 4 * (n + 1);
    pw[0] = ps[0] = pq[0] = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        pw[i + 1] = pw[i] + weight[i];
        ps[i + 1] = ps[i] + weight[i] * d;
        pq[i + 1] = pq[i] + weight[i] * d * d;
    }
    kmeans_sums sums = {.w = pw, .s = ps, .q = pq};

    /* Layer 1: one cluster over [0, i). Layer m: m clusters over [0, i) for i in [m, n]. */
    for (size_t i = 1; i <= n; i++) {
        prev[i] = cluster_cost(&sums, 0, i);
        args[i] = 0;
    }
    for (size_t m = 2; m <= K; m++) {
        kmeans_layer L = {.sums = &sums, .prev = prev, .cur = cur, .arg = args + (m - 1) * (n + 1)};
        /* Only the last layer's final cell is needed. */
        if (m == K)
            solve_point(&L, n, m - 1, n - 1);
        else
            solve_layer(ctx, &L, m, n, m - 1);
        double *t = prev;
        prev = cur;
        cur = t;
    }
    /* Walk the argmins back from D[K][n]. */
    size_t end = n;
    for (size_t m = K; m >= 1; m--) {
        size_t begin = m == 1 ? 0 : args[(m - 1) * (n + 1) + end];
        first[m - 1] = begin;
        centroids[m - 1] = mean + (ps[end] - ps[begin]) / (pw[end] - pw[begin]);
        end = begin;
    }
    *sse = prev[n];
    *n_clusters = (int)K;
done:
    sdc_free(ctx, args);
    sdc_free(ctx, mem);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Palettizing weights                                                                        */

/* Every finite float16 value in increasing order, as bit patterns (-0 left out: it counts as
 * +0). */
static size_t f16_value_order(uint16_t *order)
{
    size_t n = 0;
    for (unsigned h = 0xFBFF; h >= 0x8001; h--)
        order[n++] = (uint16_t)h;
    for (unsigned h = 0x0000; h <= 0x7BFF; h++)
        order[n++] = (uint16_t)h;
    return n;
}

static float round_to(sdc_dtype dtype, double v, void *dst, size_t index)
{
    float f = (float)v;
    if (dtype == SDC_DTYPE_F16) {
        uint16_t h = sdc_f32_to_f16(f);
        ((uint16_t *)dst)[index] = h;
        return sdc_f16_to_f32(h);
    }
    if (dtype == SDC_DTYPE_BF16) {
        uint16_t h = sdc_f32_to_bf16(f);
        ((uint16_t *)dst)[index] = h;
        return sdc_bf16_to_f32(h);
    }
    ((float *)dst)[index] = f;
    return f;
}

typedef struct palettizer {
    sdc_context *ctx;
    uint16_t order[63488];
    size_t n_order;
    uint64_t count[65536];
    uint8_t index_of[65536];
    double x[SDC_KMEANS_MAX_VALUES], w[SDC_KMEANS_MAX_VALUES];
    double centroids[1 << SDC_PALETTE_MAX_BITS];
    size_t first[1 << SDC_PALETTE_MAX_BITS];
} palettizer;

/* The float16 bits of v, checked: NaN, inf and values beyond the float16 range are refused. */
static sdc_status to_f16(sdc_context *ctx, const char *name, float v, int64_t at, uint16_t *out)
{
    uint16_t h = sdc_f32_to_f16(v);
    if ((h & 0x7C00) == 0x7C00)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "palettize: tensor '%s' holds %s at element %lld; only finite values "
                        "within the float16 range can be palettized",
                        name,
                        isnan(v)   ? "NaN"
                        : isinf(v) ? "an infinity"
                                   : "a value beyond 65504",
                        (long long)at);
    *out = h == 0x8000 ? 0 : h;
    return SDC_STATUS_OK;
}

/* One group of rows [r0, r1): counts, clusters, palette, index table. */
static sdc_status palettize_group(palettizer *P, const char *name, const float *values, int64_t r0,
                                  int64_t r1, int64_t row_len, int bits, sdc_dtype palette_dtype,
                                  void *palette, int64_t group, double *sse)
{
    int K = 1 << bits;
    memset(P->count, 0, sizeof P->count);
    for (int64_t i = r0 * row_len; i < r1 * row_len; i++) {
        uint16_t h = 0;
        sdc_status st = to_f16(P->ctx, name, values[i], i, &h);
        if (st != SDC_STATUS_OK)
            return st;
        P->count[h]++;
    }
    size_t n = 0;
    for (size_t o = 0; o < P->n_order; o++) {
        uint16_t h = P->order[o];
        if (P->count[h] == 0)
            continue;
        P->x[n] = sdc_f16_to_f32(h);
        P->w[n] = (double)P->count[h];
        n++;
    }
    float pv[1 << SDC_PALETTE_MAX_BITS];
    size_t pal_base = (size_t)(group * K);
    if (n <= (size_t)K) {
        /* Every distinct value gets its own entry; the spare entries repeat the last one. */
        for (int c = 0; c < K; c++)
            pv[c] = round_to(palette_dtype, n ? P->x[(size_t)c < n ? (size_t)c : n - 1] : 0.0,
                             palette, pal_base + (size_t)c);
    } else {
        int n_clusters;
        double dp_sse;
        sdc_status st =
            sdc_kmeans1d(P->ctx, P->x, P->w, n, K, P->centroids, P->first, &n_clusters, &dp_sse);
        if (st != SDC_STATUS_OK)
            return st;
        for (int c = 0; c < K; c++)
            pv[c] = round_to(palette_dtype, P->centroids[c], palette, pal_base + (size_t)c);
    }
    /* Nearest entry for each value (ties to the lower index). The entries are non-decreasing,
     * so a pointer sweeps along with the values. */
    int c = 0;
    double err = 0.0;
    for (size_t j = 0, o = 0; o < P->n_order; o++) {
        uint16_t h = P->order[o];
        if (P->count[h] == 0)
            continue;
        double v = P->x[j++];
        while (c + 1 < K && fabs(v - pv[c + 1]) < fabs(v - pv[c]))
            c++;
        P->index_of[h] = (uint8_t)c;
        err += P->count[h] * (v - pv[c]) * (v - pv[c]);
    }
    P->index_of[0x8000] = P->index_of[0];
    *sse += err;
    return SDC_STATUS_OK;
}

sdc_status sdc_palettize(sdc_context *ctx, const char *name, const float *values, int64_t rows,
                         int64_t row_len, int bits, int64_t rows_per_group, sdc_dtype palette_dtype,
                         uint8_t *indices, void *palette, double *sse)
{
    if (!sdc_palette_bits_valid(bits) || rows < 0 || row_len < 0 || rows_per_group < 1 ||
        (palette_dtype != SDC_DTYPE_F32 && palette_dtype != SDC_DTYPE_F16 &&
         palette_dtype != SDC_DTYPE_BF16))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "palettize: tensor '%s': %d bits, %lld rows per group, %s palette (needs "
                        "1, 2, 4, 6 or 8 bits, >= 1 row per group, an F32/F16/BF16 palette)",
                        name, bits, (long long)rows_per_group, sdc_dtype_name(palette_dtype));
    palettizer *P = sdc_malloc(ctx, sizeof *P);
    if (!P)
        return sdc_fail_oom(ctx, "the palettizer", sizeof *P);
    P->ctx = ctx;
    P->n_order = f16_value_order(P->order);
    size_t row_bytes = sdc_palette_row_bytes(bits, row_len);
    memset(indices, 0, (size_t)rows * row_bytes);
    *sse = 0.0;
    sdc_status st = SDC_STATUS_OK;
    for (int64_t g = 0, r0 = 0; r0 < rows && st == SDC_STATUS_OK; g++, r0 += rows_per_group) {
        int64_t r1 = r0 + rows_per_group < rows ? r0 + rows_per_group : rows;
        st =
            palettize_group(P, name, values, r0, r1, row_len, bits, palette_dtype, palette, g, sse);
        for (int64_t r = r0; r < r1 && st == SDC_STATUS_OK; r++) {
            uint8_t *row = indices + (size_t)r * row_bytes;
            for (int64_t i = 0; i < row_len; i++) {
                unsigned idx = P->index_of[sdc_f32_to_f16(values[r * row_len + i])];
                int64_t bit = i * bits;
                row[bit / 8] |= (uint8_t)(idx << (bit % 8));
                if (bit % 8 + bits > 8)
                    row[bit / 8 + 1] |= (uint8_t)(idx >> (8 - bit % 8));
            }
        }
    }
    sdc_free(ctx, P);
    return st;
}
