"""Record, and optionally replace, every random draw a diffusers pipeline makes.

Every stochastic draw in the diffusers 0.30 pipelines used here goes through
`diffusers.utils.torch_utils.randn_tensor`, which each module imports by name (pipelines for the
initial latents and the image-to-image noise, schedulers for ancestral / SDE noise,
models/autoencoders/vae.py for the VAE posterior sample). `RandnCapture` swaps that name in every
loaded module for a wrapper that records (shape, purpose, tensor) in call order and:

  mode "torch": draws as diffusers does: torch.randn(shape, generator=<the pipeline's generator>)
                on the CPU (= sdc --rng torch);
  mode "numpy": draws rs.randn(*shape).astype(np.float32) from ONE np.random.RandomState(seed)
                shared by all draws of the run, in call order (= sdc --rng numpy).

`check_torch_stream` / `check_numpy_isolation` verify afterwards that no draw bypassed the wrapper.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

import diffusers.utils.torch_utils as _torch_utils

ORIGINAL_RANDN_TENSOR = _torch_utils.randn_tensor

# (class or function name seen on the stack) -> human readable purpose of the draw
_PURPOSES = [
    ("DiagonalGaussianDistribution.sample", "VAE posterior sample (latent_dist.sample)"),
    ("EulerAncestralDiscreteScheduler.step", "ancestral noise (scheduler step)"),
    ("DPMSolverMultistepScheduler.step", "SDE noise (scheduler step)"),
    # EulerDiscreteScheduler.step draws its churn noise on every step even with s_churn = 0, where
    # the draw is multiplied by nothing: it consumes the stream but does not change the result.
    ("EulerDiscreteScheduler.step", "Euler churn noise (drawn every step, unused with s_churn=0)"),
    ("Img2ImgPipeline.prepare_latents", "image-to-image noise (prepare_latents)"),
    ("InpaintPipeline.prepare_latents", "inpaint noise (prepare_latents)"),
    ("prepare_latents", "initial latents (prepare_latents)"),
]


def _caller_chain() -> list[str]:
    """Qualified names (Class.method) of the diffusers frames that led to this draw, innermost first."""
    chain = []
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith("diffusers."):
            self_obj = frame.f_locals.get("self")
            fn = frame.f_code.co_name
            chain.append(f"{type(self_obj).__name__}.{fn}" if self_obj is not None else fn)
        frame = frame.f_back
    return chain


def _purpose(chain: list[str]) -> str:
    inner = chain[0] if chain else "?"
    for key, text in _PURPOSES:
        if key in inner:
            if key.startswith("DiagonalGaussian"):
                # Which image was encoded: the pipeline method further up tells.
                outer = [c for c in chain[1:] if "Pipeline." in c]
                if any(c.endswith(".prepare_mask_latents") for c in outer):
                    return text + " of the masked image (prepare_mask_latents)"
                if any(c.endswith(".prepare_latents") for c in outer):
                    return text + " of the init image (prepare_latents)"
                return text + f" ({outer[0] if outer else '?'})"
            return text
    return inner


class RandnCapture:
    def __init__(self, mode: str, seed: int):
        if mode not in ("torch", "numpy"):
            raise ValueError(mode)
        self.mode = mode
        self.seed = seed
        self.rs = np.random.RandomState(seed) if mode == "numpy" else None
        self.draws: list[dict] = []
        self._patched: list = []

    def randn_tensor(self, shape, generator=None, device=None, dtype=None, layout=None):
        shape = tuple(int(s) for s in shape)
        chain = _caller_chain()
        if self.mode == "numpy":
            arr = self.rs.randn(*shape).astype(np.float32)
            out = torch.from_numpy(arr).to(device=device or "cpu", dtype=dtype or torch.float32)
        else:
            if isinstance(generator, list):
                raise ValueError("lists of generators are not used by these fixtures")
            out = ORIGINAL_RANDN_TENSOR(shape, generator=generator, device=device, dtype=dtype, layout=layout)
        self.draws.append({
            "shape": list(shape),
            "purpose": _purpose(chain),
            "caller": " < ".join(chain[:3]),
            "tensor": out.detach().to(torch.float32).clone(),
        })
        return out

    def __enter__(self):
        for mod in list(sys.modules.values()):
            if mod is None:
                continue
            try:
                if getattr(mod, "randn_tensor", None) is ORIGINAL_RANDN_TENSOR:
                    setattr(mod, "randn_tensor", self.randn_tensor)
                    self._patched.append(mod)
            except Exception:  # some lazy modules raise on attribute access
                continue
        return self

    def __exit__(self, *exc):
        for mod in self._patched:
            setattr(mod, "randn_tensor", ORIGINAL_RANDN_TENSOR)
        self._patched.clear()
        return False

    def manifest_draws(self) -> list[dict]:
        return [{"shape": d["shape"], "purpose": d["purpose"], "caller": d["caller"]} for d in self.draws]


def check_torch_stream(capture: RandnCapture, generator: torch.Generator) -> None:
    """Replay the recorded draws from a fresh generator: every tensor must match and the replayed
    generator must end in the pipeline generator's state, i.e. nothing else consumed it."""
    g = torch.Generator("cpu").manual_seed(capture.seed)
    for i, d in enumerate(capture.draws):
        t = torch.randn(tuple(d["shape"]), generator=g, dtype=torch.float32)
        if not torch.equal(t, d["tensor"]):
            raise AssertionError(f"torch draw {i} ({d['purpose']}) does not replay")
    if not torch.equal(g.get_state(), generator.get_state()):
        raise AssertionError("the pipeline consumed its torch generator outside randn_tensor")


def check_numpy_isolation(generator: torch.Generator, seed: int, global_state_before: torch.Tensor) -> None:
    """With numpy draws substituted, the torch generator and torch's global RNG stay untouched."""
    fresh = torch.Generator("cpu").manual_seed(seed)
    if not torch.equal(fresh.get_state(), generator.get_state()):
        raise AssertionError("a draw bypassed the numpy substitution (torch generator was used)")
    if not torch.equal(global_state_before, torch.get_rng_state()):
        raise AssertionError("a draw used torch's global RNG")
