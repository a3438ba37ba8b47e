#!/usr/bin/env python3
"""Checks that files written by sdc's writers load in the reference Python libraries.

Run after the io tests (they leave the files in <build>/test-tmp/):
    /work/venv/bin/python tests/io/check_python_compat.py build/test-tmp
Needs numpy, safetensors and torch (torch for the BF16/F8 tensors numpy cannot hold).
Exits non-zero with a message on the first mismatch. Not part of ctest: the C tests must run
on machines without Python.
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file as np_load_file
from safetensors.torch import load_file as torch_load_file

DTYPES = ["F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I64", "I32", "I16", "I8",
          "U64", "U32", "U16", "U8", "BOOL"]  # sdc_dtype order
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8,
         "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
NUMPY_OK = {"F64", "F32", "F16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"}


def pattern(i, n):
    """test_safetensors.c fill_pattern: byte k of tensor i."""
    return bytes(((i * 37 + k * 11 + 5) & 0xFF) for k in range(n))


def expected_entries():
    out = []
    for d, name in enumerate(DTYPES):
        out.append((f"layer.{d}.{name}", name, [3, d + 2]))
    out.append(("scalar", "F32", []))
    out.append(("empty", "F16", [0, 5]))
    out.append(("emp\"ty\n2", "I64", [0]))
    return out


def check(cond, msg):
    if not cond:
        sys.exit("FAIL: " + msg)


def check_safetensors(path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    check((8 + n) % 64 == 0, "data section starts on a 64-byte boundary")
    header = json.loads(raw[8:8 + n])
    meta = {"format": "pt", "b": "two\nlines \"quoted\"", "a": ""}
    with safe_open(str(path), framework="pt") as f:
        check(f.metadata() == meta, f"metadata {f.metadata()}")
    tensors = torch_load_file(str(path))
    pads = [k for k in tensors if k.startswith("sdc.pad.")]
    check(len(pads) > 5, "padding entries present")
    for k in pads:
        t = tensors[k]
        check(t.dtype == torch.uint8 and t.dim() == 1 and int(t.sum()) == 0, f"{k} zero U8")
    entries = expected_entries()
    check(len(tensors) == len(entries) + len(pads), "tensor count")
    for i, (name, dtype, shape) in enumerate(entries):
        t = tensors[name]
        check(list(t.shape) == shape, f"{name}: shape {list(t.shape)} vs {shape}")
        check(header[name]["dtype"] == dtype, f"{name}: dtype")
        check(header[name]["data_offsets"][0] % 64 == 0, f"{name}: aligned")
        numel = int(np.prod(shape)) if shape else 1
        data = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        check(data == pattern(i, numel * SIZES[dtype]), f"{name}: data bytes")
    # numpy reads every tensor of a numpy-representable dtype too
    with safe_open(str(path), framework="np") as f:
        for i, (name, dtype, shape) in enumerate(entries):
            if dtype in NUMPY_OK:
                a = f.get_tensor(name)
                check(list(a.shape) == shape, f"numpy {name}")
                check(a.tobytes() == pattern(i, a.nbytes), f"numpy {name}: bytes")
    return len(tensors)


def check_npy(dir_):
    a = np.load(dir_ / "sdc_written_f4.npy")
    check(a.dtype == np.float32 and a.shape == (2, 3, 4), "f4 npy shape/dtype")
    check(np.array_equal(a.ravel(), np.arange(24, dtype=np.float32) * 0.5 - 3.0), "f4 npy values")
    b = np.load(dir_ / "sdc_written_u2.npy")
    check(b.dtype == np.uint16 and b.shape == (7,), "u2 npy")
    check(b.tolist() == [0, 1, 2, 65535, 4, 5, 6], "u2 npy values")


def main():
    dir_ = Path(sys.argv[1] if len(sys.argv) > 1 else "build/test-tmp")
    n = check_safetensors(dir_ / "sdc_written.safetensors")
    # safetensors.numpy.load_file on the file without the dtypes numpy lacks (BF16, F8)
    arrays = np_load_file(str(dir_ / "sdc_written_numpy.safetensors"))
    entries = [(i, e) for i, e in enumerate(expected_entries()) if e[1] in NUMPY_OK]
    real = {k: v for k, v in arrays.items() if not k.startswith("sdc.pad.")}
    check(sorted(real) == sorted(e[0] for _, e in entries), "numpy file names")
    for i, (name, dtype, shape) in entries:
        check(list(real[name].shape) == shape, f"numpy file {name} shape")
        check(real[name].tobytes() == pattern(i, real[name].nbytes), f"numpy file {name} bytes")
    check_npy(dir_)
    print(f"ok: {n} + {len(arrays)} safetensors entries and 2 .npy files load in Python and match")


if __name__ == "__main__":
    main()
