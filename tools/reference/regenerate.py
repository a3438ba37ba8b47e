#!/usr/bin/env python3
"""Regenerate every reference fixture under tests/fixtures and write tests/fixtures/manifest.json.

Usage: python tools/reference/regenerate.py [--only NAME ...]

Each generator module (gen_*.py in this folder, listed in GENERATORS) writes its files and
records them in the manifest. With --only, the other generators' existing entries are kept
from the current manifest, so one part can be refreshed without rerunning everything.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import common  # noqa: E402

# Order matters only for the manifest's order; each generator is independent.
GENERATORS = [
    "gen_tokenizer",
    "gen_rng",
    "gen_philox",
    "gen_schedulers",
    "gen_schedulers_exact",
    "gen_models",
    "gen_pipelines",
    "gen_unet_sizes",
]

COMMAND = "python tools/reference/regenerate.py"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", nargs="*", default=None, help="generator names to run")
    args = ap.parse_args()

    common.deterministic_torch()
    manifest_path = common.FIXTURES / "manifest.json"
    old = {}
    if args.only and manifest_path.exists():
        old = json.loads(manifest_path.read_text(encoding="utf-8")).get("generators", {})

    generators = {}
    for name in GENERATORS:
        path = Path(__file__).resolve().parent / f"{name}.py"
        if args.only is not None and name not in args.only:
            if name in old:
                generators[name] = old[name]
            continue
        if not path.exists():
            print(f"regenerate: {name}.py not present yet, skipped", file=sys.stderr)
            continue
        mod = importlib.import_module(name)
        ctx = common.Context()
        print(f"regenerate: running {name}", file=sys.stderr)
        mod.generate(ctx)
        generators[name] = {"doc": (mod.__doc__ or "").strip(), "fixtures": ctx.entries}

    manifest = {
        "command": COMMAND,
        "versions": common.versions(),
        "generators": generators,
    }
    common.write_json(manifest_path, manifest)
    n = sum(len(g["fixtures"]) for g in generators.values())
    print(f"regenerate: wrote {manifest_path} ({n} fixtures)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
