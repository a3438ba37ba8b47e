"""Diffusers -> original LDM/CompVis ("single-file") tensor names for SD 1.x, SD 2.x and SDXL.

Single-file checkpoints as A1111/Civitai/Stability distribute them hold every component in one
state dict:

  SD 1.x  model.diffusion_model.*      UNet (openaimodel: input_blocks / middle_block / output_blocks)
          first_stage_model.*          VAE (encoder.down.N.block.M, decoder.up.N (reversed), mid.block_1/2,
                                       mid.attn_1 with 1x1-conv q/k/v/proj_out)
          cond_stage_model.transformer.*            HF CLIPTextModel names (text_model.*)
  SD 2.x  cond_stage_model.model.*     OpenCLIP text tower: transformer.resblocks.N.{ln_1, attn.in_proj_*
                                       (q|k|v fused), attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj},
                                       token_embedding, positional_embedding, ln_final,
                                       text_projection [width, proj] (transposed vs HF), logit_scale
  SDXL    conditioner.embedders.0.transformer.*     CLIP ViT-L (HF names)
          conditioner.embedders.1.model.*           OpenCLIP bigG (as SD 2.x)

The layout facts come from diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py,
convert_diffusers_to_original_sdxl.py and loaders/single_file_utils.py (diffusers 0.30); the code is
written here and generalised to any number of levels / layers_per_block. gen_models verifies it by
loading every file back with diffusers' own single-file loader.
"""

from __future__ import annotations

import re

import numpy as np

# ---------------------------------------------------------------------------------------------
# UNet

_RESNET = [  # diffusers resnet sub-module -> openaimodel ResBlock sub-module
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("time_emb_proj", "emb_layers.1"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("conv_shortcut", "skip_connection"),
]

_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",  # SDXL "text_time" embedding
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def _resnet_rest(rest: str) -> str:
    for d, o in _RESNET:
        if rest.startswith(d + "."):
            return o + rest[len(d):]
    raise KeyError(f"unknown resnet tensor {rest!r}")


def unet_key(key: str, config: dict) -> str:
    """Map one diffusers UNet2DConditionModel key to its openaimodel name (no prefix)."""
    lpb = config["layers_per_block"]
    for d, o in _UNET_TOP.items():
        if key.startswith(d + "."):
            return o + key[len(d):]
    m = re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        block = 1 + i * (lpb + 1) + j
        return f"input_blocks.{block}.0.{_resnet_rest(rest)}" if kind == "resnets" else f"input_blocks.{block}.1.{rest}"
    m = re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key)
    if m:
        return f"input_blocks.{(int(m[1]) + 1) * (lpb + 1)}.0.op.{m[2]}"
    m = re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key)
    if m:
        return f"middle_block.{2 * int(m[1])}.{_resnet_rest(m[2])}"
    m = re.match(r"mid_block\.attentions\.0\.(.*)", key)
    if m:
        return f"middle_block.1.{m[1]}"
    m = re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        block = i * (lpb + 1) + j
        return f"output_blocks.{block}.0.{_resnet_rest(rest)}" if kind == "resnets" else f"output_blocks.{block}.1.{rest}"
    m = re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key)
    if m:
        i = int(m[1])
        # The upsampler is the last module of the level's last output block: index 1 after a
        # plain ResBlock, 2 after ResBlock + SpatialTransformer.
        has_attention = "CrossAttn" in config["up_block_types"][i]
        return f"output_blocks.{i * (lpb + 1) + lpb}.{2 if has_attention else 1}.conv.{m[2]}"
    raise KeyError(f"unknown UNet tensor {key!r}")


def unet_to_ldm(state: dict[str, np.ndarray], config: dict, prefix: str = "model.diffusion_model.") -> dict:
    """The transformer blocks inside a SpatialTransformer keep their diffusers names
    (norm, proj_in, transformer_blocks.K.{norm1,attn1.to_q,...,ff.net.0.proj,ff.net.2}, proj_out)."""
    return {prefix + unet_key(k, config): v for k, v in state.items()}


# ---------------------------------------------------------------------------------------------
# VAE

_VAE_ATTN = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")]


def vae_key(key: str, config: dict) -> str:
    n_levels = len(config["block_out_channels"])
    top = {"conv_norm_out.": "norm_out."}
    m = re.match(r"(encoder|decoder)\.(.*)", key)
    if not m:  # quant_conv, post_quant_conv
        return key
    part, rest = m[1], m[2]
    for d, o in top.items():
        if rest.startswith(d):
            return f"{part}.{o}{rest[len(d):]}"
    if rest.startswith(("conv_in.", "conv_out.")):
        return key
    m = re.match(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest)
    if m:
        return f"{part}.down.{m[1]}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    m = re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", rest)
    if m:
        return f"{part}.down.{m[1]}.downsample.conv.{m[2]}"
    m = re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest)
    if m:  # decoder levels are numbered from the bottom in LDM
        return f"{part}.up.{n_levels - 1 - int(m[1])}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    m = re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", rest)
    if m:
        return f"{part}.up.{n_levels - 1 - int(m[1])}.upsample.conv.{m[2]}"
    m = re.match(r"mid_block\.resnets\.(\d+)\.(.*)", rest)
    if m:
        return f"{part}.mid.block_{int(m[1]) + 1}.{m[2].replace('conv_shortcut', 'nin_shortcut')}"
    m = re.match(r"mid_block\.attentions\.0\.(.*)", rest)
    if m:
        sub = m[1]
        for d, o in _VAE_ATTN:
            if sub.startswith(d):
                return f"{part}.mid.attn_1.{o}{sub[len(d):]}"
    raise KeyError(f"unknown VAE tensor {key!r}")


def vae_to_ldm(state: dict[str, np.ndarray], config: dict, prefix: str = "first_stage_model.") -> dict:
    """LDM's VAE attention uses 1x1 convolutions: the [C, C] linear weights become [C, C, 1, 1]."""
    out = {}
    for k, v in state.items():
        name = vae_key(k, config)
        if ".mid.attn_1." in name and name.endswith(".weight") and v.ndim == 2:
            v = v.reshape(*v.shape, 1, 1)
        out[prefix + name] = v
    return out


# ---------------------------------------------------------------------------------------------
# Text encoders


def clip_to_ldm(state: dict[str, np.ndarray], prefix: str) -> dict:
    """HF CLIPTextModel names are kept as they are under `prefix` (SD 1.x: cond_stage_model.transformer.,
    SDXL: conditioner.embedders.0.transformer.). Real files also hold the position_ids buffer
    ([1, 77] int64) that current transformers no longer saves; it is added back."""
    out = {prefix + k: v for k, v in state.items()}
    out[prefix + "text_model.embeddings.position_ids"] = np.arange(77, dtype=np.int64)[None, :]
    return out


_OPENCLIP_LAYER = [
    ("layer_norm1.", "ln_1."),
    ("layer_norm2.", "ln_2."),
    ("mlp.fc1.", "mlp.c_fc."),
    ("mlp.fc2.", "mlp.c_proj."),
    ("self_attn.out_proj.", "attn.out_proj."),
]


def openclip_to_ldm(state: dict[str, np.ndarray], prefix: str, text_projection: np.ndarray | None = None,
                    logit_scale: float = float(np.log(100.0))) -> dict:
    """HF CLIPTextModel(WithProjection) -> OpenCLIP text tower names under `prefix`.

    q/k/v projections are fused into attn.in_proj_weight [3W, W] / in_proj_bias [3W] in q, k, v
    order. `text_projection` is stored as [width, proj] (x @ P), the transpose of HF's
    text_projection.weight; for SD 2.x, whose diffusers text encoder has no projection, pass the
    tensor to store. logit_scale is the CLIP scalar (stored 0-dim float32, unused by SD).
    """
    out = {}
    layers: dict[int, dict[str, np.ndarray]] = {}
    for k, v in state.items():
        m = re.match(r"text_model\.encoder\.layers\.(\d+)\.(.*)", k)
        if m:
            layers.setdefault(int(m[1]), {})[m[2]] = v
            continue
        if k == "text_model.embeddings.token_embedding.weight":
            out[prefix + "token_embedding.weight"] = v
        elif k == "text_model.embeddings.position_embedding.weight":
            out[prefix + "positional_embedding"] = v
        elif k.startswith("text_model.final_layer_norm."):
            out[prefix + "ln_final." + k.rsplit(".", 1)[1]] = v
        elif k == "text_projection.weight":
            out[prefix + "text_projection"] = np.ascontiguousarray(v.T)
        else:
            raise KeyError(f"unknown text encoder tensor {k!r}")
    for i, t in sorted(layers.items()):
        base = f"{prefix}transformer.resblocks.{i}."
        for part in ("weight", "bias"):
            out[base + "attn.in_proj_" + part] = np.concatenate(
                [t[f"self_attn.{p}_proj.{part}"] for p in ("q", "k", "v")], axis=0)
        for k, v in t.items():
            if k.startswith(("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")):
                continue
            for d, o in _OPENCLIP_LAYER:
                if k.startswith(d):
                    out[base + o + k[len(d):]] = v
                    break
            else:
                raise KeyError(f"unknown text encoder layer tensor {k!r}")
    if text_projection is not None:
        out[prefix + "text_projection"] = text_projection
    out[prefix + "logit_scale"] = np.array(logit_scale, dtype=np.float32)
    return out


# ---------------------------------------------------------------------------------------------
# DDPM schedule buffers that LDM (SD 1.x / 2.x) checkpoints carry next to the weights.


def ddpm_buffers(beta_start: float = 0.00085, beta_end: float = 0.012, n: int = 1000) -> dict[str, np.ndarray]:
    """ldm.models.diffusion.ddpm.DDPM.register_schedule with linear_start/linear_end, "linear"
    (= diffusers "scaled_linear") betas, v_posterior 0; stored as float32 like the real files."""
    betas = np.linspace(beta_start ** 0.5, beta_end ** 0.5, n, dtype=np.float64) ** 2
    alphas = 1.0 - betas
    ac = np.cumprod(alphas)
    ac_prev = np.append(1.0, ac[:-1])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    bufs = {
        "betas": betas,
        "alphas_cumprod": ac,
        "alphas_cumprod_prev": ac_prev,
        "sqrt_alphas_cumprod": np.sqrt(ac),
        "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - ac),
        "log_one_minus_alphas_cumprod": np.log(1.0 - ac),
        "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / ac),
        "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / ac - 1),
        "posterior_variance": post_var,
        "posterior_log_variance_clipped": np.log(np.maximum(post_var, 1e-20)),
        "posterior_mean_coef1": betas * np.sqrt(ac_prev) / (1.0 - ac),
        "posterior_mean_coef2": (1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac),
    }
    return {k: v.astype(np.float32) for k, v in bufs.items()}
