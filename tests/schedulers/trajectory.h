/*
 * trajectory.h — replays the scheduler fixtures: each case's scheduler is built from the
 * recorded effective diffusers config, then run through the pipeline loop with the fixtures'
 * toy model and random streams (gen_schedulers.py's run_case).
 *
 * Two references (see tools/reference/gen_schedulers_exact.py for why):
 *   exact   schedulers/exact_math.safetensors, diffusers with correctly rounded float32
 *           sqrt/log/exp/expm1: timesteps, sigmas, init_noise_sigma, the final sample and the
 *           last x0 must be bit-identical.
 *   diffusers as recorded (torch on MKL's vector math, 1-ulp noise): timesteps exactly;
 *           sigmas and init_noise_sigma within 1e-6 relative error element by element (exact
 *           where the reference is 0); every intermediate sample and the last x0 within
 *           TRAJ_TOL relative error per array, max|got - ref| / max|ref|. TRAJ_TOL is 5e-6,
 *           not 1e-6: a few steps amplify the reference's own rounding noise past 1e-6 (the
 *           worst, Euler ancestral's 14.6 -> 0.03 step, reaches 2.7e-6); the exact reference
 *           above is what pins sdc's arithmetic down.
 * Header-only: one copy per solver test.
 */
#ifndef SDC_TESTS_SCHEDULERS_TRAJECTORY_H
#define SDC_TESTS_SCHEDULERS_TRAJECTORY_H

#include "schedulers/schedulers.h"
#include "fixture_cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define TRAJ_TOL       5e-6
#define TRAJ_SIGMA_TOL 1e-6
#define TRAJ_NUMEL     256 /* the fixtures' [1, 4, 8, 8] samples */
#define TRAJ_MAX_CALLS 128

/* gen_schedulers.toy_model: two coefficients in double rounded to float32, then float32
 * element-wise ops. */
static inline void toy_model(const float *x, double t, float *out, size_t n)
{
    float c1 = (float)(0.5 * cos(0.013 * t));
    float c2 = (float)(0.3 + 0.2 * sin(0.007 * t));
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] * c1 + (x[i] / (x[i] * x[i] + 1.0f)) * c2;
}

/* max|got - want| / max|want| over n values (NaN counts as infinitely wrong). */
static inline double traj_norm_err(const float *got, const float *want, size_t n)
{
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        diff = isnan(d) ? INFINITY : fmax(diff, d);
        scale = fmax(scale, fabs((double)want[i]));
    }
    return diff == 0.0 ? 0.0 : diff / scale;
}

static inline double traj_relative_err(double got, double want)
{
    if (want == 0.0)
        return got == 0.0 ? 0.0 : INFINITY;
    return fabs(got - want) / fabs(want);
}

static inline bool traj_same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* The case's config object from the entry's "configs" map. */
static inline const sdc_json *traj_config_of(const fixture *f, const sdc_json *c)
{
    const sdc_json *configs = sdc_json_get_type(f->entry, "configs", SDC_JSON_TYPE_OBJECT);
    const char *key = json_str(c, "config");
    return configs && key ? sdc_json_get_type(configs, key, SDC_JSON_TYPE_OBJECT) : NULL;
}

/* Builds the case's scheduler as diffusers' Class.from_config(config) plus the step kwargs. */
static inline sdc_scheduler *traj_make(sdc_context *ctx, const fixture *f, const sdc_json *c,
                                       bool *use_rng)
{
    const char *name = json_str(c, "case");
    const char *cls = json_str(c, "class");
    const sdc_json *config = traj_config_of(f, c);
    int64_t steps = 0;
    CHECK(name && cls && config && json_int(c, "steps", &steps));
    if (!name || !cls || !config)
        return NULL;
    sdc_scheduler_config cfg;
    sdc_status st = sdc_scheduler_config_build(ctx, cls, config, name, &cfg);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: config: %s", name, sdc_context_errmsg(ctx));
    if (st != SDC_STATUS_OK)
        return NULL;
    const sdc_json *kwargs = sdc_json_get_type(c, "step_kwargs", SDC_JSON_TYPE_OBJECT);
    const sdc_json *eta = kwargs ? sdc_json_get_type(kwargs, "eta", SDC_JSON_TYPE_NUMBER) : NULL;
    if (eta)
        cfg.eta = eta->u.number.value;
    *use_rng = kwargs && sdc_json_get(kwargs, "generator") != NULL;
    sdc_scheduler *sched = NULL;
    st = sdc_scheduler_create(ctx, &cfg, (int)steps, TRAJ_NUMEL, &sched);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: create: %s", name, sdc_context_errmsg(ctx));
    return sched;
}

/* The loop of run_case from `initial`; samples[call * TRAJ_NUMEL ...] receives every step's
 * result. The step generator is torch.Generator("cpu").manual_seed(1), made once per case. */
static inline bool traj_replay(sdc_context *ctx, sdc_scheduler *sched, const float *initial,
                               bool use_rng, float *samples)
{
    size_t n_calls = sdc_scheduler_n_calls(sched);
    sdc_rng *rng = NULL;
    if (use_rng)
        CHECK(sdc_rng_create(ctx, SDC_RNG_KIND_TORCH, 1, &rng) == SDC_STATUS_OK);
    float sample[TRAJ_NUMEL], scaled[TRAJ_NUMEL], out[TRAJ_NUMEL];
    memcpy(sample, initial, sizeof sample);
    bool ok = n_calls <= TRAJ_MAX_CALLS;
    for (size_t call = 0; ok && call < n_calls; call++) {
        double t = sdc_scheduler_timestep(sched, call);
        ok = sdc_scheduler_scale_model_input(sched, call, sample, scaled) == SDC_STATUS_OK;
        toy_model(scaled, t, out, TRAJ_NUMEL);
        ok = ok && sdc_scheduler_step(sched, call, out, sample, rng) == SDC_STATUS_OK;
        CHECK_MSG(ok, "step %zu: %s", call, sdc_context_errmsg(ctx));
        memcpy(samples + call * TRAJ_NUMEL, sample, sizeof sample);
    }
    sdc_rng_destroy(rng);
    return ok;
}

typedef struct traj_stats {
    int n_cases;
    double worst_sample, worst_x0, worst_sigma;
    char worst_case[128];
} traj_stats;

/* One case of the recorded (MKL) fixture. */
static inline void traj_check_recorded(sdc_context *ctx, fixture *f, const sdc_json *c,
                                       traj_stats *stats)
{
    const char *name = json_str(c, "case");
    int64_t n_calls = 0;
    bool use_rng = false;
    CHECK(json_int(c, "n_model_calls", &n_calls));
    sdc_scheduler *sched = traj_make(ctx, f, c, &use_rng);
    if (!sched)
        return;
    char tname[160];
    size_t numel = 0;
    CHECK_EQ_INT(sdc_scheduler_n_calls(sched), n_calls);

    const char *ts_dtype = json_str(c, "timesteps_dtype");
    bool ints = ts_dtype && strcmp(ts_dtype, "I64") == 0;
    snprintf(tname, sizeof tname, "%s.timesteps", name);
    const void *ts = fixture_tensor(f, tname, ints ? SDC_DTYPE_I64 : SDC_DTYPE_F32, &numel);
    for (size_t i = 0; ts && i < numel && i < (size_t)n_calls; i++) {
        double want = ints ? (double)((const int64_t *)ts)[i] : ((const float *)ts)[i];
        double got = sdc_scheduler_timestep(sched, i);
        CHECK_MSG((ints ? got : (float)got) == want, "%s: timestep %zu: %.9g vs %.9g", name, i, got,
                  want);
    }

    size_t n_sigmas = 0;
    const float *sigmas = sdc_scheduler_sigmas(sched, &n_sigmas);
    snprintf(tname, sizeof tname, "%s.sigmas", name);
    if (fixture_has(f, tname)) {
        const float *want = fixture_tensor(f, tname, SDC_DTYPE_F32, &numel);
        CHECK_EQ_INT(n_sigmas, numel);
        for (size_t i = 0; want && sigmas && i < numel && i < n_sigmas; i++) {
            double e = traj_relative_err(sigmas[i], want[i]);
            stats->worst_sigma = fmax(stats->worst_sigma, e);
            CHECK_MSG(e <= TRAJ_SIGMA_TOL, "%s: sigma %zu: %.9g vs %.9g", name, i,
                      (double)sigmas[i], (double)want[i]);
        }
    } else {
        CHECK_MSG(n_sigmas == 0, "%s: sdc has sigmas where diffusers has none", name);
    }
    snprintf(tname, sizeof tname, "%s.init_noise_sigma", name);
    if (fixture_has(f, tname)) {
        const float *want = fixture_tensor(f, tname, SDC_DTYPE_F32, &numel);
        if (want)
            CHECK_MSG(traj_relative_err(sdc_scheduler_init_noise_sigma(sched), want[0]) <=
                          TRAJ_SIGMA_TOL,
                      "%s: init_noise_sigma %.9g vs %.9g", name,
                      (double)sdc_scheduler_init_noise_sigma(sched), (double)want[0]);
    }

    snprintf(tname, sizeof tname, "%s.initial_sample", name);
    const float *initial = fixture_tensor(f, tname, SDC_DTYPE_F32, &numel);
    snprintf(tname, sizeof tname, "%s.samples", name);
    const float *want = fixture_tensor(f, tname, SDC_DTYPE_F32, &numel);
    float *got = calloc((size_t)TRAJ_MAX_CALLS * TRAJ_NUMEL, sizeof *got);
    if (initial && want && got && numel == (size_t)n_calls * TRAJ_NUMEL &&
        traj_replay(ctx, sched, initial, use_rng, got)) {
        for (size_t call = 0; call < (size_t)n_calls; call++) {
            double e = traj_norm_err(got + call * TRAJ_NUMEL, want + call * TRAJ_NUMEL, TRAJ_NUMEL);
            if (e > stats->worst_sample) {
                stats->worst_sample = e;
                snprintf(stats->worst_case, sizeof stats->worst_case, "%s call %zu", name, call);
            }
            CHECK_MSG(e <= TRAJ_TOL, "%s: sample after call %zu differs by %g", name, call, e);
        }
        const char *x0_names[] = {"pred_original_sample", "denoised"};
        for (int k = 0; k < 2; k++) {
            snprintf(tname, sizeof tname, "%s.%s", name, x0_names[k]);
            if (!fixture_has(f, tname))
                continue;
            const float *x0 = fixture_tensor(f, tname, SDC_DTYPE_F32, &numel);
            const float *mine = sdc_scheduler_denoised(sched);
            CHECK_MSG(mine != NULL, "%s: no denoised estimate", name);
            if (x0 && mine) {
                double e = traj_norm_err(mine, x0, TRAJ_NUMEL);
                stats->worst_x0 = fmax(stats->worst_x0, e);
                CHECK_MSG(e <= TRAJ_TOL, "%s: %s differs by %g", name, x0_names[k], e);
            }
        }
        stats->n_cases++;
    } else {
        CHECK_MSG(false, "%s: could not replay", name);
    }
    free(got);
    sdc_scheduler_destroy(sched);
}

/* One case of exact_math.safetensors: bit for bit. */
static inline void traj_check_exact(sdc_context *ctx, fixture *f, const sdc_json *c, int *n_checked)
{
    const char *name = json_str(c, "case");
    bool use_rng = false;
    sdc_scheduler *sched = traj_make(ctx, f, c, &use_rng);
    if (!sched)
        return;
    char tname[192];
    size_t numel = 0, n_sigmas = 0;
    const float *sigmas = sdc_scheduler_sigmas(sched, &n_sigmas);
    snprintf(tname, sizeof tname, "%s.sigmas", name);
    if (fixture_has(f, tname)) {
        const float *want = fixture_tensor(f, tname, SDC_DTYPE_F32, &numel);
        CHECK_MSG(want && sigmas && numel == n_sigmas && traj_same_bits(sigmas, want, numel),
                  "%s: sigmas differ", name);
    }
    snprintf(tname, sizeof tname, "%s.init_noise_sigma", name);
    if (fixture_has(f, tname)) {
        const float *want = fixture_tensor(f, tname, SDC_DTYPE_F32, &numel);
        float mine = sdc_scheduler_init_noise_sigma(sched);
        CHECK_MSG(want && traj_same_bits(&mine, want, 1), "%s: init_noise_sigma %.9g vs %.9g", name,
                  (double)mine, want ? (double)want[0] : 0.0);
    }
    snprintf(tname, sizeof tname, "%s.initial_sample", name);
    const float *initial = fixture_tensor(f, tname, SDC_DTYPE_F32, &numel);
    snprintf(tname, sizeof tname, "%s.final_sample", name);
    const float *final = fixture_tensor(f, tname, SDC_DTYPE_F32, &numel);
    float *got = calloc((size_t)TRAJ_MAX_CALLS * TRAJ_NUMEL, sizeof *got);
    if (initial && final && got && traj_replay(ctx, sched, initial, use_rng, got)) {
        size_t last = sdc_scheduler_n_calls(sched) - 1;
        const float *mine = got + last * TRAJ_NUMEL;
        CHECK_MSG(traj_same_bits(mine, final, TRAJ_NUMEL), "%s: final sample differs (relative %g)",
                  name, traj_norm_err(mine, final, TRAJ_NUMEL));
        snprintf(tname, sizeof tname, "%s.final_x0", name);
        if (fixture_has(f, tname)) {
            const float *x0 = fixture_tensor(f, tname, SDC_DTYPE_F32, &numel);
            const float *denoised = sdc_scheduler_denoised(sched);
            CHECK_MSG(x0 && denoised && traj_same_bits(denoised, x0, TRAJ_NUMEL),
                      "%s: last x0 differs", name);
        }
        (*n_checked)++;
    } else {
        CHECK_MSG(false, "%s: could not replay", name);
    }
    free(got);
    sdc_scheduler_destroy(sched);
}

/* Every case of one solver's fixture file, against both references. */
static inline void traj_run_file(const char *rel)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(&p, &ctx) == SDC_STATUS_OK);
    if (!ctx)
        return;
    fixture f;
    traj_stats stats = {0};
    int recorded = 0, exact = 0, exact_checked = 0;
    if (fixture_open(&f, ctx, rel)) {
        CHECK_MSG(f.st != NULL, "%s was not written (see its manifest entry)", rel);
        const sdc_json *cases = fixture_cases(&f);
        for (size_t i = 0; f.st && cases && i < cases->u.array.count; i++) {
            const sdc_json *c = cases->u.array.items[i];
            const char *status = json_str(c, "status");
            if (!status || strcmp(status, "ok") != 0)
                continue;
            recorded++;
            traj_check_recorded(ctx, &f, c, &stats);
            fixture_release_copies(&f);
        }
        fixture_close(&f);
    }
    if (fixture_open(&f, ctx, "schedulers/exact_math.safetensors")) {
        const sdc_json *cases = fixture_cases(&f);
        for (size_t i = 0; cases && i < cases->u.array.count; i++) {
            const sdc_json *c = cases->u.array.items[i];
            const char *file = json_str(c, "file");
            if (!file || strcmp(file, rel) != 0)
                continue;
            exact++;
            traj_check_exact(ctx, &f, c, &exact_checked);
            fixture_release_copies(&f);
        }
        fixture_close(&f);
    }
    CHECK(recorded > 0);
    CHECK_EQ_INT(stats.n_cases, recorded);
    CHECK_EQ_INT(exact, recorded);
    CHECK_EQ_INT(exact_checked, exact);
    fprintf(stderr,
            "%s: %d cases bit-exact with correctly rounded math; against the recorded run, "
            "worst relative errors: samples %.3g (%s), x0 %.3g, sigmas %.3g\n",
            rel, exact_checked, stats.worst_sample, stats.worst_case, stats.worst_x0,
            stats.worst_sigma);
    sdc_context_destroy(ctx);
}

/* Runs `name` (over SD 1.5's config, edited by `edit` when given) for `steps` steps from unit
 * noise with the toy model; returns false unless every step succeeds and the final sample is
 * finite. `final` and `denoised` (TRAJ_NUMEL floats each) may be NULL. */
static inline bool traj_smoke(const char *name, int steps, void (*edit)(sdc_scheduler_config *),
                              float *final, float *denoised)
{
    static const char sd15[] =
        "{\"_class_name\": \"PNDMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": "
        "\"scaled_linear\", \"beta_start\": 0.00085, \"clip_sample\": false, "
        "\"num_train_timesteps\": 1000, \"set_alpha_to_one\": false, \"skip_prk_steps\": true, "
        "\"steps_offset\": 1, \"trained_betas\": null}";
    sdc_context *ctx = NULL;
    sdc_json_doc *doc = NULL;
    sdc_scheduler *sched = NULL;
    sdc_rng *noise = NULL;
    float *samples = NULL;
    bool ok = false;
    sdc_scheduler_config cfg;
    if (sdc_context_create(NULL, &ctx) != SDC_STATUS_OK ||
        sdc_json_parse(ctx, sd15, strlen(sd15), "sd15", &doc) != SDC_STATUS_OK ||
        sdc_scheduler_config_build(ctx, name, doc->root, "sd15", &cfg) != SDC_STATUS_OK)
        goto done;
    if (edit)
        edit(&cfg);
    if (sdc_scheduler_create(ctx, &cfg, steps, TRAJ_NUMEL, &sched) != SDC_STATUS_OK ||
        sdc_rng_create(ctx, SDC_RNG_KIND_TORCH, 0, &noise) != SDC_STATUS_OK)
        goto done;
    float initial[TRAJ_NUMEL];
    sdc_rng_normal(noise, initial, TRAJ_NUMEL);
    for (int i = 0; i < TRAJ_NUMEL; i++)
        initial[i] *= sdc_scheduler_init_noise_sigma(sched);
    samples = calloc((size_t)TRAJ_MAX_CALLS * TRAJ_NUMEL, sizeof *samples);
    if (!samples || !traj_replay(ctx, sched, initial, true, samples))
        goto done;
    const float *last = samples + (sdc_scheduler_n_calls(sched) - 1) * TRAJ_NUMEL;
    ok = true;
    for (int i = 0; i < TRAJ_NUMEL; i++)
        ok = ok && isfinite(last[i]);
    if (final)
        memcpy(final, last, TRAJ_NUMEL * sizeof *final);
    if (denoised) {
        const float *d = sdc_scheduler_denoised(sched);
        ok = ok && d != NULL;
        if (d)
            memcpy(denoised, d, TRAJ_NUMEL * sizeof *denoised);
    }
done:
    if (!ok)
        fprintf(stderr, "traj_smoke %s: %s\n", name, ctx ? sdc_context_errmsg(ctx) : "no context");
    free(samples);
    sdc_rng_destroy(noise);
    sdc_scheduler_destroy(sched);
    sdc_json_free(doc);
    sdc_context_destroy(ctx);
    return ok;
}

#endif /* SDC_TESTS_SCHEDULERS_TRAJECTORY_H */
