"""End-to-end diffusers pipeline runs on the tiny models (txt2img SD1/SD2/SDXL, img2img, inpaint with the
9-channel and the 4-channel UNet, SDXL base + refiner, the SDXL refiner alone (img2img, aesthetic scores),
SDXL with 2 images and micro-conditioning, ControlNet with one and two nets, ControlNet img2img, SDXL ControlNet,
num_images_per_prompt=2, clip_skip, safety checker flagged/clean, Euler ancestral and SDE-DPM-Solver++),
each with rng "torch" (torch.Generator("cpu").manual_seed(seed)) and rng "numpy" (every draw from one
np.random.RandomState(seed)); see pipeline_runs.py and rng_capture.py. Models are loaded from the
unpacked models.tar.xz with torch_dtype=float32.
"""

from __future__ import annotations

import copy
import logging
import shutil
import warnings

import numpy as np
import torch

import model_tree as T
import pipeline_runs as R
from common import FIXTURES, REPO, Context, save_arrays

OUT = FIXTURES / "pipelines"
INPUTS = OUT / "inputs"

INPUT_FILES = {
    "mask": ("mask_96x64.png", R.make_mask, "inpainting mask: 255 = repaint (rectangle x 32..71, y 16..47)"),
    "control_shapes": ("control_shapes_64x64.png", R.make_control_shapes,
                       "ControlNet conditioning image: white outlines (circle, square, line) on black"),
    "control_stripes": ("control_stripes_64x64.png", R.make_control_stripes,
                        "ControlNet conditioning image: red/green vertical stripes (period 8) over a blue ramp"),
}


def write_inputs(ctx: Context) -> tuple[dict, dict]:
    images = {"astronaut": R.ensure_astronaut()}
    paths = {"astronaut": R.ASTRONAUT_PATH.relative_to(REPO).as_posix()}
    INPUTS.mkdir(parents=True, exist_ok=True)
    for key, (fname, make, desc) in INPUT_FILES.items():
        im = make()
        path = INPUTS / fname
        im.save(path)
        ctx.add(path, "png", desc, f"tools/reference/pipeline_runs.py {make.__name__}()", width=im.width,
                height=im.height, channels=len(im.getbands()))
        images[key] = im
        # as the committed tree names it, wherever SDC_FIXTURES_OUT put the file
        paths[key] = "tests/fixtures/" + path.relative_to(FIXTURES).as_posix()
    return images, paths


def load_pipeline(spec: dict, pipeline: str, model: str, controlnets: list[str] | None = None):
    """from_pretrained(torch_dtype=float32); sd1-tiny's safety checker only for the safety runs."""
    import diffusers

    cls = getattr(diffusers, pipeline)
    kwargs = dict(torch_dtype=torch.float32, local_files_only=True)
    if model == "sd1-tiny" and not spec.get("safety"):
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    if controlnets:
        nets = [diffusers.ControlNetModel.from_pretrained(str(T.MODELS_DIR / n), torch_dtype=torch.float32)
                for n in controlnets]
        kwargs["controlnet"] = nets[0] if len(nets) == 1 else nets
    pipe = cls.from_pretrained(str(T.MODELS_DIR / model), **kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _token_ids(pipe, spec: dict) -> dict:
    out = {}
    args = spec["args"]
    for attr in ("tokenizer", "tokenizer_2"):
        tok = getattr(pipe, attr, None)
        if tok is None:
            continue
        suffix = "" if attr == "tokenizer" else "_2"
        for which in ("prompt", "negative_prompt"):
            if args.get(which) is None:
                continue
            ids = tok(args[which], padding="max_length", max_length=tok.model_max_length, truncation=True,
                      return_tensors="np").input_ids
            out[f"{which}_input_ids{suffix}"] = ids.astype(np.int64)
    return out


def _jsonable(v):
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        # diffusers fills _use_default_values from a set: sort it so the manifest is stable.
        return {k: sorted(x) if k == "_use_default_values" else _jsonable(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return v


def _image_stats(images_u8: np.ndarray) -> dict:
    a = images_u8.astype(np.float64)
    return {"std": round(float(a.std()), 2), "mean": round(float(a.mean()), 2),
            "saturated_fraction": round(float(((images_u8 == 0) | (images_u8 == 255)).mean()), 4)}


def record_run(ctx: Context, spec: dict, rng: str, res: dict, pipe, refiner, input_paths: dict) -> None:
    name = spec["name"]
    run_dir = OUT / name
    arrays = {
        "latents_final": res["latents_final"].numpy(),
        "step_latents": res["step_latents"].numpy(),
        "timesteps": res["timesteps"].numpy(),
        "images_u8": res["images_u8"],
    }
    for i, d in enumerate(res["draws"]):
        arrays[f"draw_{i:02d}"] = d["tensor"].numpy()
    arrays.update(_token_ids(pipe, spec))
    if "base_latents_final" in res:
        arrays["base_latents_final"] = res["base_latents_final"].numpy()
    if res["has_nsfw"] is not None:
        arrays["has_nsfw_concepts"] = np.array(res["has_nsfw"], dtype=bool)

    final_pipe = refiner or pipe
    sched = {"class": type(pipe.scheduler).__name__, "config": _jsonable(dict(pipe.scheduler.config))}
    info = {
        "run": name,
        "rng": rng,
        "seed": spec["seed"],
        "pipeline": spec["pipeline"],
        "model": spec["model"],
        "args": _jsonable(spec["args"]),
        "input_files": {k: input_paths[v] if isinstance(v, str) else [input_paths[x] for x in v]
                        for k, v in (spec.get("inputs") or {}).items()},
        "scheduler": sched,
        "image_size": {"height": int(res["images_u8"].shape[1]), "width": int(res["images_u8"].shape[2])},
        "num_images": int(res["images_u8"].shape[0]),
        "vae_scaling_factor": final_pipe.vae.config.scaling_factor,
        "draws": res["manifest_draws"],
        "image_stats": _image_stats(res["images_u8"]),
        "safety_checker": bool(spec.get("safety")),
    }
    if spec.get("controlnets"):
        info["controlnets"] = spec["controlnets"]
    if refiner is not None:
        info["refiner"] = {"pipeline": spec["refiner"]["pipeline"], "model": spec["refiner"]["model"],
                           "args": _jsonable(spec["refiner"]["args"]), "image": "the base call's output latents",
                           "scheduler": {"class": type(refiner.scheduler).__name__,
                                         "config": _jsonable(dict(refiner.scheduler.config))},
                           "base_steps": res["base_steps"]}
    if res["has_nsfw"] is not None:
        info["has_nsfw_concepts"] = list(res["has_nsfw"])

    rng_text = ("torch.Generator('cpu').manual_seed(seed) passed as generator" if rng == "torch" else
                "every draw from one np.random.RandomState(seed) as rs.randn(*shape).astype(np.float32), in the "
                "order listed in 'draws' (diffusers' randn_tensor substituted)")
    desc = (f"{spec['pipeline']} on {spec['model']}"
            + (f" + {spec['refiner']['pipeline']} on {spec['refiner']['model']}" if refiner is not None else "")
            + f", rng {rng}: {rng_text}. latents_final = latents after the last scheduler step (denoiser space; "
            "the VAE decodes latents_final / vae_scaling_factor); step_latents[i] = latents after step i "
            "(after the inpaint blend for 4-channel inpainting"
            + ("; base steps first, then refiner steps" if refiner is not None else "")
            + "); timesteps[i] = the timestep of step i; images_u8 = the returned PIL images as [N, H, W, 3]; "
            "draw_NN = the random tensors drawn, in order (see 'draws'); *_input_ids = the tokenizer output "
            "for the prompt / negative prompt.")
    call = (f"{spec['pipeline']}.from_pretrained(models/{spec['model']}, torch_dtype=float32)(**args, generator=..., "
            "callback_on_step_end=<records latents>)")
    path = run_dir / f"{rng}.safetensors"
    tensors = save_arrays(path, arrays)
    ctx.add(path, "safetensors", desc, call, tensors=tensors, **info)
    for i, im in enumerate(res["pil_images"]):
        png = run_dir / f"{rng}_{i}.png"
        im.save(png)
        ctx.add(png, "png", f"image {i} of run {name}, rng {rng} (same pixels as images_u8[{i}] in {rng}.safetensors)",
                call, width=im.width, height=im.height, channels=3, run=name, rng=rng, index=i)


def check_run(spec: dict, results: dict) -> None:
    """Contrast and variation checks that keep the tiny models honest."""
    name = spec["name"]
    for rng, res in results.items():
        imgs = res["images_u8"]
        if spec.get("safety"):
            flags = list(res["has_nsfw"])
            if flags != [spec["expect_nsfw"]] * len(flags):
                raise AssertionError(f"{name}/{rng}: has_nsfw {flags}, expected {spec['expect_nsfw']}")
            if spec["expect_nsfw"]:
                if imgs.any():
                    raise AssertionError(f"{name}/{rng}: flagged image is not black")
                continue
        stats = _image_stats(imgs)
        if stats["std"] < 25 or stats["saturated_fraction"] > 0.2:
            raise AssertionError(f"{name}/{rng}: weak image {stats}")
    if not spec.get("expect_nsfw"):
        diff = np.abs(results["torch"]["images_u8"].astype(float) - results["numpy"]["images_u8"].astype(float)).mean()
        if diff < 10:
            raise AssertionError(f"{name}: torch and numpy rng give nearly the same image ({diff:.1f})")
    if len(results["torch"]["images_u8"]) > 1:
        a = results["torch"]["images_u8"].astype(float)
        if np.abs(a[0] - a[1]).mean() < 10:
            raise AssertionError(f"{name}: the images of one batch are nearly equal")


def generate(ctx: Context) -> None:
    import diffusers

    diffusers.utils.logging.disable_progress_bar()
    logging.getLogger("diffusers").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    T.ensure_tree()
    if OUT.exists():
        shutil.rmtree(OUT)
    images, input_paths = write_inputs(ctx)
    for spec in R.RUNS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe = load_pipeline(spec, spec["pipeline"], spec["model"], spec.get("controlnets"))
            refiner = None
            if "refiner" in spec:
                refiner = load_pipeline(spec, spec["refiner"]["pipeline"], spec["refiner"]["model"])
        results = {}
        for rng in R.RNG_MODES:
            results[rng] = R.execute(spec, rng, pipe, images, refiner_pipe=refiner)
        if [d["shape"] for d in results["torch"]["draws"]] != [d["shape"] for d in results["numpy"]["draws"]]:
            raise AssertionError(f"{spec['name']}: the two rng modes made different draws")
        check_run(spec, results)
        for rng in R.RNG_MODES:
            record_run(ctx, spec, rng, results[rng], pipe, refiner, input_paths)
    check_prompt_influence(images)


def check_prompt_influence(images: dict) -> None:
    """Same seed, other prompt: the image must change visibly (not recorded, only asserted)."""
    for name in ("sd1_txt2img", "sd2_txt2img", "sdxl_txt2img"):
        spec = copy.deepcopy(R.run_by_name(name))
        pipe = load_pipeline(spec, spec["pipeline"], spec["model"])
        a = R.execute(spec, "torch", pipe, images)["images_u8"].astype(float)
        spec["args"]["prompt"] = R.P_CAT if spec["args"]["prompt"] != R.P_CAT else R.P_CASTLE
        b = R.execute(spec, "torch", pipe, images)["images_u8"].astype(float)
        diff = float(np.abs(a - b).mean())
        if diff < 8:
            raise AssertionError(f"{name}: the prompt barely changes the image ({diff:.1f})")
