/*
 * pipeline.h — generation: everything between a prompt and finished images, written once.
 *
 * This layer owns the loaded model (which components, which family, which default scheduler),
 * turns prompts into conditioning per family, prepares the starting latents (noise, img2img,
 * inpainting with 9- and 4-channel UNets), runs THE denoising loop (denoise.c: one loop for
 * every family and mode — families differ in their conditioning and in the model called, not
 * in copies of it), decodes the latents to 8-bit images, runs the safety checker, and writes the
 * AUTOMATIC1111 "parameters" text. It reproduces diffusers 0.30.2's StableDiffusionPipeline,
 * StableDiffusionImg2ImgPipeline and StableDiffusionInpaintPipeline, their SDXL counterparts
 * (StableDiffusionXLPipeline, StableDiffusionXLImg2ImgPipeline as refiner with denoising_end /
 * denoising_start) and the ControlNet pipelines of both (one or several ControlNets, guess mode
 * off), draw for draw.
 *
 * It deliberately does not: read or write image files (io), compute any network (models),
 * define a solver (schedulers), or parse command lines (tools/cli). Memory: every activation
 * of a phase comes from one fixed arena sized from the models' exact *_scratch_bytes before
 * the phase starts; nothing allocates inside the step loop.
 */
#ifndef SDC_PIPELINE_PIPELINE_H
#define SDC_PIPELINE_PIPELINE_H

#include "models/models.h"
#include "rng/rng.h"
#include "schedulers/schedulers.h"
#include "tokenizer/tokenizer.h"

#include <pthread.h>

/* ---------------------------------------------------------------------------------------- */
/* The model (model.c)                                                                        */

typedef enum sdc_family {
    SDC_FAMILY_SD1,          /* CLIP ViT-L/14 text encoder, conv attention projections */
    SDC_FAMILY_SD2,          /* OpenCLIP ViT-H/14 (23 layers), linear projections */
    SDC_FAMILY_SDXL,         /* CLIP ViT-L + OpenCLIP bigG, text_time with 6 time ids */
    SDC_FAMILY_SDXL_REFINER, /* OpenCLIP bigG only, 5 time ids (the aesthetic score) */
    SDC_FAMILY_COUNT
} sdc_family;

/* "sd1", "sd2", "sdxl", "sdxl-refiner" (the names of sdc_model_info.family). */
const char *sdc_family_name(sdc_family family);

typedef enum sdc_model_source {
    SDC_MODEL_SOURCE_DIFFUSERS,   /* a folder with model_index.json */
    SDC_MODEL_SOURCE_SINGLE_FILE, /* one LDM/CompVis .safetensors or .ckpt */
    SDC_MODEL_SOURCE_BUNDLE,      /* a converted sdc bundle (model.json, src/models/bundle.c) */
    SDC_MODEL_SOURCE_COUNT
} sdc_model_source;

/* The networks a generation runs, in the order its phases need them. */
typedef enum sdc_component {
    SDC_COMPONENT_TEXT_ENCODER,   /* SD 1.x/2.x's only one; SDXL's CLIP ViT-L */
    SDC_COMPONENT_TEXT_ENCODER_2, /* SDXL's OpenCLIP bigG with projection */
    SDC_COMPONENT_UNET,
    SDC_COMPONENT_VAE,
    SDC_COMPONENT_SAFETY_CHECKER,
    SDC_COMPONENT_CONTROLNET, /* the network of a ControlNet model */
    SDC_COMPONENT_COUNT
} sdc_component;

const char *sdc_component_name(sdc_component component); /* "text_encoder", ... */

/* What `sdc inspect` shows of a component (sdc_model_component_info): filled at open. */
typedef struct sdc_pipe_component_summary {
    sdc_component which;
    const char *class_name; /* static */
    char summary[160];      /* its configuration in one line */
    uint64_t parameters, bytes;
    const char *dtype;      /* static: a safetensors dtype name or "mixed" */
} sdc_pipe_component_summary;

struct sdc_model {
    sdc_context *ctx; /* what the model was opened on; owns everything below */
    char *path;       /* as given */
    char *name;       /* file name without extension, or the folder's name */
    sdc_model_source source;
    sdc_bundle *bundle; /* SDC_MODEL_SOURCE_BUNDLE: model.json and the component files */
    sdc_family family;
    bool is_controlnet; /* a ControlNetModel folder (or bundle): only `controlnet` is loaded */
    bool inpainting;    /* the UNet takes 9 channels */
    bool reduce_memory; /* components are loaded per phase, not kept */
    bool has_safety_checker;
    /* The text encoders present: SD 1.x/2.x have the first, SDXL base both, the refiner only
     * the second. Each has its tokenizer (SDXL's second pads with "!"). */
    bool has_text_encoder, has_text_encoder_2;
    sdc_tokenizer *tokenizer;   /* keep a cache: used under tokenizer_lock */
    sdc_tokenizer *tokenizer_2;
    pthread_mutex_t tokenizer_lock;
    /* SDXL: model_index.json's force_zeros_for_empty_prompt (single files: base true, refiner
     * false, as their diffusers folders say); the UNet's micro-conditioning time ids (6 base,
     * 5 refiner; 0 without text_time). */
    bool force_zeros_for_empty_prompt;
    int n_time_ids;
    char *vae_path; /* sdc_model_params.vae, or NULL: the VAE that replaces the model's own */
    /* The scheduler the model ships (scheduler/scheduler_config.json, or the built-in SD 1.x /
     * SD 2.x configuration for single files): the base every generation's scheduler is built
     * from, as diffusers' Class.from_config(pipe.scheduler.config). */
    sdc_json_doc *scheduler_doc;
    char *scheduler_what;          /* the file, or "built-in SD 1.x scheduler", for messages */
    const char *default_scheduler; /* the sdc name of its class ("pndm") */
    bool prediction_override;      /* sdc_model_params.prediction_type was given */
    sdc_prediction_type prediction_type; /* what the model predicts (after the override) */
    int default_width, default_height;
    /* Configurations, known after open whether or not weights are kept. */
    sdc_clip_text_config text_config;   /* when has_text_encoder */
    sdc_clip_text_config text_config_2; /* when has_text_encoder_2 */
    sdc_unet_config unet_config;
    sdc_vae_config vae_config;
    sdc_controlnet_config controlnet_config; /* is_controlnet */
    sdc_pipe_component_summary components[SDC_COMPONENT_COUNT];
    int n_components;
    /* The loaded components; all NULL with reduce_memory. */
    sdc_clip_text *text_encoder;
    sdc_clip_text *text_encoder_2;
    sdc_controlnet *controlnet;
    sdc_unet *unet;
    sdc_vae *vae;
    sdc_safety_checker *safety_checker;      /* when has_safety_checker */
    sdc_clip_image_config feature_extractor; /* the safety checker's input processing */
    /* The AUTOMATIC1111 model hash (first 10 hex digits of the file's SHA-256), computed on
     * first use; "" for folders. */
    pthread_mutex_t hash_lock;
    bool hash_done;
    char hash[11];
};

/* A component for one phase: the model's own when it keeps them, else loaded now on `ctx`
 * (reduce_memory) and freed by sdc_pipe_component_release. Exactly one member is set (both
 * text encoders come as text_encoder). */
typedef struct sdc_pipe_component {
    sdc_component which;
    bool owned; /* loaded for this phase */
    sdc_clip_text *text_encoder;
    sdc_controlnet *controlnet;
    sdc_unet *unet;
    sdc_vae *vae;
    sdc_safety_checker *safety_checker;
} sdc_pipe_component;

sdc_status sdc_pipe_component_acquire(sdc_context *ctx, const sdc_model *model, sdc_component which,
                                      sdc_pipe_component *out);
void sdc_pipe_component_release(sdc_pipe_component *c);

/* The scheduler configuration for `name` (NULL: the model's own) on this model: the model's
 * configuration, the overrides the name stands for, then the model's prediction type. */
sdc_status sdc_pipe_scheduler_config(sdc_context *ctx, const sdc_model *model, const char *name,
                                     sdc_scheduler_config *out);

/* The model hash for the parameters text ("" for folders); computed on first use (reading
 * the file through ctx), then kept. Thread-safe. */
const char *sdc_pipe_model_hash(sdc_context *ctx, sdc_model *model);

/* SHA-256 of a file as 64 lower-case hex digits plus NUL (model_hash.c). */
sdc_status sdc_pipe_sha256_file(sdc_context *ctx, const char *path, char hex[65]);

/* ---------------------------------------------------------------------------------------- */
/* One generation's request, checked (generation.c)                                          */

typedef enum sdc_pipe_mode {
    SDC_PIPE_MODE_TXT2IMG,
    SDC_PIPE_MODE_IMG2IMG,
    SDC_PIPE_MODE_INPAINT, /* 9-channel UNet, or a 4-channel one blended each step */
    SDC_PIPE_MODE_COUNT
} sdc_pipe_mode;

typedef struct sdc_pipe_request {
    const sdc_generation_params *params;
    sdc_pipe_mode mode;
    int width, height; /* pixels, multiples of 8 */
    int64_t n_images;  /* N */
    int64_t latent_h, latent_w;
    bool guidance;   /* classifier-free guidance: guidance_scale > 1, as diffusers */
    double strength; /* the shortest decimal that gives params->strength */
    /* SDXL micro-conditioning with diffusers' defaults filled in (pixels) */
    int original_width, original_height, crop_top, crop_left, target_width, target_height;
    double refiner_start; /* the shortest decimal of params->refiner_start (with a refiner) */
} sdc_pipe_request;

/* ---------------------------------------------------------------------------------------- */
/* Conditioning (conditioning.c)                                                              */

/* What the UNet is conditioned on, one row per UNet batch entry: with guidance 2N rows, the N
 * negative-prompt rows first (diffusers' torch.cat([negative, prompt])), else N. Families fill
 * what their UNet reads: SD 1.x / 2.x the hidden states; SDXL (issue 11) also the pooled
 * text_embeds and the micro-conditioning time_ids. Unused tensors have data NULL. */
typedef struct sdc_pipe_conditioning {
    int64_t batch;
    sdc_tensor hidden_states; /* [batch, L, cross_attention_dim] */
    sdc_tensor text_embeds;   /* [batch, pooled] */
    sdc_tensor time_ids;      /* [batch, n_ids] */
    float *storage;           /* owns the tensors' data */
} sdc_pipe_conditioning;

/* Tokenizes the prompt and the negative prompt and encodes them, each prompt repeated for the
 * N images. SD 1.x / 2.x (text_encoder only) as diffusers' StableDiffusionPipeline.encode_prompt
 * does: clip_skip k >= 2 takes hidden_states[-k] of the prompt through the final LayerNorm
 * (the negative prompt keeps the last layer). SDXL as StableDiffusionXLPipeline.encode_prompt
 * (the refiner: text_encoder NULL, as StableDiffusionXLImg2ImgPipeline): hidden_states[-2] (the
 * prompt's hidden_states[-(k + 1)] with clip_skip k >= 2) of each encoder, concatenated; the
 * pooled text_embeds of the second; with force_zeros_for_empty_prompt and no negative prompt,
 * zeros for the negative rows; time_ids from the request (6 ids: original size, crop, target
 * size; 5: original size, crop, aesthetic score, the negative row with the negative score and
 * a (0, 0) crop). Memory for the conditioning comes from ctx; the encoders' activations from
 * fixed arenas sized here. */
sdc_status sdc_pipe_encode_prompts(sdc_context *ctx, const sdc_model *model,
                                   const sdc_clip_text *text_encoder,
                                   const sdc_clip_text *text_encoder_2,
                                   const sdc_pipe_request *req, sdc_pipe_conditioning *out);
void sdc_pipe_conditioning_free(sdc_context *ctx, sdc_pipe_conditioning *c);

/* ---------------------------------------------------------------------------------------- */
/* Images in and out (image_prep.c)                                                           */

/* An init image as the VAE takes it: converted to RGB (gray replicated, alpha dropped),
 * resized to width x height with Pillow's Lanczos when its size differs (diffusers'
 * VaeImageProcessor), then x / 255 * 2 - 1. out: [3, height, width]. */
sdc_status sdc_pipe_image_to_tensor(sdc_context *ctx, const sdc_image *image, int width, int height,
                                    float *out);
/* A mask as diffusers' mask processor reads it: resized like the image, converted to gray as
 * Pillow's convert("L") does, / 255, then binarized (< 0.5 -> 0, else 1). out: [height, width]. */
sdc_status sdc_pipe_mask_to_tensor(sdc_context *ctx, const sdc_image *mask, int width, int height,
                                   float *out);
/* A ControlNet conditioning image as diffusers' control image processor makes it
 * (VaeImageProcessor(do_convert_rgb=True, do_normalize=False)): RGB, resized to width x height
 * with Pillow's Lanczos when its size differs, x / 255. out: [3, height, width]. Difference:
 * RGBA is made RGB before resizing (Pillow would resize it premultiplied). */
sdc_status sdc_pipe_control_image_to_tensor(sdc_context *ctx, const sdc_image *image, int width,
                                            int height, float *out);
/* One decoded image [3, H, W] to 8-bit RGB as diffusers' postprocess and numpy_to_pil:
 * round((x / 2 + 0.5).clamp(0, 1) * 255), rounding half to even. */
void sdc_pipe_tensor_to_rgb8(const float *chw, int64_t height, int64_t width, uint8_t *rgb);

/* ---------------------------------------------------------------------------------------- */
/* Starting latents (init_latents.c)                                                          */

/* What the loop needs besides the latents for inpainting (diffusers'
 * StableDiffusionInpaintPipeline): the 9-channel UNet input's extra channels, or the 4-channel
 * per-step blend with the noised original. Arrays are [N, ...] (not doubled for guidance). */
typedef struct sdc_pipe_inpaint {
    int unet_channels;           /* 9: concatenate; 4: blend */
    float *mask;                 /* [N, 1, h, w]: 1 = repaint (nearest-downsampled) */
    float *masked_image_latents; /* 9: [N, 4, h, w] scaled latents of image * (mask < 0.5) */
    float *image_latents;        /* 4: [N, 4, h, w] scaled latents of the init image */
    float *noise;                /* 4: [N, 4, h, w] the noise the start was made with */
    float *storage;              /* owns the arrays */
} sdc_pipe_inpaint;

/* Fills latents [N, 4, h, w] (and *inpaint for the inpaint mode) and makes every draw diffusers
 * makes, in its order: txt2img one [N, ...] randn times init_noise_sigma; img2img the VAE
 * posterior sample of the image, then the noise for add_noise at the first call; inpainting
 * the image's posterior sample when needed, the noise, the masked image's posterior sample.
 * The scheduler's strength must be set already. `vae` may be NULL for txt2img. */
sdc_status sdc_pipe_init_latents(sdc_context *ctx, const sdc_model *model, const sdc_vae *vae,
                                 const sdc_pipe_request *req, sdc_scheduler *sched, sdc_rng *rng,
                                 float *latents, sdc_pipe_inpaint *inpaint);
void sdc_pipe_inpaint_free(sdc_context *ctx, sdc_pipe_inpaint *inpaint);

/* ---------------------------------------------------------------------------------------- */
/* The denoising loop (denoise.c)                                                             */

/* One ControlNet of a stage (diffusers' ControlNet pipelines, guess mode off): at the stage's
 * i-th of n calls it runs with conditioning_scale = scale * keep, keep = 0 when i / n < start or
 * (i + 1) / n > end, else 1 (controlnet_keep); a net whose scale is 0 at a call is skipped (its
 * residuals would be zeros). The residuals of several nets are summed. */
typedef struct sdc_pipe_controlnet {
    const sdc_controlnet *net;
    sdc_tensor cond; /* [B, 3, 8h, 8w] the control image in [0, 1], one copy per batch entry */
    float scale;
    double start, end;
} sdc_pipe_controlnet;

typedef struct sdc_pipe_control {
    const sdc_pipe_controlnet *nets;
    int n_nets;
} sdc_pipe_control;

/* One model over a range of calls of its scheduler: the base model runs calls [first, end) and
 * an SDXL refiner a second stage on the same latents with its own scheduler (diffusers'
 * refiner pipeline has its own), started by sdc_scheduler_set_denoising_start. */
typedef struct sdc_pipe_stage {
    const sdc_unet *unet;
    const sdc_pipe_conditioning *cond;
    const sdc_pipe_control *control; /* NULL, or the ControlNets acting in this stage */
    sdc_scheduler *sched;            /* NULL = the loop's */
    size_t first_call;               /* the scheduler's first call of this stage */
    size_t end_call;                 /* exclusive */
} sdc_pipe_stage;

typedef struct sdc_pipe_progress {
    sdc_progress_fn fn; /* may be NULL */
    void *user;
    int preview_every;         /* 0: none */
    const float *preview_proj; /* [4][3] latent -> RGB (preview.c) */
    const float *preview_bias; /* [3] */
    double start_s;            /* sdc_time_s() when the run began */
    /* Steps reported before this loop and in the whole run (stages run by separate loops);
     * step_total 0 = this loop's calls. */
    int step_offset, step_total;
} sdc_pipe_progress;

typedef struct sdc_pipe_loop {
    sdc_scheduler *sched;
    sdc_rng *rng;
    float *latents; /* [N, C, h, w], updated in place */
    int64_t n, channels, h, w;
    bool guidance;
    float guidance_scale;
    const sdc_pipe_stage *stages;
    int n_stages;
    const sdc_pipe_inpaint *inpaint; /* NULL unless inpainting */
    sdc_pipe_progress progress;
} sdc_pipe_loop;

/* The exact bytes of the fixed arena sdc_pipe_denoise needs: the loop's buffers (model input,
 * model output, guided output, preview pixels) plus the largest model call of any stage: the
 * UNet's scratch, or with ControlNets one set of residuals plus the larger of the UNet's and
 * the largest ControlNet's scratch. */
sdc_status sdc_pipe_denoise_scratch_bytes(sdc_context *ctx, const sdc_pipe_loop *d, size_t *bytes);
/* Runs each stage's calls [first_call, end_call) of its scheduler, stage after stage. A
 * non-zero return of the progress callback stops it with SDC_STATUS_CANCELLED. Allocates
 * nothing: every buffer comes from `scratch` (a fixed arena of sdc_pipe_denoise_scratch_bytes). */
sdc_status sdc_pipe_denoise(sdc_context *ctx, const sdc_pipe_loop *d, sdc_arena *scratch);

/* ---------------------------------------------------------------------------------------- */
/* Previews (preview.c)                                                                       */

/* The linear latent -> RGB projection of a family (stable-diffusion.cpp's tables, MIT; see
 * data/latent_preview): proj [4][3] and bias [3]. */
void sdc_pipe_preview_table(sdc_family family, const float **proj, const float **bias);
/* rgb [h, N * w, 3]: the N latents [N, 4, h, w] side by side, each pixel
 * clamp((latent . proj + bias) / 2 + 0.5, 0, 1) * 255 truncated. */
void sdc_pipe_preview(const float *latents, int64_t n, int64_t h, int64_t w, const float *proj,
                      const float *bias, uint8_t *rgb);

/* ---------------------------------------------------------------------------------------- */
/* The safety checker (safety.c)                                                              */

/* diffusers' run_safety_checker on the N decoded images: flagged[i] is set for each image the
 * checker flags, and its pixels are made black. */
sdc_status sdc_pipe_safety_check(sdc_context *ctx, const sdc_model *model,
                                 const sdc_safety_checker *checker, sdc_image *images, int64_t n,
                                 int *flagged);

/* ---------------------------------------------------------------------------------------- */
/* The AUTOMATIC1111 "parameters" text (infotext.c)                                          */

/* The text AUTOMATIC1111 writes for image `index`:
 *   <prompt>\nNegative prompt: <negative>\nSteps: 20, Sampler: Euler a, CFG scale: 7.5,
 *   Seed: 42, Size: 512x512, Model hash: <10 hex>, Model: <name>[, Denoising strength: 0.6]
 *   [, Clip skip: 2][, RNG: CPU][, Batch size: 2, Batch pos: 1]
 * (Negative prompt line only when there is one; Model hash only for single files; batch
 * fields when one seed made several images). *out from ctx. */
sdc_status sdc_pipe_parameters_text(sdc_context *ctx, sdc_model *model, const sdc_pipe_request *req,
                                    const char *scheduler_name, int64_t index, char **out);
/* AUTOMATIC1111's sampler name (and "Schedule type", or NULL) for an sdc scheduler name. */
void sdc_pipe_a1111_sampler(const char *sdc_name, const char **sampler, const char **schedule);

/* ---------------------------------------------------------------------------------------- */
/* Test hooks                                                                                 */

/* Calls `fn` after every random draw of the generation's next runs (sdc_rng_set_observer). */
void sdc_generation_set_rng_observer(sdc_generation *gen, sdc_rng_observer_fn fn, void *user);
/* The final latents of the last successful run (denoiser space, before / scaling_factor):
 * [N, 4, h, w]; NULL before. */
const float *sdc_generation_latents(const sdc_generation *gen, int64_t shape[4]);

#endif /* SDC_PIPELINE_PIPELINE_H */
