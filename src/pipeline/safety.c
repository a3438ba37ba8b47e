/*
 * safety.c — the safety checker step of a generation, as diffusers 0.30.2's
 * StableDiffusionPipeline.run_safety_checker: the decoded uint8 images through the feature
 * extractor and StableDiffusionSafetyChecker (src/models/safety_checker.c); a flagged image
 * becomes black (the checker zeroes it and postprocess skips denormalising it: 0 -> 0).
 */
#include "pipeline/pipeline.h"

sdc_status sdc_pipe_safety_check(sdc_context *ctx, const sdc_model *model,
                                 const sdc_safety_checker *checker, sdc_image *images, int64_t n,
                                 int *flagged)
{
    bool *has_nsfw = sdc_calloc(ctx, (size_t)n, sizeof *has_nsfw);
    if (!has_nsfw)
        return sdc_fail_oom(ctx, "safety checker results", (size_t)n);
    sdc_status st = sdc_safety_checker_check_images(ctx, checker, &model->feature_extractor, images,
                                                    n, has_nsfw);
    for (int64_t i = 0; i < n; i++)
        flagged[i] = st == SDC_STATUS_OK && has_nsfw[i];
    sdc_free(ctx, has_nsfw);
    return st;
}
