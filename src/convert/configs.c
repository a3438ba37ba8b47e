/*
 * configs.c — diffusers / transformers config.json contents for components whose source has none
 * (single-file checkpoints, configured from their tensors by the models layer): written so that
 * diffusers 0.30's UNet2DConditionModel / AutoencoderKL and transformers 4.44's CLIPTextConfig
 * read them as the same model, and sdc's *_config_from_json give back the very same struct.
 */
#include "convert/convert.h"

#include <string.h>

static void int_list(sdc_json_writer *w, const char *key, const int64_t *v, int n)
{
    sdc_json_key(w, key);
    sdc_json_begin_array(w);
    for (int i = 0; i < n; i++)
        sdc_json_int(w, v[i]);
    sdc_json_end_array(w);
}

static void int_list32(sdc_json_writer *w, const char *key, const int *v, int n)
{
    int64_t wide[SDC_UNET_MAX_LEVELS];
    for (int i = 0; i < n; i++)
        wide[i] = v[i];
    int_list(w, key, wide, n);
}

static void kinds(sdc_json_writer *w, const char *key, const bool *attn, int n, const char *yes,
                  const char *no)
{
    sdc_json_key(w, key);
    sdc_json_begin_array(w);
    for (int i = 0; i < n; i++)
        sdc_json_string(w, attn[i] ? yes : no);
    sdc_json_end_array(w);
}

static void key_int(sdc_json_writer *w, const char *key, int64_t v)
{
    sdc_json_key(w, key);
    sdc_json_int(w, v);
}

static void key_bool(sdc_json_writer *w, const char *key, bool v)
{
    sdc_json_key(w, key);
    sdc_json_bool(w, v);
}

static void key_float(sdc_json_writer *w, const char *key, float v)
{
    sdc_json_key(w, key);
    sdc_json_double(w, (double)v);
}

static void key_string(sdc_json_writer *w, const char *key, const char *v)
{
    sdc_json_key(w, key);
    sdc_json_string(w, v);
}

sdc_status sdc_convert_unet_config_json(sdc_context *ctx, const sdc_unet_config *c,
                                        sdc_json_writer *w)
{
    int n = c->n_levels;
    for (int i = 0; i < n; i++)
        if (c->up_transformer_layers[n - 1 - i] != c->transformer_layers[i])
            return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                            "UNet config: up block %d has %d transformer layers but level %d has "
                            "%d; a config.json cannot say that",
                            n - 1 - i, c->up_transformer_layers[n - 1 - i], i,
                            c->transformer_layers[i]);
    sdc_json_begin_object(w);
    key_string(w, "_class_name", "UNet2DConditionModel");
    key_int(w, "in_channels", c->in_channels);
    key_int(w, "out_channels", c->out_channels);
    int_list(w, "block_out_channels", c->block_out_channels, n);
    kinds(w, "down_block_types", c->down_attention, n, "CrossAttnDownBlock2D", "DownBlock2D");
    kinds(w, "up_block_types", c->up_attention, n, "CrossAttnUpBlock2D", "UpBlock2D");
    key_string(w, "mid_block_type", "UNetMidBlock2DCrossAttn");
    key_int(w, "layers_per_block", c->layers_per_block);
    key_int(w, "cross_attention_dim", c->cross_attention_dim);
    /* diffusers' UNet2DConditionModel names the head count attention_head_dim. */
    int_list32(w, "attention_head_dim", c->n_heads, n);
    int_list32(w, "transformer_layers_per_block", c->transformer_layers, n);
    key_bool(w, "use_linear_projection", c->use_linear_projection);
    key_bool(w, "upcast_attention", c->upcast_attention);
    key_int(w, "norm_num_groups", c->norm_num_groups);
    key_float(w, "norm_eps", c->norm_eps);
    key_bool(w, "flip_sin_to_cos", c->flip_sin_to_cos);
    key_float(w, "freq_shift", c->freq_shift);
    key_int(w, "downsample_padding", c->downsample_padding);
    key_int(w, "time_embedding_dim", c->time_embed_dim);
    sdc_json_key(w, "addition_embed_type");
    if (c->text_time) {
        sdc_json_string(w, "text_time");
        key_int(w, "addition_time_embed_dim", c->addition_time_embed_dim);
        key_int(w, "projection_class_embeddings_input_dim",
                c->projection_class_embeddings_input_dim);
    } else {
        sdc_json_null(w);
    }
    sdc_json_end_object(w);
    return SDC_STATUS_OK;
}

void sdc_convert_vae_config_json(const sdc_vae_config *c, sdc_json_writer *w)
{
    bool yes[SDC_VAE_MAX_LEVELS] = {0};
    sdc_json_begin_object(w);
    key_string(w, "_class_name", "AutoencoderKL");
    key_string(w, "act_fn", "silu");
    key_int(w, "in_channels", c->in_channels);
    key_int(w, "out_channels", c->out_channels);
    key_int(w, "latent_channels", c->latent_channels);
    int_list(w, "block_out_channels", c->block_out_channels, c->n_levels);
    kinds(w, "down_block_types", yes, c->n_levels, "", "DownEncoderBlock2D");
    kinds(w, "up_block_types", yes, c->n_levels, "", "UpDecoderBlock2D");
    key_int(w, "layers_per_block", c->layers_per_block);
    key_int(w, "norm_num_groups", c->norm_num_groups);
    key_bool(w, "mid_block_add_attention", c->mid_attention);
    key_bool(w, "use_quant_conv", c->use_quant_conv);
    key_bool(w, "use_post_quant_conv", c->use_post_quant_conv);
    key_float(w, "scaling_factor", c->scaling_factor);
    if (c->shift_factor != 0.0f)
        key_float(w, "shift_factor", c->shift_factor);
    sdc_json_end_object(w);
}

static const char *activation_name(sdc_unary_op op)
{
    switch (op) {
    case SDC_UNARY_OP_QUICK_GELU:
        return "quick_gelu";
    case SDC_UNARY_OP_GELU:
        return "gelu";
    default:
        return "gelu_pytorch_tanh";
    }
}

void sdc_convert_clip_config_json(const sdc_clip_text_config *c, sdc_json_writer *w)
{
    sdc_json_begin_object(w);
    sdc_json_key(w, "architectures");
    sdc_json_begin_array(w);
    sdc_json_string(w, c->projection_dim ? "CLIPTextModelWithProjection" : "CLIPTextModel");
    sdc_json_end_array(w);
    key_string(w, "model_type", "clip_text_model");
    key_int(w, "vocab_size", c->vocab_size);
    key_int(w, "max_position_embeddings", c->max_positions);
    key_int(w, "hidden_size", c->hidden_size);
    key_int(w, "intermediate_size", c->intermediate_size);
    key_int(w, "num_hidden_layers", c->n_layers);
    key_int(w, "num_attention_heads", c->n_heads);
    key_string(w, "hidden_act", activation_name(c->hidden_act));
    key_float(w, "layer_norm_eps", c->layer_norm_eps);
    key_int(w, "eos_token_id", c->eos_token_id);
    key_int(w, "projection_dim", c->projection_dim);
    sdc_json_end_object(w);
}
