"""Shared helpers for the reference fixture generators.

Every generator module exposes `generate(ctx: Context) -> None` and records each file it
writes through `ctx.add(...)`, so that regenerate.py can write one manifest describing every
fixture: what it holds and how it was produced. Files are written deterministically (sorted
keys, no timestamps), so regenerating twice gives byte-identical output.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
# SDC_FIXTURES_OUT redirects the output (e.g. to check that a rerun reproduces the committed
# fixtures byte for byte without touching them).
FIXTURES = Path(os.environ.get("SDC_FIXTURES_OUT", REPO / "tests" / "fixtures")).resolve()
SHARED = REPO.parent / "shared"

_NP_TO_ST = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}


def st_dtype(arr: np.ndarray) -> str:
    return _NP_TO_ST[arr.dtype]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def json_safe(obj: Any) -> Any:
    """Non-finite floats (diffusers configs hold -inf) as the strings "inf", "-inf", "nan":
    strict JSON has no spelling for them."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> None:
    """Strict JSON with sorted keys, UTF-8, LF line end: byte-stable across runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(json_safe(obj), f, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False)
        f.write("\n")


def save_arrays(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> dict:
    """Write a safetensors file of numpy arrays; returns the manifest 'tensors' map."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    save_file(clean, str(path), metadata=metadata)
    return {k: {"dtype": st_dtype(v), "shape": list(v.shape)} for k, v in sorted(clean.items())}


@dataclass
class Context:
    out: Path = FIXTURES
    entries: list[dict] = field(default_factory=list)

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.out.resolve()).as_posix()

    def add(self, path: Path, kind: str, description: str, produced_by: str, **extra: Any) -> None:
        """Record one fixture file.

        kind: "safetensors" (give tensors=), "json", "png" (give width=, height=, channels=),
        "npy" (give dtype=, shape=), "ckpt", "text" or "dir".
        """
        entry = {
            "path": self.rel(path),
            "kind": kind,
            "description": description,
            "produced_by": produced_by,
        }
        if path.is_file():
            entry["bytes"] = path.stat().st_size
            entry["sha256"] = sha256(path)
        entry.update(extra)
        self.entries.append(entry)


def versions() -> dict:
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for pkg in ["torch", "diffusers", "transformers", "numpy", "safetensors", "Pillow", "tokenizers", "regex"]:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    try:
        import ftfy  # noqa: F401

        out["ftfy_installed"] = True
    except ImportError:
        out["ftfy_installed"] = False
    return out


def deterministic_torch() -> None:
    """One thread and deterministic algorithms: float reductions then do not depend on the
    machine's core count, so reruns are byte-identical."""
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
