"""Tiny random Stable Diffusion models and float32 reference outputs of every component.

Models (diffusers folder layout, float16 weights; packed into models.tar.xz, see model_tree.py):
sd1-tiny (SD 1.5 layout with PNDM scheduler and a tiny safety checker), sd1-inpaint-tiny (9-channel
UNet), sd2-tiny (v-prediction, OpenCLIP text encoder, "!" padding), sdxl-tiny (two text encoders,
text_time conditioning), sdxl-refiner-tiny, controlnet-sd1-tiny, controlnet-sdxl-tiny; sd1/sd2/sdxl
also as single-file LDM checkpoints (.safetensors and torch.save .ckpt), verified by loading them
back with diffusers' from_single_file. Reference outputs (model_outputs/*.safetensors): text
encoder hidden states, UNet / ControlNet / VAE outputs for stored inputs, safety checker results.
"""

from __future__ import annotations

import collections
import copy
import logging
import shutil
import warnings

import numpy as np
import torch

import ldm_names as L
import model_tree as T
import pipeline_runs as R
import tiny_configs as C
import tiny_models as M
from common import FIXTURES, REPO, Context, save_arrays, write_json

OUTPUTS = FIXTURES / "model_outputs"
CLIP_DATA = REPO / "tests" / "data" / "clip"

SEEDS = dict(te_l=101, te_h=102, te_g=103, sd2_text_projection=104, unet_sd1=201, unet_sd2=202,
             unet_sdxl=203, unet_refiner=204, inpaint_conv_in=205, vae_sd=301, vae_sdxl=302,
             controlnet_sd1=401, controlnet_sdxl=402, safety=501, inputs=601)

TEXT_PROMPTS = [R.P_ASTRONAUT, "", R.P_CASTLE, R.P_LONG]
SAFETY_RUNS = ("sd1_safety_flagged", "sd1_safety_clean")

GEN = "tools/reference/gen_models.py"


# ---------------------------------------------------------------------------------------------
# Building


def tokenizer(pad_token: str):
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab_file=str(CLIP_DATA / "vocab.json"), merges_file=str(CLIP_DATA / "merges.txt"),
                         pad_token=pad_token, model_max_length=C.CLIP_MAX_LENGTH)


def token_ids(tok, prompts: list[str]) -> torch.Tensor:
    return tok(prompts, padding="max_length", max_length=C.CLIP_MAX_LENGTH, truncation=True,
               return_tensors="pt").input_ids


def xl_time_ids(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


@torch.no_grad()
def build() -> dict:
    comps: dict = {}
    tok_l, tok_oc = tokenizer(C.PAD_SD1), tokenizer(C.PAD_OPENCLIP)
    comps["tok_l"], comps["tok_oc"] = tok_l, tok_oc

    comps["te_l"] = M.text_encoder(C.CLIP_L_TINY, SEEDS["te_l"])
    n_h = C.OPENCLIP_H_TINY["num_hidden_layers"]
    comps["te_h"] = M.text_encoder(C.OPENCLIP_H_TINY, SEEDS["te_h"])
    # The full OpenCLIP tower of the SD 2.x single file has one layer more; tensors are seeded by
    # name, so its first n_h layers are exactly te_h's.
    comps["te_h_full"] = M.text_encoder(dict(C.OPENCLIP_H_TINY, num_hidden_layers=n_h + 1), SEEDS["te_h"])
    full = comps["te_h_full"].state_dict()
    for k, v in comps["te_h"].state_dict().items():
        assert torch.equal(v, full[k]), k
    comps["te_g"] = M.text_encoder(C.OPENCLIP_BIGG_TINY, SEEDS["te_g"], with_projection=True)
    w = C.OPENCLIP_H_TINY["hidden_size"]
    comps["sd2_text_projection"] = M.quantize(
        "sd2.text_projection", np.random.RandomState(SEEDS["sd2_text_projection"]).randn(w, w) / np.sqrt(w))

    ids_l = token_ids(tok_l, [R.P_ASTRONAUT, ""])
    ids_oc = token_ids(tok_oc, [R.P_ASTRONAUT, ""])
    ehs_sd1 = comps["te_l"](ids_l).last_hidden_state
    ehs_sd2 = comps["te_h"](ids_oc).last_hidden_state
    out_l = comps["te_l"](ids_l, output_hidden_states=True)
    out_g = comps["te_g"](ids_oc, output_hidden_states=True)
    ehs_xl = torch.cat([out_l.hidden_states[-2], out_g.hidden_states[-2]], dim=-1)
    xl_added = {"text_embeds": out_g.text_embeds, "time_ids": xl_time_ids([[64, 96, 0, 0, 64, 96]] * 2)}
    ref_added = {"text_embeds": out_g.text_embeds, "time_ids": xl_time_ids([[64, 96, 0, 0, 6.0], [64, 96, 0, 0, 2.5]])}

    calib = {}
    comps["unet_sd1"] = M.unet(C.UNET_SD1, SEEDS["unet_sd1"])
    calib["unet_sd1"] = M.calibrate_unet(comps["unet_sd1"], ehs_sd1, None)
    comps["unet_sd2"] = M.unet(C.UNET_SD2, SEEDS["unet_sd2"])
    calib["unet_sd2"] = M.calibrate_unet(comps["unet_sd2"], ehs_sd2, None)
    comps["unet_sdxl"] = M.unet(C.UNET_SDXL, SEEDS["unet_sdxl"])
    calib["unet_sdxl"] = M.calibrate_unet(comps["unet_sdxl"], ehs_xl, xl_added)
    comps["unet_refiner"] = M.unet(C.UNET_SDXL_REFINER, SEEDS["unet_refiner"])
    calib["unet_refiner"] = M.calibrate_unet(comps["unet_refiner"], out_g.hidden_states[-2], ref_added)

    # Inpainting UNet: the SD 1.x UNet with conv_in widened to 9 input channels, as
    # runwayml/stable-diffusion-inpainting was made from SD 1.2 (the 5 new input channels are
    # random here instead of zero so that mask and masked image matter).
    inp = M.unet(C.UNET_SD1_INPAINT, SEEDS["unet_sd1"])
    state = {k: v.clone() for k, v in comps["unet_sd1"].state_dict().items()}
    w_in = state["conv_in.weight"].numpy()
    extra = M.initial_values("conv_in.weight.inpaint", (w_in.shape[0], 5, 3, 3), SEEDS["inpaint_conv_in"])
    extra = extra * np.sqrt(5 * 9) / np.sqrt(4 * 9)  # same per-weight scale as the 4 latent channels
    state["conv_in.weight"] = torch.from_numpy(
        np.concatenate([w_in, M.quantize("conv_in.weight", extra)], axis=1).astype(np.float32))
    inp.load_state_dict(state)
    comps["unet_inpaint"] = inp

    astronaut = astronaut_tensor()
    comps["vae_sd"] = M.vae(C.VAE_SD, SEEDS["vae_sd"])
    calib["vae_sd"] = M.calibrate_vae(comps["vae_sd"], astronaut)
    comps["vae_sdxl"] = M.vae(C.VAE_SDXL, SEEDS["vae_sdxl"])
    calib["vae_sdxl"] = M.calibrate_vae(comps["vae_sdxl"], astronaut)

    comps["controlnet_sd1"] = M.controlnet(C.CONTROLNET_SD1, SEEDS["controlnet_sd1"])
    comps["controlnet_sdxl"] = M.controlnet(C.CONTROLNET_SDXL, SEEDS["controlnet_sdxl"])

    comps["safety"] = M.safety_checker(SEEDS["safety"])
    comps["feature_extractor"] = M.feature_extractor()
    comps["calibration"] = calib
    for k, v in comps.items():
        if isinstance(v, torch.nn.Module):
            M.assert_f16_exact(v)
            for name, mod in v.named_modules():
                if isinstance(mod, torch.nn.GroupNorm) and mod.num_channels < 2 * mod.num_groups:
                    raise AssertionError(f"{k}.{name}: fewer than 2 channels per GroupNorm group")
    return comps


def astronaut_tensor() -> torch.Tensor:
    """tests/data/images/astronaut_96x64.png as the pipelines feed it to the VAE: [1, 3, 64, 96] in [-1, 1]."""
    im = R.ensure_astronaut()
    a = np.asarray(im, dtype=np.float32) / 255.0
    return torch.from_numpy(a.transpose(2, 0, 1)[None] * 2.0 - 1.0)


# ---------------------------------------------------------------------------------------------
# Safety checker concepts, placed between the images of the two safety runs


def sd1_pipeline(comps: dict, safety: bool = False):
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    return StableDiffusionPipeline(
        vae=comps["vae_sd"], text_encoder=comps["te_l"], tokenizer=comps["tok_l"], unet=comps["unet_sd1"],
        scheduler=PNDMScheduler.from_config(C.SCHEDULER_SD1),
        safety_checker=comps["safety"] if safety else None, feature_extractor=comps["feature_extractor"],
        requires_safety_checker=False)


@torch.no_grad()
def image_embeds(comps: dict, images_u8: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image

    fe, sc = comps["feature_extractor"], comps["safety"]
    clip_input = fe([Image.fromarray(a) for a in images_u8], return_tensors="pt").pixel_values
    return clip_input, sc.visual_projection(sc.vision_model(clip_input)[1])


@torch.no_grad()
def calibrate_safety(comps: dict) -> dict:
    """Concept 0 and special-care concept 0 point along the part of the flagged images' embeddings
    orthogonal to the clean images' embeddings, so the clean images score ~0 on them. Thresholds:
    special care fires on both flagged images (+0.01 adjustment); concept 0's threshold sits 0.005
    above the smaller flagged score, so one flagged image is flagged only thanks to that
    adjustment. The other concepts are random with thresholds of at least 0.3 and 0.05 above any
    score seen here."""
    pipe = sd1_pipeline(comps)
    imgs = {}
    for name in SAFETY_RUNS:
        spec = R.run_by_name(name)
        for rng in R.RNG_MODES:
            imgs[(name, rng)] = R.execute(spec, rng, pipe, {})["images_u8"]
    flagged = np.concatenate([imgs[(SAFETY_RUNS[0], r)] for r in R.RNG_MODES])
    clean = np.concatenate([imgs[(SAFETY_RUNS[1], r)] for r in R.RNG_MODES])
    _, e_f = image_embeds(comps, flagged)
    _, e_c = image_embeds(comps, clean)
    nf = torch.nn.functional.normalize(e_f.double(), dim=-1)
    nc = torch.nn.functional.normalize(e_c.double(), dim=-1)
    q, _ = torch.linalg.qr(nc.T)
    d = nf.sum(0)
    c0 = d - q @ (q.T @ d)
    c0 = c0 / c0.norm()

    sc = comps["safety"]
    rs = np.random.RandomState(SEEDS["safety"] + 1)
    dim = C.SAFETY_PROJECTION_DIM
    concepts = rs.randn(17, dim)
    special = rs.randn(3, dim)
    concepts[0] = c0.numpy()
    special[0] = c0.numpy()
    M.set_param(sc, "concept_embeds", concepts)
    M.set_param(sc, "special_care_embeds", special)
    all_e = torch.nn.functional.normalize(torch.cat([e_f, e_c]).double(), dim=-1)

    def cos(emb):
        return (all_e @ torch.nn.functional.normalize(emb.detach().double(), dim=-1).T).numpy()

    cos_c, cos_s = cos(sc.concept_embeds), cos(sc.special_care_embeds)
    flagged_min = float(cos_c[:2, 0].min())
    if flagged_min < 0.05 or abs(cos_c[2:, 0]).max() > 0.01:
        raise AssertionError(f"safety concept not separable: flagged {cos_c[:2, 0]}, clean {cos_c[2:, 0]}")
    w_concepts = np.maximum(cos_c.max(axis=0) + 0.05, 0.3)
    w_concepts[0] = flagged_min + 0.005
    w_special = np.maximum(cos_s.max(axis=0) + 0.05, 0.3)
    w_special[0] = 0.5 * float(cos_s[:2, 0].min())
    M.set_param(sc, "concept_embeds_weights", w_concepts)
    M.set_param(sc, "special_care_embeds_weights", w_special)
    return {"flagged_cos": cos_c[:2, 0].tolist(), "clean_cos": cos_c[2:, 0].tolist(), "images": imgs}


# ---------------------------------------------------------------------------------------------
# Writing the diffusers folders


def _half_save(model, path) -> None:
    m16 = copy.deepcopy(model).half()
    m16.save_pretrained(str(path), safe_serialization=True)


def _tokenizer_dir(path, pad_token: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(CLIP_DATA / name, path / name)
    for name, obj in C.tokenizer_files(pad_token).items():
        write_json(path / name, obj)


def _model_index(cls: str, parts: dict, **extra) -> dict:
    import diffusers

    out = {"_class_name": cls, "_diffusers_version": diffusers.__version__}
    out.update(parts)
    out.update(extra)
    return out


NULL = [None, None]
TE = ["transformers", "CLIPTextModel"]
TE_PROJ = ["transformers", "CLIPTextModelWithProjection"]
TOK = ["transformers", "CLIPTokenizer"]
UNET = ["diffusers", "UNet2DConditionModel"]
VAE = ["diffusers", "AutoencoderKL"]


def write_folders(comps: dict) -> None:
    d = T.MODELS_DIR

    m = d / "sd1-tiny"
    _half_save(comps["te_l"], m / "text_encoder")
    _tokenizer_dir(m / "tokenizer", C.PAD_SD1)
    _half_save(comps["unet_sd1"], m / "unet")
    _half_save(comps["vae_sd"], m / "vae")
    _half_save(comps["safety"], m / "safety_checker")
    comps["feature_extractor"].save_pretrained(str(m / "feature_extractor"))
    write_json(m / "scheduler" / "scheduler_config.json", C.SCHEDULER_SD1)
    write_json(m / "model_index.json", _model_index("StableDiffusionPipeline", {
        "feature_extractor": ["transformers", "CLIPImageProcessor"], "image_encoder": NULL,
        "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
        "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": TE, "tokenizer": TOK, "unet": UNET,
        "vae": VAE}, requires_safety_checker=True))

    m = d / "sd1-inpaint-tiny"
    _half_save(comps["te_l"], m / "text_encoder")
    _tokenizer_dir(m / "tokenizer", C.PAD_SD1)
    _half_save(comps["unet_inpaint"], m / "unet")
    _half_save(comps["vae_sd"], m / "vae")
    write_json(m / "scheduler" / "scheduler_config.json", C.SCHEDULER_SD1)
    write_json(m / "model_index.json", _model_index("StableDiffusionInpaintPipeline", {
        "feature_extractor": NULL, "image_encoder": NULL, "safety_checker": NULL,
        "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": TE, "tokenizer": TOK, "unet": UNET,
        "vae": VAE}, requires_safety_checker=False))

    m = d / "sd2-tiny"
    _half_save(comps["te_h"], m / "text_encoder")
    _tokenizer_dir(m / "tokenizer", C.PAD_OPENCLIP)
    _half_save(comps["unet_sd2"], m / "unet")
    _half_save(comps["vae_sd"], m / "vae")
    write_json(m / "scheduler" / "scheduler_config.json", C.SCHEDULER_SD2)
    write_json(m / "model_index.json", _model_index("StableDiffusionPipeline", {
        "feature_extractor": NULL, "image_encoder": NULL, "safety_checker": NULL,
        "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": TE, "tokenizer": TOK, "unet": UNET,
        "vae": VAE}, requires_safety_checker=False))

    m = d / "sdxl-tiny"
    _half_save(comps["te_l"], m / "text_encoder")
    _half_save(comps["te_g"], m / "text_encoder_2")
    _tokenizer_dir(m / "tokenizer", C.PAD_SD1)
    _tokenizer_dir(m / "tokenizer_2", C.PAD_OPENCLIP)
    _half_save(comps["unet_sdxl"], m / "unet")
    _half_save(comps["vae_sdxl"], m / "vae")
    write_json(m / "scheduler" / "scheduler_config.json", C.SCHEDULER_SDXL)
    write_json(m / "model_index.json", _model_index("StableDiffusionXLPipeline", {
        "feature_extractor": NULL, "image_encoder": NULL, "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": TE, "text_encoder_2": TE_PROJ, "tokenizer": TOK, "tokenizer_2": TOK, "unet": UNET,
        "vae": VAE}, force_zeros_for_empty_prompt=True))

    m = d / "sdxl-refiner-tiny"
    _half_save(comps["te_g"], m / "text_encoder_2")
    _tokenizer_dir(m / "tokenizer_2", C.PAD_OPENCLIP)
    _half_save(comps["unet_refiner"], m / "unet")
    _half_save(comps["vae_sdxl"], m / "vae")
    write_json(m / "scheduler" / "scheduler_config.json", C.SCHEDULER_SDXL)
    write_json(m / "model_index.json", _model_index("StableDiffusionXLImg2ImgPipeline", {
        "feature_extractor": NULL, "image_encoder": NULL, "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": NULL, "text_encoder_2": TE_PROJ, "tokenizer": NULL, "tokenizer_2": TOK, "unet": UNET,
        "vae": VAE}, force_zeros_for_empty_prompt=False, requires_aesthetics_score=True))

    _half_save(comps["controlnet_sd1"], d / "controlnet-sd1-tiny")
    _half_save(comps["controlnet_sdxl"], d / "controlnet-sdxl-tiny")


# ---------------------------------------------------------------------------------------------
# Single-file checkpoints


def _np16(model) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().astype(np.float16) for k, v in model.state_dict().items()}


def single_file_state(comps: dict, family: str) -> dict[str, np.ndarray]:
    if family == "sd1":
        sd = L.unet_to_ldm(_np16(comps["unet_sd1"]), C.UNET_SD1)
        sd.update(L.vae_to_ldm(_np16(comps["vae_sd"]), C.VAE_SD))
        sd.update(L.clip_to_ldm(_np16(comps["te_l"]), "cond_stage_model.transformer."))
        sd.update(L.ddpm_buffers())
    elif family == "sd2":
        sd = L.unet_to_ldm(_np16(comps["unet_sd2"]), C.UNET_SD2)
        sd.update(L.vae_to_ldm(_np16(comps["vae_sd"]), C.VAE_SD))
        sd.update(L.openclip_to_ldm(_np16(comps["te_h_full"]), "cond_stage_model.model.",
                                    text_projection=comps["sd2_text_projection"].astype(np.float16)))
        sd.update(L.ddpm_buffers())
    elif family == "sdxl":
        sd = L.unet_to_ldm(_np16(comps["unet_sdxl"]), C.UNET_SDXL)
        sd.update(L.vae_to_ldm(_np16(comps["vae_sdxl"]), C.VAE_SDXL))
        sd.update(L.clip_to_ldm(_np16(comps["te_l"]), "conditioner.embedders.0.transformer."))
        sd.update(L.openclip_to_ldm(_np16(comps["te_g"]), "conditioner.embedders.1.model."))
    else:
        raise ValueError(family)
    return {k: np.ascontiguousarray(v) for k, v in sorted(sd.items())}


def write_ckpt(path, state: dict[str, np.ndarray]) -> None:
    """torch.save of {"global_step": 0, "state_dict": OrderedDict} like LDM checkpoints (zip format,
    one storage per tensor in sorted key order, which makes the file byte-stable)."""
    sd = collections.OrderedDict((k, torch.from_numpy(v.copy())) for k, v in state.items())
    torch.save({"global_step": 0, "state_dict": sd}, str(path), _use_new_zipfile_serialization=True)


_STORAGE = {"F16": "HalfStorage", "F32": "FloatStorage", "I64": "LongStorage"}


# ---------------------------------------------------------------------------------------------
# Verification with diffusers' own single-file loader


def _compare(name: str, loaded: torch.nn.Module, ref: torch.nn.Module) -> int:
    a, b = loaded.state_dict(), ref.state_dict()
    if set(a) != set(b):
        raise AssertionError(f"{name}: key sets differ: {sorted(set(a) ^ set(b))[:5]}")
    for k in a:
        if a[k].dtype != torch.float32 or not torch.equal(a[k], b[k].to(a[k].dtype)):
            raise AssertionError(f"{name}: tensor {k} does not round-trip")
    return len(a)


@torch.no_grad()
def verify_single_file(path, family: str, comps: dict) -> dict:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint, load_single_file_checkpoint

    folder = {"sd1": "sd1-tiny", "sd2": "sd2-tiny", "sdxl": "sdxl-tiny"}[family]
    cls = StableDiffusionXLPipeline if family == "sdxl" else StableDiffusionPipeline
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = cls.from_single_file(str(path), config=str(T.MODELS_DIR / folder), local_files_only=True,
                                    torch_dtype=torch.float32)
    refs = {"sd1": {"unet": "unet_sd1", "vae": "vae_sd", "text_encoder": "te_l"},
            "sd2": {"unet": "unet_sd2", "vae": "vae_sd", "text_encoder": "te_h"},
            "sdxl": {"unet": "unet_sdxl", "vae": "vae_sdxl", "text_encoder": "te_l", "text_encoder_2": "te_g"}}[family]
    counts = {part: _compare(f"{path.name}:{part}", getattr(pipe, part), comps[ref]) for part, ref in refs.items()}
    note = {"loaded_with": f"{cls.__name__}.from_single_file(path, config=<models/{folder}>, torch_dtype=float32)",
            "tensors_compared_exactly": counts}
    if family == "sd2":
        ckpt = load_single_file_checkpoint(str(path), local_files_only=True)
        conv = convert_open_clip_checkpoint(pipe.text_encoder, ckpt, prefix="cond_stage_model.model.")
        n = C.OPENCLIP_H_TINY["num_hidden_layers"]
        extra = sorted(k for k in conv if k.startswith(f"text_model.encoder.layers.{n}."))
        if not extra:
            raise AssertionError("expected diffusers to convert the extra OpenCLIP layer")
        note["sd2_extra_text_layer"] = (
            f"the file holds {n + 1} OpenCLIP resblocks, diffusers' text_encoder {n} (penultimate-layer "
            f"conditioning). diffusers converts resblocks.{n} too ({len(extra)} tensors, e.g. {extra[0]}) and "
            "drops them as unexpected keys of the smaller CLIPTextModel (strict=False load, a warning); for real "
            "SD 2.x files it instead skips resblocks.23 through a hard-coded list (SD_2_TEXT_ENCODER_KEYS_TO_IGNORE)")
    return note


# ---------------------------------------------------------------------------------------------
# Reference outputs


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)


def _add_outputs(ctx: Context, name: str, arrays: dict, description: str, produced_by: str, **extra) -> None:
    path = OUTPUTS / f"{name}.safetensors"
    tensors = save_arrays(path, {k: _np(v) for k, v in arrays.items()})
    ctx.add(path, "safetensors", description, produced_by, tensors=tensors, **extra)


@torch.no_grad()
def text_outputs(ctx: Context, comps: dict) -> None:
    cases = [
        ("text_encoder_sd1", "te_l", comps["tok_l"], "sd1-tiny/text_encoder (also sd1-inpaint-tiny/text_encoder and "
         "sdxl-tiny/text_encoder)", "pad <|endoftext|> (49407)", ["sd1-tiny", "sd1-inpaint-tiny", "sdxl-tiny"]),
        ("text_encoder_sd2", "te_h", comps["tok_oc"], "sd2-tiny/text_encoder", "pad '!' (0)", ["sd2-tiny"]),
        ("text_encoder_2_sdxl", "te_g", comps["tok_oc"], "sdxl-tiny/text_encoder_2 (also sdxl-refiner-tiny/"
         "text_encoder_2)", "pad '!' (0)", ["sdxl-tiny", "sdxl-refiner-tiny"]),
    ]
    for name, key, tok, where, pad, models in cases:
        model = comps[key]
        ids = token_ids(tok, TEXT_PROMPTS)
        out = model(ids, output_hidden_states=True)
        arrays = {"input_ids": ids.to(torch.int64), "last_hidden_state": out.last_hidden_state,
                  "hidden_states": torch.stack(out.hidden_states)}
        if hasattr(out, "text_embeds"):
            arrays["text_embeds"] = out.text_embeds
            pooled = "text_embeds = text_projection(final_layer_norm(h)[argmax(input_ids)])"
        else:
            arrays["pooler_output"] = out.pooler_output
            pooled = "pooler_output = final_layer_norm(h)[argmax(input_ids)]"
        _add_outputs(
            ctx, name, arrays,
            f"{where} on the token ids of {len(TEXT_PROMPTS)} prompts (CLIPTokenizer without ftfy, {pad}, "
            "padding='max_length', max_length=77, truncation=True; prompt 2 is empty, prompt 4 is truncated). "
            "hidden_states[i] is the output of embeddings (i=0) and of layer i (no final layer norm); "
            "last_hidden_state has the final layer norm. " + pooled + ".",
            "model(input_ids, output_hidden_states=True)", models=models, prompts=TEXT_PROMPTS)


def _inputs_rs(k: int) -> np.random.RandomState:
    return np.random.RandomState(SEEDS["inputs"] + k)


def _randn(rs, *shape) -> torch.Tensor:
    return torch.from_numpy(rs.randn(*shape).astype(np.float32))


UNET_CASES = [
    # fixture name, component key, config, models using it, added-conditioning kind
    ("unet_sd1", "unet_sd1", C.UNET_SD1, ["sd1-tiny"], None),
    ("unet_sd1_inpaint", "unet_inpaint", C.UNET_SD1_INPAINT, ["sd1-inpaint-tiny"], None),
    ("unet_sd2", "unet_sd2", C.UNET_SD2, ["sd2-tiny"], None),
    ("unet_sdxl", "unet_sdxl", C.UNET_SDXL, ["sdxl-tiny"], "sdxl"),
    ("unet_sdxl_refiner", "unet_refiner", C.UNET_SDXL_REFINER, ["sdxl-refiner-tiny"], "refiner"),
]
TIMESTEPS = (801, 13)


def _unet_inputs(k: int, cfg: dict, added_kind) -> dict:
    rs = _inputs_rs(k)
    inputs = {"sample": _randn(rs, 2, cfg["in_channels"], 8, 12),
              "encoder_hidden_states": _randn(rs, 2, 77, cfg["cross_attention_dim"])}
    if added_kind == "sdxl":
        inputs["text_embeds"] = _randn(rs, 2, C.OPENCLIP_BIGG_TINY["projection_dim"])
        inputs["time_ids"] = xl_time_ids([[64, 96, 0, 0, 64, 96], [96, 64, 8, 16, 96, 64]])
    elif added_kind == "refiner":
        inputs["text_embeds"] = _randn(rs, 2, C.OPENCLIP_BIGG_TINY["projection_dim"])
        inputs["time_ids"] = xl_time_ids([[64, 96, 0, 0, 6.0], [64, 96, 0, 0, 2.5]])
    return inputs


def _added(inputs: dict):
    if "time_ids" not in inputs:
        return None
    return {"text_embeds": inputs["text_embeds"], "time_ids": inputs["time_ids"]}


@torch.no_grad()
def unet_outputs(ctx: Context, comps: dict) -> None:
    for k, (name, key, cfg, models, added_kind) in enumerate(UNET_CASES):
        model = comps[key]
        inputs = _unet_inputs(k, cfg, added_kind)
        arrays = dict(inputs)
        for t in TIMESTEPS:
            arrays[f"out_t{t}"] = model(inputs["sample"], t, encoder_hidden_states=inputs["encoder_hidden_states"],
                                        added_cond_kwargs=_added(inputs)).sample
        arrays["timesteps"] = torch.tensor(TIMESTEPS, dtype=torch.int64)
        call = "unet(sample, t, encoder_hidden_states=encoder_hidden_states" + (
            ", added_cond_kwargs={'text_embeds': text_embeds, 'time_ids': time_ids}" if added_kind else "") + ").sample"
        _add_outputs(
            ctx, name, arrays,
            f"{models[0]}/unet: sample [2, {cfg['in_channels']}, 8, 12] and encoder_hidden_states are N(0, 1) "
            "(np.random.RandomState, stored)"
            + ("; text_embeds N(0, 1) and time_ids as stored (original size, crop, target size)" if added_kind == "sdxl"
               else "; text_embeds N(0, 1) and time_ids as stored (original size, crop, aesthetic score)"
               if added_kind == "refiner" else "")
            + f". out_t<T> is the output for the scalar timestep T (int) for both batch rows; T in {list(TIMESTEPS)}.",
            call, models=models)


@torch.no_grad()
def vae_outputs(ctx: Context, comps: dict) -> None:
    image = astronaut_tensor()
    for k, (name, key, models) in enumerate([("vae_sd", "vae_sd", ["sd1-tiny", "sd1-inpaint-tiny", "sd2-tiny"]),
                                             ("vae_sdxl", "vae_sdxl", ["sdxl-tiny", "sdxl-refiner-tiny"])]):
        vae = comps[key]
        dist = vae.encode(image).latent_dist
        z = _randn(_inputs_rs(10 + k), 1, 4, 8, 12)
        decoded = vae.decode(z).sample
        _add_outputs(
            ctx, name,
            {"image": image, "latent_dist_parameters": dist.parameters, "mean": dist.mean, "logvar": dist.logvar,
             "std": dist.std, "z": z, "decoded": decoded},
            f"{models[0]}/vae (scaling_factor {vae.config.scaling_factor}). image = tests/data/images/"
            "astronaut_96x64.png as [1, 3, 64, 96] float32 uint8/255*2-1. latent_dist_parameters = "
            "quant_conv(encoder(image)) = [mean | logvar] before the clamp; logvar is clamped to [-30, 20]; "
            "std = exp(0.5 logvar). decoded = post_quant_conv + decoder of z (N(0, 1), stored; unscaled "
            "latent space), not clamped.",
            "vae.encode(image).latent_dist.{parameters,mean,logvar,std}; vae.decode(z).sample", models=models)


@torch.no_grad()
def controlnet_outputs(ctx: Context, comps: dict) -> None:
    cases = [("controlnet_sd1", "controlnet_sd1", "unet_sd1", C.UNET_SD1, None, "controlnet-sd1-tiny", "sd1-tiny"),
             ("controlnet_sdxl", "controlnet_sdxl", "unet_sdxl", C.UNET_SDXL, "sdxl", "controlnet-sdxl-tiny",
              "sdxl-tiny")]
    for k, (name, key, unet_key, cfg, added_kind, model_name, base) in enumerate(cases):
        cn, unet = comps[key], comps[unet_key]
        inputs = _unet_inputs(20 + k, cfg, added_kind)
        rs = _inputs_rs(30 + k)
        cond = torch.from_numpy(rs.rand(2, 3, 64, 96).astype(np.float32))
        t, scale = 801, 0.7
        down, mid = cn(inputs["sample"], t, encoder_hidden_states=inputs["encoder_hidden_states"],
                       controlnet_cond=cond, conditioning_scale=scale, added_cond_kwargs=_added(inputs),
                       return_dict=False)
        out = unet(inputs["sample"], t, encoder_hidden_states=inputs["encoder_hidden_states"],
                   added_cond_kwargs=_added(inputs), down_block_additional_residuals=down,
                   mid_block_additional_residual=mid).sample
        arrays = dict(inputs, controlnet_cond=cond, mid_block_res_sample=mid, unet_out_with_residuals=out)
        for i, r in enumerate(down):
            arrays[f"down_block_res_sample_{i:02d}"] = r
        _add_outputs(
            ctx, name, arrays,
            f"{model_name} (for {base}): sample, encoder_hidden_states{', text_embeds, time_ids' if added_kind else ''} "
            f"as stored (N(0, 1) / fixed), controlnet_cond U[0, 1) [2, 3, 64, 96], timestep {t}, "
            f"conditioning_scale {scale}. down_block_res_sample_NN are the {len(down)} residuals in order "
            f"(already multiplied by the scale); unet_out_with_residuals is {base}/unet on the same inputs with "
            "the residuals added.",
            f"controlnet(sample, {t}, encoder_hidden_states=..., controlnet_cond=controlnet_cond, "
            f"conditioning_scale={scale}{', added_cond_kwargs=...' if added_kind else ''}); then unet(..., "
            "down_block_additional_residuals=down, mid_block_additional_residual=mid).sample",
            models=[model_name, base], timestep=t, conditioning_scale=scale)


@torch.no_grad()
def safety_outputs(ctx: Context, comps: dict, calib: dict) -> None:
    from diffusers.pipelines.stable_diffusion.safety_checker import cosine_distance

    imgs = calib["images"]
    order = [(SAFETY_RUNS[0], "torch"), (SAFETY_RUNS[1], "torch"), (SAFETY_RUNS[0], "numpy"), (SAFETY_RUNS[1], "numpy")]
    images_u8 = np.concatenate([imgs[o] for o in order])
    clip_input, embeds = image_embeds(comps, images_u8)
    sc = comps["safety"]
    images = torch.from_numpy(images_u8.astype(np.float32).transpose(0, 3, 1, 2) / 255.0)
    out_images, has_nsfw = sc(clip_input=clip_input, images=images.clone())
    expected = [True, False, True, False]
    if list(has_nsfw) != expected:
        raise AssertionError(f"safety checker: {has_nsfw} != {expected}")
    _add_outputs(
        ctx, "safety_checker_sd1",
        {"images_u8": images_u8, "clip_input": clip_input, "image_embeds": embeds,
         "special_cos_dist": cosine_distance(embeds, sc.special_care_embeds),
         "cos_dist": cosine_distance(embeds, sc.concept_embeds),
         "has_nsfw_concepts": np.array(has_nsfw, dtype=bool), "images_out": out_images},
        "sd1-tiny/safety_checker + feature_extractor on the final images of pipeline runs "
        f"{SAFETY_RUNS[0]} and {SAFETY_RUNS[1]} (rng torch, then rng numpy): images_u8 [4, 64, 64, 3]. "
        "clip_input = CLIPImageProcessor (PIL bicubic resize to 32, center crop 32, /255, CLIP mean/std). "
        "image_embeds = visual_projection(vision_model(clip_input).pooler_output). Decision as diffusers: "
        "special score = round(cos - special_weight, 3) > 0 sets adjustment 0.01; concept score = "
        "round(cos - concept_weight + adjustment, 3) > 0 flags. The flagged images are flagged through concept "
        "0; one of them only because of the special-care adjustment. images_out = images (uint8/255, NCHW) "
        "with flagged ones zeroed.",
        "safety_checker(clip_input=clip_input, images=images) -> (images_out, has_nsfw_concepts)",
        models=["sd1-tiny"], flagged_cos=calib["flagged_cos"], clean_cos=calib["clean_cos"])


# ---------------------------------------------------------------------------------------------


def _record_folder_files(ctx: Context) -> None:
    from safetensors import safe_open

    first_by_inode: dict = {}
    for path in T._members(T.MODELS_DIR):
        rel = path.relative_to(T.MODELS_DIR)
        model = rel.parts[0]
        st = path.stat()
        first = first_by_inode.setdefault((st.st_dev, st.st_ino), path)
        if path.suffix in (".safetensors", ".ckpt") and len(rel.parts) == 1:
            continue  # single files are recorded where they are written
        extra = {"model": model, "archive": T.ARCHIVE_NAME}
        if len(rel.parts) > 2:
            extra["component"] = rel.parts[1]
        if first != path:
            extra["same_file_as"] = ctx.rel(first)
        if path.suffix == ".safetensors":
            with safe_open(str(path), "np") as f:
                tensors = {k: {"dtype": f.get_slice(k).get_dtype(), "shape": list(f.get_slice(k).get_shape())}
                           for k in sorted(f.keys())}
            ctx.add(path, "safetensors", f"{model} {extra.get('component', 'controlnet')} weights (float16)",
                    "save_pretrained(safe_serialization=True) of the float16 model", tensors=tensors, **extra)
        elif path.suffix == ".json":
            ctx.add(path, "json", f"{model} {rel.as_posix()}", GEN, **extra)
        else:
            ctx.add(path, "text", f"{model} {rel.as_posix()} (copy of tests/data/clip/{path.name})", GEN, **extra)


def generate(ctx: Context) -> None:
    import diffusers

    diffusers.utils.logging.disable_progress_bar()
    logging.getLogger("diffusers").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    comps = build()
    calib = calibrate_safety(comps)

    if T.MODELS_DIR.exists():
        shutil.rmtree(T.MODELS_DIR)
    if OUTPUTS.exists():
        shutil.rmtree(OUTPUTS)
    write_folders(comps)

    single_entries = []
    for family in ("sd1", "sd2", "sdxl"):
        state = single_file_state(comps, family)
        st = T.MODELS_DIR / f"{family}-tiny.safetensors"
        tensors = save_arrays(st, state, metadata={"format": "pt"})
        ck = T.MODELS_DIR / f"{family}-tiny.ckpt"
        write_ckpt(ck, state)
        single_entries.append((family, st, ck, tensors))
    T.link_duplicates()
    single_entries = [(family, st, ck, tensors, {"safetensors": verify_single_file(st, family, comps),
                                                  "ckpt": verify_single_file(ck, family, comps)})
                      for family, st, ck, tensors in single_entries]

    _record_folder_files(ctx)
    prefixes = {"sd1": "model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.* (HF CLIP names, "
                       "with position_ids int64), DDPM buffers (betas, alphas_cumprod, ... float32)",
                "sd2": "model.diffusion_model.*, first_stage_model.*, cond_stage_model.model.* (OpenCLIP, fused "
                       "in_proj, one extra resblock, text_projection, logit_scale), DDPM buffers",
                "sdxl": "model.diffusion_model.*, first_stage_model.*, conditioner.embedders.0.transformer.* (CLIP-L), "
                        "conditioner.embedders.1.model.* (OpenCLIP bigG)"}
    for family, st, ck, tensors, notes in single_entries:
        common_extra = dict(model=f"{family}-tiny", archive=T.ARCHIVE_NAME, verification=notes)
        ctx.add(st, "safetensors", f"{family}-tiny as a single-file LDM checkpoint: {prefixes[family]}; float16 "
                "weights, metadata {'format': 'pt'}", "ldm_names.py mapping of the diffusers weights",
                tensors=tensors, **common_extra)
        storages = sorted({_STORAGE[v["dtype"]] for v in tensors.values()})
        zero_dim = sorted(k for k, v in tensors.items() if not v["shape"])
        ctx.add(ck, "ckpt", f"{family}-tiny as a torch.save .ckpt: {{'global_step': 0, 'state_dict': OrderedDict}} "
                f"with the same tensors as the .safetensors, in sorted key order ({', '.join(storages)}"
                + (f"; 0-dim: {', '.join(zero_dim)}" if zero_dim else "") + ")",
                "torch.save(obj, path, _use_new_zipfile_serialization=True)", tensors=tensors, **common_extra)

    text_outputs(ctx, comps)
    unet_outputs(ctx, comps)
    vae_outputs(ctx, comps)
    controlnet_outputs(ctx, comps)
    safety_outputs(ctx, comps, calib)

    stats = T.write_archive()
    ctx.add(T.ARCHIVE, "tar.xz", "every file under models/ (the entries with archive 'models.tar.xz'); unpack into a "
            "directory D (tar -xJf / cmake -E tar xf; hard-link members) and their paths are relative to D",
            "model_tree.write_archive: GNU tar, fixed member order, mtime 0, uid/gid 0, byte-identical files as hard "
            "links; xz LZMA2 preset 9 with a 192 MiB dictionary, CRC64", **stats,
            output_scale_calibration=comps["calibration"])
