/*
 * Tests src/models/controlnet.c against diffusers 0.30 ControlNetModel outputs
 * (tests/fixtures/model_outputs/controlnet_{sd1,sdxl}.safetensors, made by
 * tools/reference/gen_models.py): every down residual and the mid residual at timestep 801 and
 * conditioning scale 0.7, and the UNet's output with those residuals added, within
 * 1e-4 x max |ref|. The ControlNets exist as diffusers folders only; their UNets are loaded
 * from the folder and from the single-file checkpoint. ControlNet and UNet run one after the
 * other in one fixed arena of the sum of their scratch sizes.
 */
#include "model_test.h"

#define MODELS  SDC_BUILD_FIXTURES_DIR "/models/"
#define OUTPUTS SDC_FIXTURES_DIR "/model_outputs/"

static sdc_context *ctx;

static sdc_unet *open_unet(const char *path, bool single)
{
    sdc_unet *unet = NULL;
    sdc_status st;
    if (single) {
        sdc_weights_file *file = NULL;
        st = sdc_weights_file_open(ctx, path, &file);
        if (st == SDC_STATUS_OK) {
            st = sdc_unet_open_single_file(ctx, file, &unet);
            sdc_weights_file_release(ctx, file);
        }
    } else {
        st = sdc_unet_open_diffusers(ctx, path, &unet);
    }
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", path, sdc_context_errmsg(ctx));
    return unet;
}

typedef struct inputs {
    mt_array sample, context, text_embeds, time_ids, cond;
} inputs;

static bool read_inputs(const sdc_st_file *st, bool text_time, inputs *in)
{
    memset(in, 0, sizeof *in);
    return mt_st_array(ctx, st, "sample", &in->sample) &&
           mt_st_array(ctx, st, "encoder_hidden_states", &in->context) &&
           mt_st_array(ctx, st, "controlnet_cond", &in->cond) &&
           (!text_time || (mt_st_array(ctx, st, "text_embeds", &in->text_embeds) &&
                           mt_st_array(ctx, st, "time_ids", &in->time_ids)));
}

static void free_inputs(inputs *in)
{
    mt_array_free(&in->sample);
    mt_array_free(&in->context);
    mt_array_free(&in->text_embeds);
    mt_array_free(&in->time_ids);
    mt_array_free(&in->cond);
}

/* `label` names the case; the UNet is the ControlNet's base model. */
static void check_controlnet(const char *label, const sdc_controlnet *cn, const sdc_unet *unet,
                             const char *fixture)
{
    sdc_st_file *st = NULL;
    inputs in;
    if (!cn || !unet)
        return;
    if (sdc_st_open(ctx, fixture, &st) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return;
    }
    bool text_time = sdc_controlnet_get_config(cn)->unet.text_time;
    if (!read_inputs(st, text_time, &in))
        goto close;
    float t[2] = {801, 801};
    sdc_controlnet_inputs cin = {
        .sample = &in.sample.t,
        .timesteps = t,
        .encoder_hidden_states = &in.context.t,
        .text_embeds = text_time ? &in.text_embeds.t : NULL,
        .time_ids = text_time ? &in.time_ids.t : NULL,
        .controlnet_cond = &in.cond.t,
        .conditioning_scale = 0.7f,
    };
    sdc_control_residuals residuals;
    sdc_unet_inputs uin = {
        .sample = &in.sample.t,
        .timesteps = t,
        .encoder_hidden_states = &in.context.t,
        .text_embeds = cin.text_embeds,
        .time_ids = cin.time_ids,
        .control = &residuals,
    };
    size_t cn_bytes = 0, unet_bytes = 0;
    CHECK(sdc_controlnet_scratch_bytes(ctx, cn, &cin, &cn_bytes) == SDC_STATUS_OK);
    /* The UNet's size only needs the residuals' shapes: the same as for the UNet without. */
    uin.control = NULL;
    CHECK(sdc_unet_scratch_bytes(ctx, unet, &uin, &unet_bytes) == SDC_STATUS_OK);
    uin.control = &residuals;
    sdc_arena scratch;
    CHECK(sdc_arena_init_fixed(&scratch, ctx, cn_bytes + unet_bytes) == SDC_STATUS_OK);
    sdc_status s = sdc_controlnet_forward(ctx, cn, &scratch, &cin, &residuals);
    CHECK_MSG(s == SDC_STATUS_OK, "%s: %s", label, sdc_context_errmsg(ctx));
    if (s == SDC_STATUS_OK) {
        char name[64], what[128];
        int n = 0;
        while (snprintf(name, sizeof name, "down_block_res_sample_%02d", n), sdc_st_find(st, name))
            n++;
        CHECK_EQ_INT(residuals.n_down, n);
        CHECK_EQ_INT(residuals.n_down, sdc_unet_n_skips(sdc_unet_get_config(unet)));
        for (int i = 0; i < n && i < residuals.n_down; i++) {
            mt_array ref;
            snprintf(name, sizeof name, "down_block_res_sample_%02d", i);
            if (!mt_st_array(ctx, st, name, &ref))
                continue;
            snprintf(what, sizeof what, "%s down residual %d", label, i);
            MT_CHECK_CLOSE_REL(what, &residuals.down[i], &ref.t);
            mt_array_free(&ref);
        }
        mt_array ref, out;
        if (mt_st_array(ctx, st, "mid_block_res_sample", &ref)) {
            snprintf(what, sizeof what, "%s mid residual", label);
            MT_CHECK_CLOSE_REL(what, &residuals.mid, &ref.t);
            mt_array_free(&ref);
        }
        if (mt_st_array(ctx, st, "unet_out_with_residuals", &ref)) {
            out = mt_array_new(ctx, 4, ref.t.shape);
            s = sdc_unet_forward(ctx, unet, &scratch, &uin, &out.t);
            CHECK_MSG(s == SDC_STATUS_OK, "%s UNet: %s", label, sdc_context_errmsg(ctx));
            snprintf(what, sizeof what, "%s UNet with residuals", label);
            MT_CHECK_CLOSE_REL(what, &out.t, &ref.t);
            mt_array_free(&out);
            mt_array_free(&ref);
        }
    }
    sdc_arena_release(&scratch);
    free_inputs(&in);
close:
    sdc_st_close(st);
}

static void test_sd1(void)
{
    sdc_controlnet *cn = NULL;
    sdc_status st = sdc_controlnet_open_diffusers(ctx, MODELS "controlnet-sd1-tiny", &cn);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    sdc_unet *unet = open_unet(MODELS "sd1-tiny/unet", false);
    check_controlnet("controlnet-sd1-tiny + sd1-tiny/unet", cn, unet,
                     OUTPUTS "controlnet_sd1.safetensors");
    sdc_unet_destroy(unet);
    unet = open_unet(MODELS "sd1-tiny.safetensors", true);
    check_controlnet("controlnet-sd1-tiny + sd1-tiny.safetensors", cn, unet,
                     OUTPUTS "controlnet_sd1.safetensors");
    sdc_unet_destroy(unet);
    sdc_controlnet_destroy(cn);
}

static void test_sdxl(void)
{
    sdc_controlnet *cn = NULL;
    sdc_status st = sdc_controlnet_open_diffusers(ctx, MODELS "controlnet-sdxl-tiny", &cn);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    sdc_unet *unet = open_unet(MODELS "sdxl-tiny/unet", false);
    check_controlnet("controlnet-sdxl-tiny + sdxl-tiny/unet", cn, unet,
                     OUTPUTS "controlnet_sdxl.safetensors");
    sdc_unet_destroy(unet);
    unet = open_unet(MODELS "sdxl-tiny.safetensors", true);
    check_controlnet("controlnet-sdxl-tiny + sdxl-tiny.safetensors", cn, unet,
                     OUTPUTS "controlnet_sdxl.safetensors");
    sdc_unet_destroy(unet);
    sdc_controlnet_destroy(cn);
}

static void test_errors(void)
{
    sdc_controlnet *cn = NULL;
    sdc_status st = sdc_controlnet_open_diffusers(ctx, MODELS "controlnet-sd1-tiny", &cn);
    sdc_unet *unet = open_unet(MODELS "sd1-tiny/unet", false);
    if (st != SDC_STATUS_OK || !unet)
        goto done;
    mt_array sample = mt_array4(ctx, 1, 4, 8, 8), cond = mt_array4(ctx, 1, 3, 32, 32);
    int64_t cs[3] = {1, 77, 64};
    mt_array context = mt_array_new(ctx, 3, cs);
    float t = 10;
    sdc_controlnet_inputs cin = {.sample = &sample.t,
                                 .timesteps = &t,
                                 .encoder_hidden_states = &context.t,
                                 .controlnet_cond = &cond.t,
                                 .conditioning_scale = 1.0f};
    sdc_control_residuals residuals;
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 0);
    MT_CHECK_ERROR(ctx, sdc_controlnet_forward(ctx, cn, &scratch, &cin, &residuals),
                   SDC_STATUS_SHAPE, "controlnet_cond has shape [1, 3, 32, 32]", "[1, 3, 64, 64]");
    CHECK_EQ_INT(residuals.n_down, 0);

    /* Residuals that do not fit the UNet's skips. */
    mt_array_free(&cond);
    cond = mt_array4(ctx, 1, 3, 64, 64);
    st = sdc_controlnet_forward(ctx, cn, &scratch, &cin, &residuals);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    mt_array out = mt_array4(ctx, 1, 4, 8, 8);
    sdc_unet_inputs uin = {.sample = &sample.t,
                           .timesteps = &t,
                           .encoder_hidden_states = &context.t,
                           .control = &residuals};
    residuals.n_down--;
    MT_CHECK_ERROR(ctx, sdc_unet_forward(ctx, unet, &scratch, &uin, &out.t), SDC_STATUS_SHAPE,
                   "5 ControlNet down residuals for 6 skip connections", NULL);
    residuals.n_down++;
    residuals.down[3].shape[1] = 32;
    MT_CHECK_ERROR(ctx, sdc_unet_forward(ctx, unet, &scratch, &uin, &out.t), SDC_STATUS_SHAPE,
                   "ControlNet down residual 3 has shape [1, 32, 4, 4]", "expected [1, 64, 4, 4]");
    sdc_arena_release(&scratch);
    mt_array_free(&sample);
    mt_array_free(&cond);
    mt_array_free(&context);
    mt_array_free(&out);
done:
    sdc_unet_destroy(unet);
    sdc_controlnet_destroy(cn);
}

static sdc_status open_any(sdc_context *c, const char *path, void **out)
{
    sdc_controlnet *cn = NULL;
    sdc_status st = sdc_controlnet_open_diffusers(c, path, &cn);
    *out = cn;
    return st;
}

static void close_any(void *cn)
{
    sdc_controlnet_destroy(cn);
}

/* Every allocation failure while loading is a clean error that leaks nothing. */
static void test_load_fault_injection(void)
{
    MT_CHECK_FAULT_INJECTION(ctx, MODELS "controlnet-sdxl-tiny", open_any, close_any);
}

int main(void)
{
    ctx = mt_context();
    RUN(test_sd1);
    RUN(test_sdxl);
    RUN(test_errors);
    RUN(test_load_fault_injection);
    sdc_context_destroy(ctx);
    return test_finish();
}
