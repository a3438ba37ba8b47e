/*
 * denoise.c — THE denoising loop, the only one in sdc, as diffusers 0.30.2's
 * StableDiffusion*Pipeline, StableDiffusionXL*Pipeline and *ControlNet*Pipeline loops: scale
 * the latents, build the model input (doubled for guidance; 9-channel UNets also get mask and
 * masked-image latents), call the stage's model (its ControlNets first, their residuals summed
 * as MultiControlNetModel does), uncond + g * (cond - uncond), scheduler step, 4-channel
 * inpainting blend, progress. Every buffer is carved from the caller's fixed arena before the
 * first call.
 */
#include "pipeline/pipeline.h"

#include <string.h>

/* The loop's own buffers, carved in this order from the arena. */
typedef struct loop_buffers {
    float *model_in;  /* [B, C_in, h, w], B = 2N with guidance, else N */
    float *model_out; /* [B, C, h, w] */
    float *guided;    /* [N, C, h, w]: the scaled input first, then the guided output */
    float *noised;    /* [N, C, h, w]: the noised original (4-channel inpainting) */
    float *timesteps; /* [B] */
    uint8_t *preview; /* [h, N w, 3] when previews are asked for */
} loop_buffers;

static int64_t batch_of(const sdc_pipe_loop *d)
{
    return d->guidance ? 2 * d->n : d->n;
}

/* The widest UNet input of any stage. */
static int64_t max_in_channels(const sdc_pipe_loop *d)
{
    int64_t c = d->channels;
    for (int s = 0; s < d->n_stages; s++) {
        int64_t in = sdc_unet_get_config(d->stages[s].unet)->in_channels;
        c = in > c ? in : c;
    }
    return c;
}

/* Carves the buffers from `arena`, or (arena NULL) only counts the bytes a fixed arena needs
 * for them, alignment included. */
static bool carve(const sdc_pipe_loop *d, sdc_arena *arena, loop_buffers *b, size_t *bytes)
{
    int64_t B = batch_of(d), hw = d->h * d->w, numel = d->n * d->channels * hw;
    const size_t sizes[] = {
        (size_t)(B * max_in_channels(d) * hw) * sizeof(float),
        (size_t)(B * d->channels * hw) * sizeof(float),
        (size_t)numel * sizeof(float),
        d->inpaint && d->inpaint->unet_channels != 9 ? (size_t)numel * sizeof(float) : 0,
        (size_t)B * sizeof(float),
        d->progress.preview_every > 0 ? (size_t)(3 * d->n * hw) : 0,
    };
    void *ptrs[sizeof sizes / sizeof sizes[0]] = {0};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (sizes[i] == 0)
            continue;
        total += (sizes[i] + SDC_ALIGN - 1) / SDC_ALIGN * SDC_ALIGN;
        if (arena && !(ptrs[i] = sdc_arena_alloc(arena, sizes[i], SDC_ALIGN)))
            return false;
    }
    if (bytes)
        *bytes = total;
    if (b)
        *b = (loop_buffers){ptrs[0], ptrs[1], ptrs[2], ptrs[3], ptrs[4], ptrs[5]};
    return true;
}

static sdc_scheduler *sched_of(const sdc_pipe_loop *d, const sdc_pipe_stage *stage)
{
    return stage->sched ? stage->sched : d->sched;
}

/* The UNet's inputs for a stage, with the shapes of this loop. */
static sdc_unet_inputs unet_inputs(const sdc_pipe_stage *stage, const sdc_tensor *sample,
                                   const float *timesteps)
{
    const sdc_pipe_conditioning *c = stage->cond;
    return (sdc_unet_inputs){
        .sample = sample,
        .timesteps = timesteps,
        .encoder_hidden_states = &c->hidden_states,
        .text_embeds = c->text_embeds.data ? &c->text_embeds : NULL,
        .time_ids = c->time_ids.data ? &c->time_ids : NULL,
        .control = NULL, /* model_call sets the ControlNets' residuals */
    };
}

/* A ControlNet's inputs: the UNet's sample (4 channels, scaled), timesteps and conditioning. */
static sdc_controlnet_inputs controlnet_inputs(const sdc_pipe_stage *stage,
                                               const sdc_pipe_controlnet *net,
                                               const sdc_tensor *sample, const float *timesteps,
                                               float scale)
{
    sdc_unet_inputs u = unet_inputs(stage, sample, timesteps);
    return (sdc_controlnet_inputs){
        .sample = sample,
        .timesteps = timesteps,
        .encoder_hidden_states = u.encoder_hidden_states,
        .text_embeds = u.text_embeds,
        .time_ids = u.time_ids,
        .controlnet_cond = &net->cond,
        .conditioning_scale = scale,
    };
}

/* diffusers' cond_scale of net k at the i-th of n calls of its stage: scale * controlnet_keep. */
static float control_scale(const sdc_pipe_controlnet *net, size_t i, size_t n)
{
    double at = (double)i / (double)n, next = (double)(i + 1) / (double)n;
    bool keep = !(at < net->start || next > net->end);
    return keep ? net->scale : 0.0f;
}

static sdc_tensor sample_tensor(const sdc_pipe_loop *d, const sdc_pipe_stage *stage, float *data)
{
    int64_t shape[4] = {batch_of(d), sdc_unet_get_config(stage->unet)->in_channels, d->h, d->w};
    return sdc_tensor_make(data, SDC_DTYPE_F32, 4, shape);
}

/* The arena bytes of one model call of `stage`: the UNet's scratch; with ControlNets the
 * first active net's residuals stay while the others and the UNet run, so one set of
 * residuals plus the largest of the nets' and the UNet's scratch. */
static sdc_status stage_call_bytes(sdc_context *ctx, const sdc_pipe_loop *d,
                                   const sdc_pipe_stage *stage, size_t *bytes)
{
    sdc_tensor sample = sample_tensor(d, stage, NULL);
    sdc_unet_inputs in = unet_inputs(stage, &sample, NULL);
    size_t unet = 0, nets = 0, residuals = 0;
    sdc_status st = sdc_unet_scratch_bytes(ctx, stage->unet, &in, &unet);
    for (int k = 0; st == SDC_STATUS_OK && stage->control && k < stage->control->n_nets; k++) {
        const sdc_pipe_controlnet *net = &stage->control->nets[k];
        sdc_controlnet_inputs ci = controlnet_inputs(stage, net, &sample, NULL, net->scale);
        size_t b = 0, r = 0;
        st = sdc_controlnet_scratch_bytes(ctx, net->net, &ci, &b);
        if (st == SDC_STATUS_OK)
            st = sdc_controlnet_residual_bytes(ctx, net->net, &ci, &r);
        nets = b > nets ? b : nets;
        residuals = r > residuals ? r : residuals;
    }
    *bytes = residuals + (unet > nets ? unet : nets);
    return st;
}

sdc_status sdc_pipe_denoise_scratch_bytes(sdc_context *ctx, const sdc_pipe_loop *d, size_t *bytes)
{
    size_t buffers = 0, call = 0;
    carve(d, NULL, NULL, &buffers);
    for (int s = 0; s < d->n_stages; s++) {
        size_t b = 0;
        sdc_status st = stage_call_bytes(ctx, d, &d->stages[s], &b);
        if (st != SDC_STATUS_OK)
            return st;
        call = b > call ? b : call;
    }
    *bytes = buffers + call;
    return SDC_STATUS_OK;
}

/* sum += r, tensor by tensor (MultiControlNetModel's merge). */
static void add_residuals(sdc_control_residuals *sum, const sdc_control_residuals *r)
{
    for (int i = 0; i <= sum->n_down; i++) {
        sdc_tensor *a = i < sum->n_down ? &sum->down[i] : &sum->mid;
        const sdc_tensor *b = i < sum->n_down ? &r->down[i] : &r->mid;
        float *x = a->data;
        const float *y = b->data;
        size_t n = (size_t)sdc_tensor_numel(a);
        for (size_t k = 0; k < n; k++)
            x[k] += y[k];
    }
}

/* The model called at the stage's `index`-th call: its ControlNets, each with its scale at
 * this call, their residuals summed (the first active net's stay in the arena, the others'
 * are added to them and released), then the stage's UNet. */
static sdc_status model_call(sdc_context *ctx, const sdc_pipe_stage *stage, size_t index,
                             sdc_arena *scratch, const sdc_tensor *sample, const float *timesteps,
                             sdc_tensor *out)
{
    sdc_unet_inputs in = unet_inputs(stage, sample, timesteps);
    sdc_control_residuals sum, r;
    bool have = false;
    sdc_arena_mark after_sum = sdc_arena_get_mark(scratch);
    size_t n = stage->end_call - stage->first_call;
    for (int k = 0; stage->control && k < stage->control->n_nets; k++) {
        const sdc_pipe_controlnet *net = &stage->control->nets[k];
        float scale = control_scale(net, index, n);
        if (scale == 0.0f)
            continue;
        sdc_controlnet_inputs ci = controlnet_inputs(stage, net, sample, timesteps, scale);
        sdc_status st = sdc_controlnet_forward(ctx, net->net, scratch, &ci, have ? &r : &sum);
        if (st != SDC_STATUS_OK)
            return st;
        if (have) {
            add_residuals(&sum, &r);
            sdc_arena_reset_to(scratch, after_sum);
        } else {
            have = true;
            after_sum = sdc_arena_get_mark(scratch);
        }
    }
    in.control = have ? &sum : NULL;
    return sdc_unet_forward(ctx, stage->unet, scratch, &in, out);
}

/* model_in [B, C_in, h, w]: per batch entry the scaled latents of its image, then for a
 * 9-channel UNet its mask and masked-image latents (torch.cat(dim=1) of diffusers). */
static void build_input(const sdc_pipe_loop *d, int64_t in_channels, const float *scaled,
                        float *model_in)
{
    int64_t hw = d->h * d->w, C = d->channels, B = batch_of(d);
    const sdc_pipe_inpaint *ip = d->inpaint;
    bool concat = ip && ip->unet_channels == 9 && in_channels == 2 * C + 1;
    for (int64_t b = 0; b < B; b++) {
        int64_t i = b % d->n; /* the image this entry belongs to */
        float *dst = model_in + b * in_channels * hw;
        memcpy(dst, scaled + i * C * hw, (size_t)(C * hw) * sizeof(float));
        if (concat) {
            memcpy(dst + C * hw, ip->mask + i * hw, (size_t)hw * sizeof(float));
            memcpy(dst + (C + 1) * hw, ip->masked_image_latents + i * C * hw,
                   (size_t)(C * hw) * sizeof(float));
        }
    }
}

/* 4-channel inpainting after step `call`: latents = (1 - mask) * original + mask * latents,
 * the original noised to the next call's timestep (the last step uses it clean). */
static sdc_status blend(const sdc_pipe_loop *d, sdc_scheduler *sched, size_t call, size_t end,
                        float *noised)
{
    const sdc_pipe_inpaint *ip = d->inpaint;
    int64_t hw = d->h * d->w, C = d->channels;
    const float *original = ip->image_latents;
    if (call + 1 < end) {
        sdc_status st =
            sdc_scheduler_add_noise(sched, call + 1, ip->image_latents, ip->noise, noised);
        if (st != SDC_STATUS_OK)
            return st;
        original = noised;
    }
    for (int64_t i = 0; i < d->n; i++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < hw; p++) {
                size_t k = (size_t)((i * C + c) * hw + p);
                float m = ip->mask[i * hw + p];
                d->latents[k] = (1.0f - m) * original[k] + m * d->latents[k];
            }
    return SDC_STATUS_OK;
}

/* After a model call: the callback, with a preview every preview_every steps. */
static sdc_status report(sdc_context *ctx, const sdc_pipe_loop *d, sdc_scheduler *sched,
                         const loop_buffers *b, int step, int total)
{
    const sdc_pipe_progress *p = &d->progress;
    if (!p->fn)
        return SDC_STATUS_OK;
    sdc_image preview = {0};
    sdc_progress progress = {.step = step, .total = total, .elapsed_s = sdc_time_s() - p->start_s};
    if (p->preview_every > 0 && step % p->preview_every == 0) {
        /* The clean-sample estimate where the solver forms one: far less noisy early on. */
        const float *x0 = sdc_scheduler_denoised(sched);
        sdc_pipe_preview(x0 ? x0 : d->latents, d->n, d->h, d->w, p->preview_proj, p->preview_bias,
                         b->preview);
        preview = (sdc_image){
            .width = (int)(d->n * d->w), .height = (int)d->h, .channels = 3, .pixels = b->preview};
        progress.preview = &preview;
    }
    if (p->fn(p->user, &progress) != 0)
        return sdc_fail(ctx, SDC_STATUS_CANCELLED,
                        "generation cancelled by the progress callback after model call %d of "
                        "%d",
                        step, total);
    return SDC_STATUS_OK;
}

sdc_status sdc_pipe_denoise(sdc_context *ctx, const sdc_pipe_loop *d, sdc_arena *scratch)
{
    if (d->n_stages < 1)
        return sdc_fail(ctx, SDC_STATUS_INTERNAL, "denoise: no model stage");
    loop_buffers b;
    if (!carve(d, scratch, &b, NULL))
        return sdc_fail(ctx, SDC_STATUS_INTERNAL,
                        "denoise: the arena is smaller than sdc_pipe_denoise_scratch_bytes");
    const int64_t B = batch_of(d), C = d->channels, hw = d->h * d->w;
    const int64_t per_copy = d->n * C * hw; /* one half of a guided batch */
    int64_t out_shape[4] = {B, C, d->h, d->w};
    sdc_tensor out = sdc_tensor_make(b.model_out, SDC_DTYPE_F32, 4, out_shape);
    sdc_arena_mark mark = sdc_arena_get_mark(scratch);
    int total = d->progress.step_total, step = d->progress.step_offset;
    for (int s = 0; s < d->n_stages && !d->progress.step_total; s++)
        total += (int)(d->stages[s].end_call - d->stages[s].first_call);

    for (int s = 0; s < d->n_stages; s++) {
        const sdc_pipe_stage *stage = &d->stages[s];
        sdc_scheduler *sched = sched_of(d, stage);
        int64_t in_channels = sdc_unet_get_config(stage->unet)->in_channels;
        for (size_t call = stage->first_call; call < stage->end_call; call++) {
            sdc_status st = sdc_scheduler_scale_model_input(sched, call, d->latents, b.guided);
            if (st != SDC_STATUS_OK)
                return st;
            build_input(d, in_channels, b.guided, b.model_in);
            float t = (float)sdc_scheduler_timestep(sched, call);
            for (int64_t i = 0; i < B; i++)
                b.timesteps[i] = t;
            sdc_tensor sample = sample_tensor(d, stage, b.model_in);
            st = model_call(ctx, stage, call - stage->first_call, scratch, &sample, b.timesteps,
                            &out);
            sdc_arena_reset_to(scratch, mark);
            if (st != SDC_STATUS_OK)
                return st;

            /* noise_pred_uncond + guidance_scale * (noise_pred_text - noise_pred_uncond) */
            const float *pred = b.model_out;
            if (d->guidance) {
                const float *uncond = b.model_out, *cond = b.model_out + per_copy;
                float g = d->guidance_scale;
                for (int64_t k = 0; k < per_copy; k++)
                    b.guided[k] = uncond[k] + g * (cond[k] - uncond[k]);
                pred = b.guided;
            }
            st = sdc_scheduler_step(sched, call, pred, d->latents, d->rng);
            if (st == SDC_STATUS_OK && d->inpaint && d->inpaint->unet_channels != 9)
                st = blend(d, sched, call, stage->end_call, b.noised);
            if (st == SDC_STATUS_OK)
                st = report(ctx, d, sched, &b, ++step, total);
            if (st != SDC_STATUS_OK)
                return st;
        }
    }
    return SDC_STATUS_OK;
}
