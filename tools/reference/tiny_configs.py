"""Configurations of the tiny Stable Diffusion models used as reference fixtures.

Each tiny model keeps the structure of the real one (block types, attention layout, activation,
text encoder pairing, scheduler config as the real repository ships it) and shrinks only the
widths and depths. Models that also exist as single-file checkpoints (sd1-tiny, sd2-tiny,
sdxl-tiny) use the values a single-file loader must assume because such files carry no config:
GroupNorm with 32 groups (so every GroupNorm has >= 64 channels, 2 per group), 8 UNet heads for
SD1, a UNet head dimension of 64 for SD2/SDXL, and a CLIP text head dimension of 64.

The models that exist only as diffusers folders (sdxl-refiner-tiny, the controlnets follow their
UNet) may use other values from their config.json; the refiner deliberately does (16 groups,
head dim 16) so a loader cannot get away with hard-coding 32 groups / head dim 64.
"""

from __future__ import annotations

import copy

# ---------------------------------------------------------------------------------------------
# Text encoders (transformers CLIPTextConfig keyword arguments)

CLIP_VOCAB_SIZE = 49408
CLIP_MAX_LENGTH = 77

_CLIP_COMMON = dict(
    vocab_size=CLIP_VOCAB_SIZE,
    max_position_embeddings=CLIP_MAX_LENGTH,
    layer_norm_eps=1e-5,
    attention_dropout=0.0,
    dropout=0.0,
    initializer_factor=1.0,
    initializer_range=0.02,
    # As in the real SD configs: eos_token_id 2 makes transformers pool at argmax(input_ids),
    # i.e. at the first <|endoftext|> (49407 is the largest id).
    bos_token_id=0,
    eos_token_id=2,
    pad_token_id=1,
)

# SD 1.x CLIP ViT-L/14 text tower (real: 768 wide, 12 layers, 12 heads); also SDXL's text_encoder.
CLIP_L_TINY = dict(_CLIP_COMMON, hidden_size=64, intermediate_size=256, num_hidden_layers=3,
                   num_attention_heads=1, hidden_act="quick_gelu", projection_dim=64)

# SD 2.x OpenCLIP ViT-H/14 text tower as diffusers loads it (real: 1024 wide, 23 of 24 layers,
# 16 heads, gelu). The single-file checkpoint holds one more layer than this (see ldm_names).
OPENCLIP_H_TINY = dict(_CLIP_COMMON, hidden_size=64, intermediate_size=256, num_hidden_layers=3,
                       num_attention_heads=1, hidden_act="gelu", projection_dim=64)

# SDXL text_encoder_2, OpenCLIP ViT-bigG/14 with projection (real: 1280 wide, 32 layers, 20 heads,
# projection 1280). Wider than CLIP_L_TINY, as in the real pair: diffusers' single-file loader
# tells the two SDXL encoders apart by width.
OPENCLIP_BIGG_TINY = dict(_CLIP_COMMON, hidden_size=128, intermediate_size=512, num_hidden_layers=3,
                          num_attention_heads=2, hidden_act="gelu", projection_dim=128)

# ---------------------------------------------------------------------------------------------
# UNets (diffusers UNet2DConditionModel keyword arguments)

_UNET_COMMON = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    center_input_sample=False,
    flip_sin_to_cos=True,
    freq_shift=0,
    mid_block_type="UNetMidBlock2DCrossAttn",
    act_fn="silu",
    norm_num_groups=32,
    norm_eps=1e-5,
    downsample_padding=1,
    mid_block_scale_factor=1,
    dual_cross_attention=False,
    resnet_time_scale_shift="default",
)

# SD 1.5: real block_out_channels (320, 640, 1280, 1280), layers_per_block 2, 8 heads, conv
# proj_in/proj_out, cross-attention on every level but the lowest.
UNET_SD1 = dict(
    _UNET_COMMON,
    block_out_channels=(64, 64, 96),
    layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=64,
    attention_head_dim=8,  # integer: the number of heads (diffusers' historical naming)
    use_linear_projection=False,
    upcast_attention=False,
)

# SD 1.5 inpainting: same UNet with 9 input channels (latents + mask + masked-image latents).
UNET_SD1_INPAINT = dict(UNET_SD1, in_channels=9)

# SD 2.1: real (320, 640, 1280, 1280), attention_head_dim [5, 10, 20, 20] (= heads, head dim 64),
# linear proj_in/proj_out, upcast_attention, v-prediction (scheduler). layers_per_block 2 as real.
UNET_SD2 = dict(
    _UNET_COMMON,
    block_out_channels=(64, 64, 64),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=64,
    attention_head_dim=[1, 1, 1],  # list of heads per level: channels / 64
    use_linear_projection=True,
    upcast_attention=True,
)

# SDXL base: real (320, 640, 1280), no attention on level 0, transformer_layers_per_block
# [1, 2, 10], head dim 64, linear projections, addition_embed_type "text_time" with
# addition_time_embed_dim 256 and 6 time ids; cross_attention_dim 768 + 1280.
_XL_TIME_DIM = 16
UNET_SDXL = dict(
    _UNET_COMMON,
    block_out_channels=(64, 64, 64),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=[1, 1, 2],
    cross_attention_dim=CLIP_L_TINY["hidden_size"] + OPENCLIP_BIGG_TINY["hidden_size"],
    attention_head_dim=[1, 1, 1],
    use_linear_projection=True,
    upcast_attention=False,
    addition_embed_type="text_time",
    addition_time_embed_dim=_XL_TIME_DIM,
    projection_class_embeddings_input_dim=OPENCLIP_BIGG_TINY["projection_dim"] + 6 * _XL_TIME_DIM,
)

# SDXL refiner: real (384, 768, 1536, 1536), blocks Down/CrossAttn/CrossAttn/Down,
# transformer_layers_per_block 4, cross_attention_dim 1280 (text_encoder_2 only), 5 time ids
# (original size, crop, aesthetic score). Diffusers-folder only, so it uses 16 groups and
# head dim 16 from its config.
_REFINER_TIME_DIM = 8
UNET_SDXL_REFINER = dict(
    _UNET_COMMON,
    block_out_channels=(32, 32, 32),
    layers_per_block=1,
    norm_num_groups=16,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=2,
    cross_attention_dim=OPENCLIP_BIGG_TINY["hidden_size"],
    attention_head_dim=[2, 2, 2],
    use_linear_projection=True,
    upcast_attention=False,
    addition_embed_type="text_time",
    addition_time_embed_dim=_REFINER_TIME_DIM,
    projection_class_embeddings_input_dim=OPENCLIP_BIGG_TINY["projection_dim"] + 5 * _REFINER_TIME_DIM,
)

# ---------------------------------------------------------------------------------------------
# ControlNets (diffusers ControlNetModel keyword arguments): the UNet's encoder half plus the
# conditioning embedding (real: conditioning_embedding_out_channels (16, 32, 96, 256)).

_CONTROLNET_KEYS = [
    "in_channels", "flip_sin_to_cos", "freq_shift", "down_block_types", "block_out_channels",
    "layers_per_block", "downsample_padding", "mid_block_scale_factor", "act_fn", "norm_num_groups",
    "norm_eps", "cross_attention_dim", "transformer_layers_per_block", "attention_head_dim",
    "use_linear_projection", "upcast_attention", "resnet_time_scale_shift", "addition_embed_type",
    "addition_time_embed_dim", "projection_class_embeddings_input_dim",
]


def _controlnet_from_unet(unet: dict) -> dict:
    cfg = {k: copy.deepcopy(unet[k]) for k in _CONTROLNET_KEYS if k in unet}
    cfg["conditioning_channels"] = 3
    cfg["conditioning_embedding_out_channels"] = (16, 32, 64, 64)
    cfg["controlnet_conditioning_channel_order"] = "rgb"
    return cfg


CONTROLNET_SD1 = _controlnet_from_unet(UNET_SD1)
CONTROLNET_SDXL = _controlnet_from_unet(UNET_SDXL)

# ---------------------------------------------------------------------------------------------
# VAEs (diffusers AutoencoderKL keyword arguments). Real: block_out_channels (128, 256, 512, 512),
# layers_per_block 2, 4 latent channels, 8x downsampling, one attention in each mid block.

VAE_SD = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(64, 64, 64, 64),
    layers_per_block=2,  # encoder 2 resnets per level, decoder 3, as real
    act_fn="silu",
    latent_channels=4,
    norm_num_groups=32,
    sample_size=64,
    scaling_factor=0.18215,
    force_upcast=True,
)

# SDXL VAE: same architecture, other weights and scaling_factor 0.13025. The tiny one widens its
# lowest level so the resnet shortcut convolutions (nin_shortcut) are exercised.
VAE_SDXL = dict(VAE_SD, block_out_channels=(64, 64, 64, 96), layers_per_block=1, scaling_factor=0.13025)

# ---------------------------------------------------------------------------------------------
# Safety checker: transformers CLIPConfig; StableDiffusionSafetyChecker uses only the vision tower
# (real: CLIP ViT-L/14, 224 px, projection 768, 17 concept + 3 special-care embeddings).

SAFETY_VISION = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                     image_size=32, patch_size=8, num_channels=3, hidden_act="quick_gelu",
                     layer_norm_eps=1e-5, projection_dim=32)
SAFETY_TEXT = dict(vocab_size=CLIP_VOCAB_SIZE, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                   num_attention_heads=1, max_position_embeddings=CLIP_MAX_LENGTH, hidden_act="quick_gelu",
                   projection_dim=32)
SAFETY_PROJECTION_DIM = 32

# CLIPImageProcessor (real: resize shortest edge to 224 bicubic, center crop 224, CLIP mean/std).
FEATURE_EXTRACTOR = dict(
    do_resize=True,
    size={"shortest_edge": SAFETY_VISION["image_size"]},
    resample=3,
    do_center_crop=True,
    crop_size={"height": SAFETY_VISION["image_size"], "width": SAFETY_VISION["image_size"]},
    do_rescale=True,
    rescale_factor=1 / 255,
    do_normalize=True,
    image_mean=[0.48145466, 0.4578275, 0.40821073],
    image_std=[0.26862954, 0.26130258, 0.27577711],
    do_convert_rgb=True,
)

# ---------------------------------------------------------------------------------------------
# Scheduler configs exactly as the real repositories ship them (keys not listed take the class
# defaults, which a loader must know).

SCHEDULER_SD1 = {  # runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}

SCHEDULER_SD2 = {  # stabilityai/stable-diffusion-2-1 scheduler/scheduler_config.json
    "_class_name": "DDIMScheduler",
    "_diffusers_version": "0.8.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}

SCHEDULER_SDXL = {  # stabilityai/stable-diffusion-xl-base-1.0 (and refiner) scheduler_config.json
    "_class_name": "EulerDiscreteScheduler",
    "_diffusers_version": "0.19.0.dev0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}

# ---------------------------------------------------------------------------------------------
# Tokenizer configs (the vocab.json / merges.txt are the real CLIP files from tests/data/clip).


def _added_token(content: str) -> dict:
    return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True,
            "rstrip": False, "single_word": False}


def tokenizer_files(pad_token: str) -> dict[str, dict]:
    """tokenizer_config.json and special_tokens_map.json as the SD repositories ship them.

    SD 1.x and SDXL's `tokenizer` pad with <|endoftext|> (49407); SD 2.x and SDXL's `tokenizer_2`
    pad with "!" (id 0), like OpenCLIP.
    """
    bos, eos = _added_token("<|startoftext|>"), _added_token("<|endoftext|>")
    config = {
        "add_prefix_space": False,
        "bos_token": bos,
        "do_lower_case": True,
        "eos_token": eos,
        "errors": "replace",
        "model_max_length": CLIP_MAX_LENGTH,
        "pad_token": pad_token,
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": eos,
    }
    special = {"bos_token": bos, "eos_token": eos, "pad_token": pad_token, "unk_token": eos}
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}


PAD_SD1 = "<|endoftext|>"
PAD_OPENCLIP = "!"
