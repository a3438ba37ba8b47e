/*
 * Tests src/convert/palettize.c: the 1-D k-means is optimal (its total squared error equals a
 * brute force over every contiguous partition of the sorted distinct values on many small random
 * inputs, and a plain O(k n^2) DP on larger ones, with 1 and 3 threads), and palettizing weights
 * handles constant tensors, fewer distinct values than palette entries, groups of rows, every
 * bit width, and refuses NaN, infinities and values beyond float16 naming the tensor.
 */
#include "convert/convert.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng_state = 12345;

static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(double lo, double hi)
{
    return lo + (hi - lo) * (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0);
}

static sdc_context *make_context(int threads)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = threads;
    sdc_context *ctx = NULL;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
        exit(2);
    return ctx;
}

/* Squared error of values [a, b) around their weighted mean, in long double. */
static double segment_sse(const double *x, const double *w, size_t a, size_t b)
{
    long double sw = 0, s = 0;
    for (size_t i = a; i < b; i++) {
        sw += w[i];
        s += w[i] * x[i];
    }
    long double mean = s / sw, e = 0;
    for (size_t i = a; i < b; i++)
        e += w[i] * (x[i] - mean) * (x[i] - mean);
    return (double)e;
}

/* Brute force: every set of cuts between neighbours (at most k - 1 of them). */
static double brute_force(const double *x, const double *w, size_t n, int k)
{
    double best = INFINITY;
    for (uint32_t mask = 0; mask < (1u << (n - 1)); mask++) {
        int cuts = 0;
        for (uint32_t m = mask; m; m &= m - 1)
            cuts++;
        if (cuts > k - 1)
            continue;
        double total = 0;
        size_t start = 0;
        for (size_t i = 1; i <= n; i++)
            if (i == n || (mask >> (i - 1) & 1u)) {
                total += segment_sse(x, w, start, i);
                start = i;
            }
        if (total < best)
            best = total;
    }
    return best;
}

/* The textbook O(k n^2) DP, with long double prefix sums. */
static double plain_dp(const double *x, const double *w, size_t n, int k)
{
    size_t K = (size_t)k < n ? (size_t)k : n;
    long double *pw = calloc(n + 1, sizeof *pw), *ps = calloc(n + 1, sizeof *ps),
                *pq = calloc(n + 1, sizeof *pq);
    for (size_t i = 0; i < n; i++) {
        pw[i + 1] = pw[i] + w[i];
        ps[i + 1] = ps[i] + w[i] * x[i];
        pq[i + 1] = pq[i] + w[i] * x[i] * x[i];
    }
#define COST(j, i) ((pq[i] - pq[j]) - (ps[i] - ps[j]) * (ps[i] - ps[j]) / (pw[i] - pw[j]))
    long double *prev = calloc(n + 1, sizeof *prev), *cur = calloc(n + 1, sizeof *cur);
    for (size_t i = 1; i <= n; i++)
        prev[i] = COST(0, i);
    for (size_t m = 2; m <= K; m++) {
        for (size_t i = m; i <= n; i++) {
            long double best = INFINITY;
            for (size_t j = m - 1; j < i; j++) {
                long double v = prev[j] + COST(j, i);
                if (v < best)
                    best = v;
            }
            cur[i] = best;
        }
        long double *t = prev;
        prev = cur;
        cur = t;
    }
#undef COST
    double r = (double)prev[n];
    free(prev);
    free(cur);
    free(pw);
    free(ps);
    free(pq);
    return r;
}

/* Sorted distinct values with integer weights. */
static void random_values(size_t n, double *x, double *w, double spread)
{
    double v = uniform(-1, 1);
    for (size_t i = 0; i < n; i++) {
        v += uniform(1e-3, spread);
        x[i] = v;
        w[i] = (double)(1 + next_u64() % 5);
    }
}

/* The returned partition's own error equals the reported one. */
static bool partition_consistent(const double *x, const double *w, size_t n, int nc,
                                 const size_t *first, const double *centroids, double sse)
{
    double total = 0;
    for (int c = 0; c < nc; c++) {
        size_t a = first[c], b = c + 1 < nc ? first[c + 1] : n;
        if (b <= a || (c == 0 && a != 0))
            return false;
        total += segment_sse(x, w, a, b);
        double sw = 0, s = 0;
        for (size_t i = a; i < b; i++) {
            sw += w[i];
            s += w[i] * x[i];
        }
        if (fabs(s / sw - centroids[c]) > 1e-12 * (1 + fabs(centroids[c])))
            return false;
    }
    return fabs(total - sse) <= 1e-9 * (1 + total);
}

static void test_kmeans_matches_brute_force(void)
{
    sdc_context *ctx = make_context(1);
    double x[12], w[12], centroids[16];
    size_t first[16];
    int cases = 0;
    for (int trial = 0; trial < 400; trial++) {
        size_t n = 1 + (size_t)(next_u64() % 12);
        int k = 1 + (int)(next_u64() % (n + 1));
        random_values(n, x, w, trial % 2 ? 0.1 : 2.0);
        double sse = -1;
        int nc = 0;
        sdc_status st = sdc_kmeans1d(ctx, x, w, n, k, centroids, first, &nc, &sse);
        double bf = brute_force(x, w, n, k);
        bool ok = st == SDC_STATUS_OK && nc == (k < (int)n ? k : (int)n) &&
                  fabs(sse - bf) <= 1e-9 * (1 + bf) &&
                  partition_consistent(x, w, n, nc, first, centroids, sse);
        CHECK_MSG(ok, "trial %d: n %zu k %d: sse %.17g, brute force %.17g", trial, n, k, sse, bf);
        cases++;
    }
    CHECK_EQ_INT(cases, 400);
    sdc_context_destroy(ctx);
}

/* Larger inputs take the divide-and-conquer path over threads: equal to the plain DP. */
static void test_kmeans_matches_plain_dp(void)
{
    static const size_t sizes[] = {129, 300, 1000};
    static const int ks[] = {2, 4, 16, 64};
    for (int threads = 1; threads <= 3; threads += 2) {
        sdc_context *ctx = make_context(threads);
        for (size_t s = 0; s < 3; s++) {
            size_t n = sizes[s];
            double *x = malloc(n * sizeof *x), *w = malloc(n * sizeof *w);
            double centroids[64];
            size_t first[64];
            random_values(n, x, w, s == 1 ? 0.01 : 1.0);
            for (size_t ki = 0; ki < 4; ki++) {
                double sse = -1;
                int nc = 0;
                sdc_status st = sdc_kmeans1d(ctx, x, w, n, ks[ki], centroids, first, &nc, &sse);
                double ref = plain_dp(x, w, n, ks[ki]);
                CHECK_MSG(st == SDC_STATUS_OK && fabs(sse - ref) <= 1e-9 * (1 + ref) &&
                              partition_consistent(x, w, n, nc, first, centroids, sse),
                          "%d threads, n %zu k %d: sse %.17g, plain DP %.17g", threads, n, ks[ki],
                          sse, ref);
            }
            free(x);
            free(w);
        }
        sdc_context_destroy(ctx);
    }
}

/* Palettizes values [rows, len] and decodes them back through the kernels' decode hook. */
static double palettize_roundtrip(sdc_context *ctx, const float *v, int64_t rows, int64_t len,
                                  int bits, int64_t rpg, sdc_dtype dtype, float *decoded,
                                  sdc_status *status)
{
    size_t row_bytes = sdc_palette_row_bytes(bits, len);
    int64_t groups = (rows + rpg - 1) / rpg;
    uint8_t *idx = calloc((size_t)rows * row_bytes + 1, 1);
    void *pal = calloc((size_t)(groups << bits), sdc_dtype_size(dtype));
    double sse = -1;
    *status = sdc_palettize(ctx, "blocks.0.weight", v, rows, len, bits, rpg, dtype, idx, pal, &sse);
    if (*status == SDC_STATUS_OK) {
        int64_t shape[2] = {rows, len};
        sdc_weight w = sdc_weight_palette(idx, bits, pal, dtype, rpg, 2, shape);
        for (int64_t r = 0; r < rows; r++)
            sdc_weight_decode(&w, r, 0, len, decoded + r * len);
    }
    free(idx);
    free(pal);
    return sse;
}

static void test_constant_and_few_values_are_exact(void)
{
    sdc_context *ctx = make_context(2);
    float v[6 * 50], out[6 * 50];
    sdc_status st;
    for (int i = 0; i < 6 * 50; i++)
        v[i] = 0.3f;
    for (size_t b = 0; b < 5; b++) {
        int bits = (int[]){1, 2, 4, 6, 8}[b];
        double sse = palettize_roundtrip(ctx, v, 6, 50, bits, 6, SDC_DTYPE_F16, out, &st);
        CHECK(st == SDC_STATUS_OK && sse == 0.0);
        bool same = true;
        for (int i = 0; i < 300; i++)
            same = same && out[i] == sdc_f16_to_f32(sdc_f32_to_f16(0.3f));
        CHECK_MSG(same, "constant tensor at %d bits", bits);
    }
    /* 3 distinct values (and -0 counted as 0) into 2-bit and 4-bit palettes: exact. */
    static const float three[3] = {-0.5f, 0.0f, 0.25f};
    for (int i = 0; i < 300; i++)
        v[i] = i % 7 == 0 ? -0.0f : three[next_u64() % 3];
    for (int bits = 2; bits <= 4; bits += 2) {
        double sse = palettize_roundtrip(ctx, v, 6, 50, bits, 2, SDC_DTYPE_F32, out, &st);
        CHECK(st == SDC_STATUS_OK && sse == 0.0);
        bool same = true;
        for (int i = 0; i < 300; i++)
            same = same && out[i] == v[i];
        CHECK_MSG(same, "3 values at %d bits decode exactly", bits);
    }
    sdc_context_destroy(ctx);
}

/* Random weights: every value decodes to its nearest palette entry of its group, the reported
 * error is the decoded error against the float16-rounded values, and more bits never hurt. */
static void test_random_weights(void)
{
    sdc_context *ctx = make_context(2);
    int64_t rows = 12, len = 333;
    float *v = malloc(sizeof(float) * (size_t)(rows * len));
    float *out = malloc(sizeof(float) * (size_t)(rows * len));
    for (int64_t i = 0; i < rows * len; i++)
        v[i] = (float)(uniform(-1, 1) * uniform(0, 1) * 0.05);
    static const sdc_dtype dtypes[] = {SDC_DTYPE_F32, SDC_DTYPE_F16, SDC_DTYPE_BF16};
    for (int d = 0; d < 3; d++) {
        double last = INFINITY;
        for (int b = 0; b < 5; b++) {
            int bits = (int[]){1, 2, 4, 6, 8}[b];
            int64_t rpg = b % 2 ? 5 : rows;
            sdc_status st;
            double sse = palettize_roundtrip(ctx, v, rows, len, bits, rpg, dtypes[d], out, &st);
            CHECK(st == SDC_STATUS_OK);
            double err = 0;
            for (int64_t i = 0; i < rows * len; i++) {
                double h = sdc_f16_to_f32(sdc_f32_to_f16(v[i]));
                err += (h - out[i]) * (h - out[i]);
            }
            CHECK_MSG(fabs(err - sse) <= 1e-9 * (1 + err), "%s %d bits: sse %g vs decoded %g",
                      sdc_dtype_name(dtypes[d]), bits, sse, err);
            if (rpg == rows)
                CHECK_MSG(sse <= last, "%d bits (%g) no worse than fewer bits (%g)", bits, sse,
                          last);
            if (rpg == rows)
                last = sse;
        }
    }
    free(v);
    free(out);
    sdc_context_destroy(ctx);
}

static void test_non_finite_values_are_refused(void)
{
    sdc_context *ctx = make_context(1);
    float v[40], out[40];
    static const float bad[3] = {NAN, INFINITY, 1e6f};
    static const char *const said[3] = {"NaN", "infinity", "beyond 65504"};
    for (int b = 0; b < 3; b++) {
        for (int i = 0; i < 40; i++)
            v[i] = (float)i * 0.01f;
        v[17] = b == 1 ? -bad[b] : bad[b];
        sdc_status st;
        palettize_roundtrip(ctx, v, 4, 10, 4, 4, SDC_DTYPE_F16, out, &st);
        CHECK_EQ_INT(st, SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "blocks.0.weight");
        CHECK_CONTAINS(sdc_context_errmsg(ctx), said[b]);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "element 17");
    }
    sdc_status st;
    palettize_roundtrip(ctx, v, 4, 10, 3, 4, SDC_DTYPE_F16, out, &st);
    CHECK_EQ_INT(st, SDC_STATUS_INVALID_ARGUMENT);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_kmeans_matches_brute_force);
    RUN(test_kmeans_matches_plain_dp);
    RUN(test_constant_and_few_values_are_exact);
    RUN(test_random_weights);
    RUN(test_non_finite_values_are_refused);
    return test_finish();
}
