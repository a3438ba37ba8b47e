/*
 * infotext.c — the "parameters" text AUTOMATIC1111's webui (modules/processing.py
 * create_infotext, 1.9+) stores in a PNG, so that it, ComfyUI importers and civitai read how
 * an sdc image was made: prompt, "Negative prompt: ..." line, then "Key: value" pairs in the
 * webui's order, values quoted as infotext_utils.quote does, the whole text stripped. An
 * SDXL refiner adds the webui's "Refiner" and "Refiner switch at".
 */
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sdc_pipe_a1111_sampler(const char *sdc_name, const char **sampler, const char **schedule)
{
    static const struct {
        const char *sdc, *sampler, *schedule;
    } map[] = {
        {"euler_a", "Euler a", NULL},
        {"euler", "Euler", NULL},
        {"heun", "Heun", NULL},
        {"lms", "LMS", NULL},
        {"dpm++2m", "DPM++ 2M", NULL},
        {"dpm++2m-karras", "DPM++ 2M", "Karras"},
        {"dpm++2m-sde", "DPM++ 2M SDE", NULL},
        {"dpm++2m-sde-karras", "DPM++ 2M SDE", "Karras"},
        {"unipc", "UniPC", NULL},
        {"ddim", "DDIM", NULL},
        {"pndm", "PLMS", NULL},
        {"lcm", "LCM", NULL},
        {"flow-euler", "Euler", NULL},
    };
    *sampler = sdc_name;
    *schedule = NULL;
    for (size_t i = 0; sdc_name && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(sdc_name, map[i].sdc) == 0) {
            *sampler = map[i].sampler;
            *schedule = map[i].schedule;
        }
}

/* Python's repr of the float the user gave: the shortest decimal that reads back as it
 * (7.5 -> "7.5"), with ".0" on whole numbers (7 -> "7.0"). */
static void float_repr(float v, char *out, size_t size)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(out, size, "%.*g", prec, (double)v);
        if (strtof(out, NULL) == v)
            break;
    }
    if (!strpbrk(out, ".eEn"))
        strncat(out, ".0", size - strlen(out) - 1);
}

/* infotext_utils.quote: values with ',', '\n' or ':' are written as JSON strings. */
static void append_value(sdc_buf *b, const char *v)
{
    if (!strpbrk(v, ",\n:")) {
        sdc_buf_append_str(b, v);
        return;
    }
    sdc_json_writer w;
    sdc_json_writer_init(&w, b, false);
    sdc_json_string(&w, v);
}

static void append_pair(sdc_buf *b, bool *first, const char *key, const char *value)
{
    if (!*first)
        sdc_buf_append_str(b, ", ");
    *first = false;
    sdc_buf_append_str(b, key);
    sdc_buf_append_str(b, ": ");
    append_value(b, value);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

sdc_status sdc_pipe_parameters_text(sdc_context *ctx, sdc_model *model, const sdc_pipe_request *req,
                                    const char *scheduler_name, int64_t index, char **out)
{
    const sdc_generation_params *p = req->params;
    char num[64];
    sdc_buf b;
    sdc_buf_init(&b, ctx);
    sdc_buf_append_str(&b, p->prompt ? p->prompt : "");
    if (p->negative_prompt && p->negative_prompt[0]) {
        sdc_buf_append_str(&b, "\nNegative prompt: ");
        sdc_buf_append_str(&b, p->negative_prompt);
    }
    sdc_buf_append_str(&b, "\n");

    bool first = true;
    const char *sampler, *schedule;
    sdc_pipe_a1111_sampler(scheduler_name, &sampler, &schedule);
    snprintf(num, sizeof num, "%d", p->steps);
    append_pair(&b, &first, "Steps", num);
    append_pair(&b, &first, "Sampler", sampler);
    if (schedule)
        append_pair(&b, &first, "Schedule type", schedule);
    float_repr(p->guidance_scale, num, sizeof num);
    append_pair(&b, &first, "CFG scale", num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)p->seed);
    append_pair(&b, &first, "Seed", num);
    snprintf(num, sizeof num, "%dx%d", req->width, req->height);
    append_pair(&b, &first, "Size", num);
    const char *hash = sdc_pipe_model_hash(ctx, model);
    if (hash[0])
        append_pair(&b, &first, "Model hash", hash);
    append_pair(&b, &first, "Model", model->name);
    if (req->mode != SDC_PIPE_MODE_TXT2IMG) {
        float_repr(p->strength, num, sizeof num);
        append_pair(&b, &first, "Denoising strength", num);
    }
    if (p->clip_skip > 1) {
        snprintf(num, sizeof num, "%d", p->clip_skip);
        append_pair(&b, &first, "Clip skip", num);
    }
    /* The webui's own sources: "CPU" is torch's CPU generator; its default "GPU" (Philox) is
     * left out as it does; numpy has no webui equivalent and is named as it is. */
    if (p->rng == SDC_RNG_SOURCE_TORCH)
        append_pair(&b, &first, "RNG", "CPU");
    else if (p->rng == SDC_RNG_SOURCE_NUMPY)
        append_pair(&b, &first, "RNG", "numpy");
    if (p->refiner) {
        /* the webui's refiner fields: "Refiner: name [hash], Refiner switch at: 0.8" */
        const char *rhash = sdc_pipe_model_hash(ctx, p->refiner);
        sdc_buf r;
        sdc_buf_init(&r, ctx);
        sdc_buf_append_str(&r, p->refiner->name);
        if (rhash[0]) {
            sdc_buf_append_str(&r, " [");
            sdc_buf_append_str(&r, rhash);
            sdc_buf_append_str(&r, "]");
        }
        sdc_buf_append(&r, "", 1);
        append_pair(&b, &first, "Refiner", r.failed ? p->refiner->name : r.data);
        sdc_buf_free(&r);
        float_repr(p->refiner_start, num, sizeof num);
        append_pair(&b, &first, "Refiner switch at", num);
    }
    if (req->n_images > 1) {
        /* One seed made the whole batch (diffusers' way), so say which image this is. */
        snprintf(num, sizeof num, "%lld", (long long)req->n_images);
        append_pair(&b, &first, "Batch size", num);
        snprintf(num, sizeof num, "%lld", (long long)index);
        append_pair(&b, &first, "Batch pos", num);
    }
    if (b.failed) {
        sdc_buf_free(&b);
        return sdc_fail_oom(ctx, "the parameters text", 4096);
    }
    /* create_infotext returns the text .strip()ped. */
    size_t begin = 0, end = b.len;
    while (begin < end && is_space(b.data[begin]))
        begin++;
    while (end > begin && is_space(b.data[end - 1]))
        end--;
    *out = sdc_strndup(ctx, b.data + begin, end - begin);
    sdc_buf_free(&b);
    return *out ? SDC_STATUS_OK : sdc_fail_oom(ctx, "the parameters text", end - begin + 1);
}
