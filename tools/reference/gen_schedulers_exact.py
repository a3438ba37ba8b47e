"""Scheduler trajectories with correctly rounded float32 math: the exactness check for sdc.

gen_schedulers.py records diffusers as it runs on this machine, where torch's float32 sqrt,
log, exp and expm1 go through Intel MKL's vector math library (VML). Those results are within
1 ulp but not correctly rounded (about 17% of float32 square roots differ from the correctly
rounded value), and they depend on the CPU MKL dispatches to. Several solver steps amplify such
1-ulp differences far beyond 1e-6 (Euler ancestral's sigma_down = sqrt(sigma_to^2 - sigma_up^2)
cancels almost completely on a 14.6 -> 0.03 step; Heun's and Euler's last step divide an
x - x0 difference by the smallest sigma), so no independent implementation can match those
fixtures to 1e-6 everywhere.

This generator reruns exactly the same cases (gen_schedulers.FILES, _build, run_case, toy_model)
with those four functions replaced, only while it runs, by float64 evaluation rounded once to
float32 (the arithmetic sdc uses). sdc is expected to reproduce these trajectories bit for bit.

exact_math.safetensors, per case "<file>/<case>": the initial sample, the final sample, the
last step's x0 (pred_original_sample or LCM's denoised, when the step returns one), sigmas and
init_noise_sigma, all float32. The manifest entry lists the cases with the effective config of
each (entry field `configs`, keyed like gen_schedulers' entries).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch

import common
import gen_schedulers

OUT = common.FIXTURES / "schedulers"


@contextlib.contextmanager
def correctly_rounded_math():
    """torch.sqrt/log/exp/expm1, Tensor.sqrt/log/exp and Tensor ** 0.5 on float32 tensors
    computed in float64 and rounded once; everything else untouched. Restored on exit."""
    saved = {
        (torch, "sqrt"): torch.sqrt, (torch, "log"): torch.log, (torch, "exp"): torch.exp,
        (torch, "expm1"): torch.expm1, (torch.Tensor, "sqrt"): torch.Tensor.sqrt,
        (torch.Tensor, "log"): torch.Tensor.log, (torch.Tensor, "exp"): torch.Tensor.exp,
        (torch.Tensor, "__pow__"): torch.Tensor.__pow__,
    }

    def via_double(fn):
        def wrapped(t, *args, **kwargs):
            if isinstance(t, torch.Tensor) and t.dtype == torch.float32 and not args and not kwargs:
                return fn(t.double()).float()
            return fn(t, *args, **kwargs)
        return wrapped

    def pow_(self, exponent):
        if self.dtype == torch.float32 and isinstance(exponent, (int, float)) and exponent == 0.5:
            return saved[(torch.Tensor, "sqrt")](self.double()).float()
        return saved[(torch.Tensor, "__pow__")](self, exponent)

    try:
        for (owner, name), fn in saved.items():
            setattr(owner, name, pow_ if name == "__pow__" else via_double(fn))
        yield
    finally:
        for (owner, name), fn in saved.items():
            setattr(owner, name, fn)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32).copy()


def generate(ctx: common.Context) -> None:
    arrays: dict[str, np.ndarray] = {}
    cases: list[dict] = []
    configs: dict[str, dict] = {}
    with correctly_rounded_math():
        assert float(torch.tensor(0.000850745011121034622, dtype=torch.float32).sqrt()) == \
            float(np.float32(math.sqrt(float(np.float32(0.000850745011121034622))))), "patch inactive"
        for stem, cls_name, variants in gen_schedulers.FILES:
            if cls_name == "LMSDiscreteScheduler" and gen_schedulers._scipy_missing():
                continue
            for variant, overrides, eta, plan in variants:
                for prediction_type, step_counts in plan.items():
                    for steps in step_counts:
                        case = f"{variant}.{prediction_type}.s{steps}"
                        key = f"{stem}/{case}"
                        sched = gen_schedulers._build(cls_name, overrides, prediction_type)
                        config_key = f"{stem}/{variant}.{prediction_type}"
                        configs[config_key] = gen_schedulers._jsonable(dict(sched.config))
                        _, initial, samples, out, step_kwargs = gen_schedulers.run_case(sched, steps, eta)
                        names = {}

                        def put(what: str, arr: np.ndarray) -> None:
                            arrays[f"{key}.{what}"] = arr
                            names[what] = f"{key}.{what}"

                        put("initial_sample", _np(initial))
                        put("final_sample", _np(samples[-1]))
                        x0 = getattr(out, "pred_original_sample", None)
                        if not isinstance(x0, torch.Tensor):
                            x0 = getattr(out, "denoised", None)
                        if isinstance(x0, torch.Tensor):
                            put("final_x0", _np(x0))
                        if isinstance(getattr(sched, "sigmas", None), torch.Tensor):
                            put("sigmas", _np(sched.sigmas))
                        ins = getattr(sched, "init_noise_sigma", None)
                        if ins is not None:
                            put("init_noise_sigma", np.array([float(ins)], dtype=np.float32))
                        kw = {k: ("torch.Generator('cpu').manual_seed(1)" if k == "generator" else v)
                              for k, v in step_kwargs.items()}
                        cases.append({
                            "case": key, "file": f"schedulers/{stem}.safetensors", "class": cls_name,
                            "variant": variant, "prediction_type": prediction_type, "steps": steps,
                            "config": config_key, "step_kwargs": kw, "tensors": names,
                            "n_model_calls": int(samples.shape[0]),
                        })

    path = OUT / "exact_math.safetensors"
    tensors = common.save_arrays(path, arrays)
    ctx.add(
        path, "safetensors",
        "The gen_schedulers.py cases rerun with correctly rounded float32 sqrt/log/exp/expm1 "
        "(float64, rounded once) instead of MKL VML: initial sample, final sample, last x0, "
        "sigmas and init_noise_sigma per case '<file stem>/<case>'.",
        "with correctly_rounded_math(): gen_schedulers.run_case(gen_schedulers._build(cls, "
        "overrides, prediction_type), steps, eta) for every case of gen_schedulers.FILES",
        tensors=tensors, cases=cases, configs=configs,
        model_source=gen_schedulers.inspect.getsource(gen_schedulers.toy_model),
    )
