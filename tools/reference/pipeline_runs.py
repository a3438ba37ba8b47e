"""The end-to-end pipeline runs recorded as fixtures, and the code that executes one.

Shared by gen_pipelines (which records every run) and gen_models (which runs the two safety-checker
runs without the checker to place the tiny checker's concept embeddings between them).

A run is executed twice, once per random source (see rng_capture):
  rng "torch": generator=torch.Generator("cpu").manual_seed(seed), diffusers' own draws;
  rng "numpy": every draw, in call order, from one np.random.RandomState(seed) as
               rs.randn(*shape).astype(np.float32).
A base + refiner run is one run: the same generator (or the same RandomState) continues from the
base call into the refiner call.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

import rng_capture
from common import REPO, SHARED

P_ASTRONAUT = "a photo of an astronaut riding a horse on mars"
P_CASTLE = "A watercolor painting of a castle on a hill, at sunset; highly detailed (4k)"
P_CAT = "a cat sitting on a red sofa"
P_LONG = ("an extremely long and detailed prompt describing a quiet harbour town at dawn with fishing boats, "
          "gulls over the water, pastel houses climbing the hillside, mist in the valley, a lighthouse on the "
          "rocks, nets drying on the quay, an old man mending a sail, children running along the pier, and "
          "far behind everything a range of snowy mountains catching the first pink light of the day")
NEGATIVE = "blurry, low quality"

# One dict per run: name, pipeline (diffusers class), model (folder under models/), seed, args (the
# pipeline call's keyword arguments), and optionally scheduler (class, config overrides), inputs
# (pipeline argument -> input image name(s)), controlnets, refiner, safety / expect_nsfw.
RUNS: list[dict] = [
    dict(name="sd1_txt2img", pipeline="StableDiffusionPipeline", model="sd1-tiny", seed=1,
         args=dict(prompt=P_ASTRONAUT, negative_prompt=NEGATIVE, num_inference_steps=4, guidance_scale=7.5,
                   height=64, width=64)),
    dict(name="sd1_txt2img_batch2", pipeline="StableDiffusionPipeline", model="sd1-tiny", seed=2,
         args=dict(prompt=P_CAT, num_inference_steps=3, guidance_scale=5.0, height=64, width=96,
                   num_images_per_prompt=2)),
    dict(name="sd1_txt2img_clip_skip", pipeline="StableDiffusionPipeline", model="sd1-tiny", seed=3,
         args=dict(prompt=P_LONG, negative_prompt=NEGATIVE, num_inference_steps=3, guidance_scale=7.5,
                   height=64, width=64, clip_skip=1)),
    dict(name="sd1_euler_ancestral", pipeline="StableDiffusionPipeline", model="sd1-tiny", seed=4,
         scheduler=("EulerAncestralDiscreteScheduler", {}),
         args=dict(prompt=P_CASTLE, negative_prompt=NEGATIVE, num_inference_steps=4, guidance_scale=7.0,
                   height=128, width=128)),
    dict(name="sd1_dpmpp_sde", pipeline="StableDiffusionPipeline", model="sd1-tiny", seed=5,
         scheduler=("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
         args=dict(prompt=P_ASTRONAUT, negative_prompt=NEGATIVE, num_inference_steps=5, guidance_scale=6.0,
                   height=64, width=64)),
    dict(name="sd1_img2img", pipeline="StableDiffusionImg2ImgPipeline", model="sd1-tiny", seed=6,
         inputs=dict(image="astronaut"),
         args=dict(prompt=P_CASTLE, negative_prompt=NEGATIVE, num_inference_steps=5, guidance_scale=7.5,
                   strength=0.6)),
    dict(name="sd1_inpaint_9ch", pipeline="StableDiffusionInpaintPipeline", model="sd1-inpaint-tiny", seed=7,
         inputs=dict(image="astronaut", mask_image="mask"),
         args=dict(prompt=P_CAT, negative_prompt=NEGATIVE, num_inference_steps=4, guidance_scale=7.5,
                   strength=1.0, height=64, width=96)),
    dict(name="sd1_inpaint_4ch", pipeline="StableDiffusionInpaintPipeline", model="sd1-tiny", seed=8,
         inputs=dict(image="astronaut", mask_image="mask"),
         args=dict(prompt=P_CAT, num_inference_steps=4, guidance_scale=7.5, strength=0.75, height=64, width=96)),
    dict(name="sd2_txt2img", pipeline="StableDiffusionPipeline", model="sd2-tiny", seed=9,
         args=dict(prompt=P_ASTRONAUT, negative_prompt=NEGATIVE, num_inference_steps=4, guidance_scale=7.5,
                   height=96, width=64)),
    dict(name="sdxl_txt2img", pipeline="StableDiffusionXLPipeline", model="sdxl-tiny", seed=10,
         args=dict(prompt=P_CASTLE, num_inference_steps=4, guidance_scale=5.0, height=64, width=96)),
    dict(name="sdxl_base_refiner", pipeline="StableDiffusionXLPipeline", model="sdxl-tiny", seed=11,
         refiner=dict(pipeline="StableDiffusionXLImg2ImgPipeline", model="sdxl-refiner-tiny",
                      args=dict(prompt=P_ASTRONAUT, num_inference_steps=5, guidance_scale=5.0,
                                denoising_start=0.6)),
         args=dict(prompt=P_ASTRONAUT, num_inference_steps=5, guidance_scale=5.0, height=64, width=64,
                   denoising_end=0.6, output_type="latent")),
    # image count 2 with SDXL micro-conditioning other than the defaults ((height, width) / (top, left))
    dict(name="sdxl_txt2img_batch2", pipeline="StableDiffusionXLPipeline", model="sdxl-tiny", seed=17,
         args=dict(prompt=P_CAT, negative_prompt=NEGATIVE, num_inference_steps=3, guidance_scale=6.0,
                   height=64, width=64, num_images_per_prompt=2, original_size=(96, 128),
                   crops_coords_top_left=(8, 16), target_size=(64, 96))),
    # the refiner alone, image to image, with aesthetic scores other than the defaults
    dict(name="sdxl_refiner_img2img", pipeline="StableDiffusionXLImg2ImgPipeline", model="sdxl-refiner-tiny",
         seed=18, inputs=dict(image="astronaut"),
         args=dict(prompt=P_CASTLE, negative_prompt=NEGATIVE, num_inference_steps=5, guidance_scale=5.0,
                   strength=0.6, aesthetic_score=7.5, negative_aesthetic_score=1.5)),
    dict(name="sd1_controlnet", pipeline="StableDiffusionControlNetPipeline", model="sd1-tiny", seed=12,
         controlnets=["controlnet-sd1-tiny"], inputs=dict(image="control_shapes"),
         args=dict(prompt=P_CAT, negative_prompt=NEGATIVE, num_inference_steps=3, guidance_scale=7.5,
                   height=64, width=64, controlnet_conditioning_scale=1.0)),
    dict(name="sd1_controlnet_multi", pipeline="StableDiffusionControlNetPipeline", model="sd1-tiny", seed=13,
         controlnets=["controlnet-sd1-tiny", "controlnet-sd1-tiny"],
         inputs=dict(image=["control_shapes", "control_stripes"]),
         args=dict(prompt=P_CAT, negative_prompt=NEGATIVE, num_inference_steps=3, guidance_scale=7.5,
                   height=64, width=64, controlnet_conditioning_scale=[1.0, 0.5])),
    # image to image with a ControlNet acting on the middle one of its 3 calls (diffusers'
    # controlnet_keep: off when i/3 < 0.3 or (i+1)/3 > 0.75); the 64x64 control image resized to
    # the 96x64 output
    dict(name="sd1_controlnet_img2img", pipeline="StableDiffusionControlNetImg2ImgPipeline", model="sd1-tiny",
         seed=19, controlnets=["controlnet-sd1-tiny"], inputs=dict(image="astronaut", control_image="control_shapes"),
         args=dict(prompt=P_CASTLE, negative_prompt=NEGATIVE, num_inference_steps=4, guidance_scale=7.5,
                   strength=0.75, height=64, width=96, controlnet_conditioning_scale=0.9,
                   control_guidance_start=0.3, control_guidance_end=0.75)),
    dict(name="sdxl_controlnet", pipeline="StableDiffusionXLControlNetPipeline", model="sdxl-tiny", seed=14,
         controlnets=["controlnet-sdxl-tiny"], inputs=dict(image="control_shapes"),
         args=dict(prompt=P_ASTRONAUT, negative_prompt=NEGATIVE, num_inference_steps=3, guidance_scale=5.0,
                   height=64, width=64, controlnet_conditioning_scale=0.8)),
    dict(name="sd1_safety_flagged", pipeline="StableDiffusionPipeline", model="sd1-tiny", seed=15, safety=True,
         expect_nsfw=True,
         args=dict(prompt=P_ASTRONAUT, negative_prompt=NEGATIVE, num_inference_steps=3, guidance_scale=7.5,
                   height=64, width=64)),
    dict(name="sd1_safety_clean", pipeline="StableDiffusionPipeline", model="sd1-tiny", seed=16, safety=True,
         expect_nsfw=False,
         args=dict(prompt=P_CAT, negative_prompt=NEGATIVE, num_inference_steps=3, guidance_scale=7.5,
                   height=64, width=64)),
]

RNG_MODES = ("torch", "numpy")


def run_by_name(name: str) -> dict:
    return next(r for r in RUNS if r["name"] == name)


# ---------------------------------------------------------------------------------------------
# Input images (written by gen_pipelines; the astronaut crop lives in tests/data/images)

ASTRONAUT_SIZE = (96, 64)  # width, height
ASTRONAUT_CROP = (64, 0, 448, 256)  # box in the 512x512 original: face, suit collar, shuttle model (3:2)


def make_astronaut(src: Path) -> Image.Image:
    """Crop ASTRONAUT_CROP from skimage's astronaut.png and resize to 96x64 with Pillow's LANCZOS."""
    with Image.open(src) as im:
        return im.convert("RGB").crop(ASTRONAUT_CROP).resize(ASTRONAUT_SIZE, Image.LANCZOS)


DATA_IMAGES = REPO / "tests" / "data" / "images"
ASTRONAUT_PATH = DATA_IMAGES / "astronaut_96x64.png"
# The original: shared/data/images/astronaut.png, or its copy tests/data/images/astronaut.png.
ASTRONAUT_SOURCES = [SHARED / "data" / "images" / "astronaut.png", DATA_IMAGES / "astronaut.png"]
IMAGES_LICENSE = """# Test images: sources and licenses

| file | size (px) | made from | license |
| --- | --- | --- | --- |
| `astronaut_96x64.png` | 96 x 64 RGB | scikit-image `astronaut.png` (commit `cd0a3d22b9f359f05618d75d5c7a29b91b4951ca`, \
`src/_skimage2/data/astronaut.png`, 512 x 512): crop box (64, 0, 448, 256), resized with Pillow LANCZOS \
(tools/reference/pipeline_runs.py `make_astronaut`) | "No known copyright restrictions, released into the \
public domain." (NASA Great Images database; Eileen Collins) |
"""


def ensure_astronaut() -> Image.Image:
    """Write tests/data/images/astronaut_96x64.png (and its license note) from the 512x512 original when
    that is available; return the committed image either way."""
    src = next((p for p in ASTRONAUT_SOURCES if p.exists()), None)
    if src is not None:
        DATA_IMAGES.mkdir(parents=True, exist_ok=True)
        make_astronaut(src).save(ASTRONAUT_PATH)
        (DATA_IMAGES / "LICENSES.md").write_text(IMAGES_LICENSE, encoding="utf-8")
    with Image.open(ASTRONAUT_PATH) as im:
        return im.convert("RGB")


def make_mask() -> Image.Image:
    """96x64 L image: white (255, repaint) rectangle x in [32, 72), y in [16, 48); black elsewhere."""
    im = Image.new("L", ASTRONAUT_SIZE, 0)
    ImageDraw.Draw(im).rectangle((32, 16, 71, 47), fill=255)
    return im


def make_control_shapes() -> Image.Image:
    """64x64 RGB, canny-like white outlines on black: a circle, a square and a diagonal line."""
    im = Image.new("RGB", (64, 64), (0, 0, 0))
    d = ImageDraw.Draw(im)
    d.ellipse((6, 6, 34, 34), outline=(255, 255, 255), width=2)
    d.rectangle((36, 30, 58, 56), outline=(255, 255, 255), width=2)
    d.line((4, 60, 60, 40), fill=(255, 255, 255), width=2)
    return im


def make_control_stripes() -> Image.Image:
    """64x64 RGB: vertical stripes of period 8 in red and green over a blue vertical ramp."""
    a = np.zeros((64, 64, 3), dtype=np.uint8)
    x = np.arange(64)
    a[:, :, 0] = np.where((x // 4) % 2 == 0, 255, 0)[None, :]
    a[:, :, 1] = np.where((x // 4) % 2 == 1, 200, 0)[None, :]
    a[:, :, 2] = (np.arange(64) * 4).astype(np.uint8)[:, None]
    return Image.fromarray(a, "RGB")


# ---------------------------------------------------------------------------------------------
# Execution


def scheduler_for(pipe, spec_scheduler):
    """A fresh scheduler for every run (schedulers keep per-run state)."""
    import diffusers

    if spec_scheduler is None:
        return type(pipe.scheduler).from_config(pipe.scheduler.config)
    cls_name, overrides = spec_scheduler
    return getattr(diffusers, cls_name).from_config(pipe.scheduler.config, **overrides)


def _resolve_inputs(spec: dict, images: dict) -> dict:
    out = {}
    for k, v in (spec.get("inputs") or {}).items():
        out[k] = [images[n] for n in v] if isinstance(v, list) else images[v]
    return out


class _LatentRecorder:
    """callback_on_step_end: latents after every step (after the inpaint blend where there is one)."""

    def __init__(self):
        self.steps: list[torch.Tensor] = []
        self.timesteps: list[float] = []

    def __call__(self, pipe, i, t, kwargs):
        self.steps.append(kwargs["latents"].detach().clone())
        self.timesteps.append(float(t))
        return {}


class _DecodeRecorder:
    def __init__(self, vae):
        self.vae = vae
        self.inputs: list[torch.Tensor] = []
        self._orig = vae.decode

    def __enter__(self):
        def decode(z, *a, **kw):
            self.inputs.append(z.detach().clone())
            return self._orig(z, *a, **kw)

        self.vae.decode = decode
        return self

    def __exit__(self, *exc):
        self.vae.decode = self._orig
        return False


@torch.no_grad()
def _call(pipe, spec_scheduler, args: dict, generator, recorder: _LatentRecorder):
    pipe.scheduler = scheduler_for(pipe, spec_scheduler)
    pipe.set_progress_bar_config(disable=True)
    with _DecodeRecorder(pipe.vae) as dec:
        out = pipe(**args, generator=generator, callback_on_step_end=recorder,
                   callback_on_step_end_tensor_inputs=["latents"])
    return out, dec.inputs


def execute(spec: dict, rng: str, pipe, images: dict, refiner_pipe=None) -> dict:
    """Run one fixture run; returns latents, images and the draws (with checks done)."""
    seed = spec["seed"]
    args = copy.deepcopy(spec["args"])
    args.update(_resolve_inputs(spec, images))
    generator = torch.Generator("cpu").manual_seed(seed)
    global_state = torch.get_rng_state()
    rec = _LatentRecorder()
    result: dict = {}
    with rng_capture.RandnCapture(rng, seed) as cap:
        out, decoded = _call(pipe, spec.get("scheduler"), args, generator, rec)
        if refiner_pipe is not None:
            base_steps = len(rec.steps)
            result["base_latents_final"] = out.images.detach().clone()
            r_args = copy.deepcopy(spec["refiner"]["args"])
            r_args["image"] = out.images
            out, decoded = _call(refiner_pipe, spec.get("scheduler"), r_args, generator, rec)
            result["base_steps"] = base_steps
    if rng == "torch":
        rng_capture.check_torch_stream(cap, generator)
    else:
        rng_capture.check_numpy_isolation(generator, seed, global_state)

    latents_final = rec.steps[-1]
    vae = (refiner_pipe or pipe).vae
    if len(decoded) != 1 or not torch.equal(decoded[0], latents_final / vae.config.scaling_factor):
        raise AssertionError(f"{spec['name']}: the decoder input is not the last step's latents / scaling_factor")
    pil_images = out.images
    result.update(
        latents_final=latents_final,
        step_latents=torch.stack(rec.steps),
        timesteps=torch.tensor(rec.timesteps, dtype=torch.float32),
        images_u8=np.stack([np.asarray(im.convert("RGB")) for im in pil_images]),
        pil_images=pil_images,
        draws=cap.draws,
        manifest_draws=cap.manifest_draws(),
        has_nsfw=getattr(out, "nsfw_content_detected", None),
    )
    return result
