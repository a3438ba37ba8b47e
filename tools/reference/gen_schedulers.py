"""Scheduler trajectories: diffusers schedulers driven by a fixed toy "model" through the loop
the SD pipelines use, with every intermediate sample recorded.

Configuration. SD 1.5 ships PNDMScheduler with {beta_start 0.00085, beta_end 0.012,
beta_schedule "scaled_linear", num_train_timesteps 1000, steps_offset 1, set_alpha_to_one
False, skip_prk_steps True, clip_sample False} (SD15_SCHEDULER_CONFIG below, as in the model's
scheduler_config.json). Every other class is built the way users swap schedulers in a pipeline:
`Cls.from_config(pndm.config, **overrides)`. Parameters the SD 1.5 file does not set (notably
timestep_spacing and prediction_type) then take the new class's own default: "leading" for
PNDM, DDIM and LCM, "linspace" for Euler, Euler ancestral, Heun, LMS, DPM-Solver++ and UniPC.
FlowMatchEulerDiscreteScheduler is built from SD3's scheduler config {num_train_timesteps 1000,
shift 3.0}. The full effective `scheduler.config` of every variant is recorded (entry field
`configs`, and the safetensors metadata key "configs"); keys starting with "_" are left out, and
keys carried over from the PNDM config that a class ignores (skip_prk_steps, set_alpha_to_one,
clip_sample) stay in it, as from_config leaves them.

Loop (run_case below, recorded verbatim in the entry): `scheduler.set_timesteps(steps)`; the
initial sample is `torch.randn((1, 4, 8, 8), generator=torch.Generator("cpu").manual_seed(0))
* scheduler.init_noise_sigma` (FlowMatch has no init_noise_sigma: SD3 uses the noise as is);
then for every t in scheduler.timesteps (Heun's repeated
timesteps and PNDM's repeated PLMS timestep included, exactly as the pipelines iterate):
`x_in = scheduler.scale_model_input(sample, t)` (FlowMatch has no scale_model_input; SD3 passes
the sample as is), `model_output = toy_model(x_in, t)`, `sample = scheduler.step(model_output,
t, sample, **step_kwargs).prev_sample`. step_kwargs are what the pipelines'
prepare_extra_step_kwargs pass: `eta` where step() accepts it (0.0, or 1.0 for the *_eta1
variants) and `generator=torch.Generator("cpu").manual_seed(1)` (one generator per case, made
before the loop) where step() accepts it — it feeds the noise of DDIM eta>0, Euler ancestral,
SDE-DPM-Solver++ and LCM, and is drawn from but unused by Euler (s_churn 0).

Toy model (toy_model below, verbatim in the entry), all float32 element-wise ops with the two
coefficients computed in Python doubles from float(t) and rounded to float32:
    c1 = float32(0.5 * cos(0.013 * t)); c2 = float32(0.3 + 0.2 * sin(0.007 * t))
    model_output = x * c1 + (x / (x * x + 1.0)) * c2
Every op is a single IEEE float32 operation (no fused multiply-add), so C can reproduce the
model exactly and any difference comes from the scheduler.

Per case (tensor names "<case>.<what>", case = "<variant>.<prediction_type>.s<steps>"):
timesteps (dtype as the scheduler stores them: I64 or F32), sigmas (F32, when the scheduler has
them), init_noise_sigma (F32 [1]), initial_sample (F32 [1,4,8,8]), samples (F32 [calls,1,4,8,8]:
the sample after each step() call; the last row is the final prev_sample), and for the last
step pred_original_sample (when step() returns it) and denoised (LCM, which the LCM pipeline
decodes instead of prev_sample). alphas_cumprod (F32 [1000]) is stored once per file for the
classes that have it. Combinations that diffusers rejects are listed with status "raised" and
the error, not stored.
"""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import torch

import common

OUT = common.FIXTURES / "schedulers"

SD15_SCHEDULER_CONFIG = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}

SD3_SCHEDULER_CONFIG = {
    "_class_name": "FlowMatchEulerDiscreteScheduler",
    "_diffusers_version": "0.29.0.dev0",
    "num_train_timesteps": 1000,
    "shift": 3.0,
}

SAMPLE_SHAPE = (1, 4, 8, 8)
STEPS_MAIN = [1, 2, 5, 20, 50]
STEPS_SHORT = [1, 2, 5, 20]
STEPS_SPACING_V = [1, 2, 5]
PRED_BOTH = ["epsilon", "v_prediction"]


def toy_model(x: torch.Tensor, t) -> torch.Tensor:
    tf = float(t)
    c1 = float(np.float32(0.5 * math.cos(0.013 * tf)))
    c2 = float(np.float32(0.3 + 0.2 * math.sin(0.007 * tf)))
    return x * c1 + (x / (x * x + 1.0)) * c2


# One file per scheduler class. Each variant: (name, overrides, eta for step() or None,
# {prediction_type: step counts}). Overrides go to Cls.from_config(base_config, **overrides).
FILES = [
    ("pndm", "PNDMScheduler", [
        ("pndm", {}, None, {"epsilon": STEPS_MAIN, "v_prediction": STEPS_SHORT}),
    ]),
    ("ddim", "DDIMScheduler", [
        ("ddim_eta0", {}, 0.0, {"epsilon": STEPS_MAIN, "v_prediction": STEPS_SHORT}),
        ("ddim_eta0_linspace", {"timestep_spacing": "linspace"}, 0.0, {"epsilon": STEPS_SHORT, "v_prediction": STEPS_SPACING_V}),
        ("ddim_eta0_trailing", {"timestep_spacing": "trailing"}, 0.0, {"epsilon": STEPS_SHORT, "v_prediction": STEPS_SPACING_V}),
        ("ddim_eta1", {}, 1.0, {"epsilon": STEPS_MAIN, "v_prediction": STEPS_SHORT}),
        ("ddim_eta1_trailing", {"timestep_spacing": "trailing"}, 1.0, {"epsilon": STEPS_SHORT}),
    ]),
    ("dpm_solver_multistep", "DPMSolverMultistepScheduler", [
        ("dpmpp_2m", {"algorithm_type": "dpmsolver++", "solver_order": 2, "lower_order_final": True},
         None, {"epsilon": STEPS_MAIN, "v_prediction": STEPS_SHORT}),
        ("dpmpp_2m_karras", {"algorithm_type": "dpmsolver++", "solver_order": 2, "lower_order_final": True,
                             "use_karras_sigmas": True}, None, {"epsilon": STEPS_MAIN, "v_prediction": STEPS_SHORT}),
        ("dpmpp_2m_sde", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "lower_order_final": True},
         None, {"epsilon": STEPS_MAIN, "v_prediction": STEPS_SHORT}),
    ]),
    ("euler", "EulerDiscreteScheduler", [
        ("euler", {}, None, {"epsilon": STEPS_MAIN, "v_prediction": STEPS_SHORT}),
        ("euler_leading", {"timestep_spacing": "leading"}, None, {"epsilon": STEPS_SHORT, "v_prediction": STEPS_SPACING_V}),
        ("euler_trailing", {"timestep_spacing": "trailing"}, None, {"epsilon": STEPS_SHORT, "v_prediction": STEPS_SPACING_V}),
    ]),
    ("euler_ancestral", "EulerAncestralDiscreteScheduler", [
        ("euler_a", {}, None, {"epsilon": STEPS_MAIN, "v_prediction": STEPS_SHORT}),
    ]),
    ("heun", "HeunDiscreteScheduler", [
        ("heun", {}, None, {"epsilon": STEPS_MAIN, "v_prediction": STEPS_SHORT}),
    ]),
    ("lms", "LMSDiscreteScheduler", [
        ("lms", {}, None, {"epsilon": STEPS_MAIN, "v_prediction": STEPS_SHORT}),
    ]),
    ("unipc", "UniPCMultistepScheduler", [
        ("unipc", {}, None, {"epsilon": STEPS_MAIN, "v_prediction": STEPS_SHORT}),
    ]),
    ("lcm", "LCMScheduler", [
        ("lcm", {}, None, {"epsilon": [1, 2, 4, 5, 8, 20, 50], "v_prediction": [1, 2, 4, 8, 20]}),
    ]),
    ("flow_match_euler", "FlowMatchEulerDiscreteScheduler", [
        ("flow_match_sd3", {}, None, {"flow": STEPS_MAIN}),
    ]),
]


def run_case(scheduler, steps: int, eta):
    """The pipeline loop. Returns (timesteps, initial_sample, samples, last step output, step_kwargs)."""
    scheduler.set_timesteps(steps, device="cpu")
    timesteps = scheduler.timesteps.clone()
    sample = torch.randn((1, 4, 8, 8), generator=torch.Generator("cpu").manual_seed(0), dtype=torch.float32)
    if hasattr(scheduler, "init_noise_sigma"):  # FlowMatch has none: SD3 starts from the noise as is
        sample = sample * scheduler.init_noise_sigma
    initial = sample.clone()
    accepted = set(inspect.signature(scheduler.step).parameters)
    step_kwargs = {}
    if "eta" in accepted:
        step_kwargs["eta"] = 0.0 if eta is None else eta
    if "generator" in accepted:
        step_kwargs["generator"] = torch.Generator("cpu").manual_seed(1)
    samples = []
    out = None
    for t in scheduler.timesteps:
        if hasattr(scheduler, "scale_model_input"):
            x_in = scheduler.scale_model_input(sample, t)
        else:
            x_in = sample
        model_output = toy_model(x_in, t)
        out = scheduler.step(model_output, t, sample, **step_kwargs)
        sample = out.prev_sample
        samples.append(sample.clone())
    return timesteps, initial, torch.stack(samples), out, step_kwargs


def _jsonable(obj):
    """scheduler.config as plain JSON (non-finite floats as strings, tuples as lists)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else str(f)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _scipy_missing() -> bool:
    from diffusers.utils import is_scipy_available

    return not is_scipy_available()


def _build(cls_name: str, overrides: dict, prediction_type: str):
    import diffusers

    base = diffusers.PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG)
    cls = getattr(diffusers, cls_name)
    if cls_name == "FlowMatchEulerDiscreteScheduler":
        return cls.from_config(SD3_SCHEDULER_CONFIG, **overrides)
    return cls.from_config(base.config, **overrides, prediction_type=prediction_type)


def _one_file(ctx: common.Context, stem: str, cls_name: str, variants: list) -> None:
    arrays: dict[str, np.ndarray] = {}
    cases: list[dict] = []
    configs: dict[str, dict] = {}
    skip_reason = None
    if cls_name == "LMSDiscreteScheduler" and _scipy_missing():
        skip_reason = ("LMSDiscreteScheduler needs scipy (scipy.integrate.quad for its coefficients), "
                       "which is not in tools/reference/requirements.txt; no LMS fixture was recorded")

    for variant, overrides, eta, plan in variants:
        for prediction_type, step_counts in plan.items():
            config_key = f"{variant}.{prediction_type}"
            for steps in step_counts:
                case = f"{variant}.{prediction_type}.s{steps}"
                rec = {"case": case, "variant": variant, "class": cls_name, "steps": steps,
                       "prediction_type": prediction_type, "overrides": overrides, "config": config_key}
                if skip_reason:
                    rec.update(status="skipped", reason=skip_reason)
                    cases.append(rec)
                    continue
                try:
                    sched = _build(cls_name, overrides, prediction_type)
                    configs[config_key] = _jsonable(dict(sched.config))
                    timesteps, initial, samples, out, step_kwargs = run_case(sched, steps, eta)
                except Exception as e:  # noqa: BLE001 - recorded, not hidden
                    rec.update(status="raised", error=f"{type(e).__name__}: {e}")
                    cases.append(rec)
                    continue
                names = {}

                def put(what: str, arr: np.ndarray) -> None:
                    arrays[f"{case}.{what}"] = arr
                    names[what] = f"{case}.{what}"

                put("timesteps", _np(timesteps))
                sigmas = getattr(sched, "sigmas", None)
                if isinstance(sigmas, torch.Tensor):
                    put("sigmas", _np(sigmas).astype(np.float32))
                ins = getattr(sched, "init_noise_sigma", None)
                ins_f = None if ins is None else float(ins)
                if ins is not None:
                    put("init_noise_sigma", np.array([ins_f], dtype=np.float32))
                put("initial_sample", _np(initial))
                put("samples", _np(samples))
                pred_x0 = getattr(out, "pred_original_sample", None)
                if isinstance(pred_x0, torch.Tensor):
                    put("pred_original_sample", _np(pred_x0))
                denoised = getattr(out, "denoised", None)
                if isinstance(denoised, torch.Tensor):
                    put("denoised", _np(denoised))
                if "alphas_cumprod" not in arrays and isinstance(getattr(sched, "alphas_cumprod", None), torch.Tensor):
                    arrays["alphas_cumprod"] = _np(sched.alphas_cumprod).astype(np.float32)
                kw = {k: ("torch.Generator('cpu').manual_seed(1)" if k == "generator" else v)
                      for k, v in step_kwargs.items()}
                rec.update(
                    status="ok", tensors=names, step_kwargs=kw,
                    n_model_calls=int(samples.shape[0]), n_timesteps=int(timesteps.shape[0]),
                    timesteps_dtype=common.st_dtype(_np(timesteps)), init_noise_sigma=ins_f,
                    init_noise_sigma_type="absent" if ins is None else type(ins).__name__,
                    scale_model_input=hasattr(sched, "scale_model_input"),
                    all_finite=bool(torch.isfinite(samples).all()),
                )
                cases.append(rec)

    path = OUT / f"{stem}.safetensors"
    n_ok = sum(1 for c in cases if c["status"] == "ok")
    description = (f"{cls_name} trajectories ({n_ok} cases) under the toy model; tensors "
                   "'<case>.timesteps|sigmas|init_noise_sigma|initial_sample|samples|"
                   "pred_original_sample|denoised' as listed per case in 'cases'.")
    if cls_name == "FlowMatchEulerDiscreteScheduler":
        built = "SD3_SCHEDULER_CONFIG, **overrides"
    else:
        built = "PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG).config, **overrides, prediction_type=prediction_type"
    produced_by = (f"sched = diffusers.{cls_name}.from_config({built}); run_case(sched, steps, eta)  "
                   "# per case; run_case and toy_model are in loop_source and model_source")
    extra = dict(
        cases=cases, configs=configs,
        base_config=SD3_SCHEDULER_CONFIG if cls_name == "FlowMatchEulerDiscreteScheduler" else SD15_SCHEDULER_CONFIG,
        model_source=inspect.getsource(toy_model), loop_source=inspect.getsource(run_case),
        initial_noise="torch.randn((1, 4, 8, 8), generator=torch.Generator('cpu').manual_seed(0), "
                      "dtype=torch.float32) * scheduler.init_noise_sigma",
        step_generator="torch.Generator('cpu').manual_seed(1), created once per case before the loop, "
                       "passed to every step() call that accepts a generator",
    )
    if not arrays:
        # Nothing ran (e.g. scipy missing): record the plan without a file.
        if path.exists():
            path.unlink()
        ctx.add(path, "safetensors", description + " NOT WRITTEN: " + (skip_reason or "every case raised"),
                produced_by, tensors={}, written=False, **extra)
        return
    meta = {"configs": json.dumps(configs, sort_keys=True, ensure_ascii=False)}
    tensors = common.save_arrays(path, arrays, metadata=meta)
    ctx.add(path, "safetensors", description, produced_by, tensors=tensors, **extra)


def generate(ctx: common.Context) -> None:
    for stem, cls_name, variants in FILES:
        _one_file(ctx, stem, cls_name, variants)
