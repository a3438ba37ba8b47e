"""Build the tiny random models (in memory) and lay them out on disk.

Weights: every parameter is drawn here from numpy (one RandomState per tensor, seeded from the
model seed and the tensor name), so nothing depends on torch's init functions and no layer is left
zero-initialised (ControlNet zero convs, proj_out, conv_out are random like the rest). Values are
float16-exact: the files store float16 and the in-memory float32 models hold the same values, so
the float32 reference math runs on exactly the stored weights.

To keep the fixtures small under xz, large tensors (>= LOWBIT_MIN_ELEMENTS elements) keep only
MANTISSA_BITS of the 10 float16 mantissa bits, and the CLIP token embeddings are integer multiples
of a fixed step (about 11 distinct values). Biases, norms, embeddings and other small tensors use
full float16 precision. Output scales are then calibrated on real inputs (UNet noise prediction
std ~1, VAE latents and decoded images with real contrast) so that the tiny models neither
collapse nor saturate.
"""

from __future__ import annotations

import copy
import zlib

import numpy as np
import torch

import tiny_configs as C

MANTISSA_BITS = 5
LOWBIT_MIN_ELEMENTS = 4096
TOKEN_EMBEDDING_STEP = 0.3
TIME_EMB_GAIN = 3.0


# ---------------------------------------------------------------------------------------------
# Values


def f16_exact(x: np.ndarray, mantissa_bits: int | None = None) -> np.ndarray:
    """Round to float16 (nearest) and optionally clear low mantissa bits; returned as float32."""
    h = np.asarray(x, dtype=np.float32).astype(np.float16)
    if mantissa_bits is not None and mantissa_bits < 10:
        mask = np.uint16((0xFFFF << (10 - mantissa_bits)) & 0xFFFF)
        h = (h.view(np.uint16) & mask).view(np.float16)
    return h.astype(np.float32)


def _is_norm(module: str) -> bool:
    leaf = module.rsplit(".", 1)[-1]
    return "norm" in leaf or "layrnorm" in leaf or leaf.startswith("ln_")


def _rng(seed: int, name: str) -> np.random.RandomState:
    return np.random.RandomState((seed * 1000003 + zlib.crc32(name.encode())) % (2**32))


def initial_values(name: str, shape: tuple, seed: int) -> np.ndarray:
    rs = _rng(seed, name)
    module, pname = name.rsplit(".", 1) if "." in name else ("", name)
    n = int(np.prod(shape)) if shape else 1
    if "token_embedding" in name:
        return TOKEN_EMBEDDING_STEP * np.round(rs.randn(*shape))
    if "position_embedding" in name or name.endswith("class_embedding"):
        return 0.5 * rs.randn(*shape)
    if pname == "bias":
        return (0.1 if _is_norm(module) else 0.05) * rs.randn(*shape)
    if len(shape) == 1 and _is_norm(module):
        return 1.0 + 0.1 * rs.randn(*shape)
    if len(shape) >= 2:
        fan_in = n // shape[0]
        # UNet/ControlNet resnets: a stronger timestep embedding keeps the denoiser visibly
        # timestep-dependent (output change ~0.5 std between t=999 and t=1 instead of ~0.2).
        gain = TIME_EMB_GAIN if module.endswith("time_emb_proj") else 1.0
        return gain * rs.randn(*shape) / np.sqrt(fan_in)
    return 0.1 * rs.randn(*shape)


def quantize(name: str, values: np.ndarray) -> np.ndarray:
    if "token_embedding" in name:
        return f16_exact(values)
    bits = MANTISSA_BITS if values.size >= LOWBIT_MIN_ELEMENTS else None
    return f16_exact(values, bits)


def randomize(model: torch.nn.Module, seed: int) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            v = quantize(name, initial_values(name, tuple(p.shape), seed))
            p.copy_(torch.from_numpy(v.astype(np.float32)))


def set_param(model: torch.nn.Module, name: str, values) -> None:
    p = dict(model.named_parameters())[name]
    v = quantize(name, np.asarray(values, dtype=np.float32).reshape(tuple(p.shape)))
    with torch.no_grad():
        p.copy_(torch.from_numpy(v))


def scale_params(model: torch.nn.Module, names: list[str], factor: float, rows: slice | None = None) -> None:
    params = dict(model.named_parameters())
    for name in names:
        v = params[name].detach().numpy().copy()
        if rows is None:
            v = v * factor
        else:
            v[rows] = v[rows] * factor
        set_param(model, name, v)


def assert_f16_exact(model: torch.nn.Module) -> None:
    for name, p in model.named_parameters():
        v = p.detach().numpy()
        if not np.array_equal(v, v.astype(np.float16).astype(np.float32)):
            raise AssertionError(f"{name} is not float16-exact")


# ---------------------------------------------------------------------------------------------
# Builders


def text_encoder(cfg: dict, seed: int, with_projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(**cfg)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    torch.manual_seed(0)
    model = cls(config).eval()
    randomize(model, seed)
    return model


def unet(cfg: dict, seed: int):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    model = UNet2DConditionModel(**copy.deepcopy(cfg)).eval()
    randomize(model, seed)
    return model


def vae(cfg: dict, seed: int):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    model = AutoencoderKL(**copy.deepcopy(cfg)).eval()
    randomize(model, seed)
    return model


def controlnet(cfg: dict, seed: int):
    from diffusers import ControlNetModel

    torch.manual_seed(0)
    model = ControlNetModel(**copy.deepcopy(cfg)).eval()
    randomize(model, seed)
    return model


def safety_checker(seed: int):
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig

    config = CLIPConfig(text_config=dict(C.SAFETY_TEXT), vision_config=dict(C.SAFETY_VISION),
                        projection_dim=C.SAFETY_PROJECTION_DIM)
    torch.manual_seed(0)
    model = StableDiffusionSafetyChecker(config).eval()
    randomize(model, seed)
    return model


def feature_extractor():
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(**copy.deepcopy(C.FEATURE_EXTRACTOR))


# ---------------------------------------------------------------------------------------------
# Output-scale calibration (deterministic: fixed inputs, fixed targets)


def _std(t: torch.Tensor) -> float:
    return float(t.double().std())


@torch.no_grad()
def calibrate_unet(model, ehs: torch.Tensor, added: dict | None, target: float = 1.0) -> float:
    """Scale conv_out so the noise prediction on a noisy latent has std `target`."""
    rs = np.random.RandomState(1234)
    c = model.config
    x = torch.from_numpy(rs.randn(ehs.shape[0], c.in_channels, 8, 12).astype(np.float32))
    out = model(x, 500, encoder_hidden_states=ehs, added_cond_kwargs=added).sample
    factor = target / _std(out)
    scale_params(model, ["conv_out.weight", "conv_out.bias"], factor)
    return factor


@torch.no_grad()
def calibrate_vae(model, image: torch.Tensor, latent_std: float = 0.9, logvar_mean: float = -3.0,
                  image_std: float = 0.45) -> dict:
    """Encoder: the scaled latent mean (mean * scaling_factor) gets std `latent_std` and the log
    variance sits around `logvar_mean` (posterior std ~0.2, so the posterior draw is visible but
    does not dominate). Decoder: decoded images of N(0, 1) scaled latents get std `image_std`
    (contrast without saturating [-1, 1])."""
    sf = model.config.scaling_factor
    lc = model.config.latent_channels
    moments = model.quant_conv(model.encoder(image))
    mean, logvar = moments[:, :lc], moments[:, lc:]
    f_mean = latent_std / (sf * _std(mean))
    scale_params(model, ["quant_conv.weight", "quant_conv.bias"], f_mean, rows=slice(0, lc))
    f_lv = 0.5 / max(_std(logvar), 1e-6)
    scale_params(model, ["quant_conv.weight"], f_lv, rows=slice(lc, 2 * lc))
    bias = model.quant_conv.bias.detach().numpy().copy()
    moments = model.quant_conv(model.encoder(image))
    bias[lc:] += logvar_mean - moments[:, lc:].mean(dim=(0, 2, 3)).numpy()
    set_param(model, "quant_conv.bias", bias)

    rs = np.random.RandomState(4321)
    z = torch.from_numpy(rs.randn(1, lc, 8, 12).astype(np.float32)) / sf
    out = model.decode(z).sample
    f_dec = image_std / _std(out)
    scale_params(model, ["decoder.conv_out.weight", "decoder.conv_out.bias"], f_dec)
    return {"mean": f_mean, "logvar": f_lv, "decoder": f_dec}
