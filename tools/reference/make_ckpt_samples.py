#!/usr/bin/env python3
"""Writes the small PyTorch checkpoints and the hostile pickle corpus that tests/io/test_ckpt.c
and tests/io/test_pickle.c read, and copies them as fuzz seeds.

Usage: /work/venv/bin/python tools/reference/make_ckpt_samples.py   (torch 2.4.1, numpy 1.26.4,
       run from the repository root; output is byte-stable across reruns)

tests/data/ckpt/ (valid files, each with the tensors sdc must read in <name>.safetensors, written
by the plain writer below from what torch.load(weights_only=False) returns):
  sample_zip.ckpt       torch.save zip, protocol 2: the state dict under "state_dict" with every
                        dtype torch.save writes, storage views with offsets, shared storages, a
                        0-dim and an empty tensor, a Parameter, float8 (_rebuild_tensor_v3), and
                        next to it Lightning-style extras (numpy global_step, set, bytes, a
                        ModelCheckpoint class as a dict key, torch.Size, dtype, big int)
  sample_legacy.ckpt    the same object without float8 (torch 2.4 cannot read that back from a
                        legacy file), _use_new_zipfile_serialization=False; -> sample_legacy.safetensors
  sample_legacy_proto4.ckpt  the same with pickle_protocol=4    -> sample_legacy.safetensors
  sample_proto4.ckpt    the same object, pickle_protocol=4 (FRAME, MEMOIZE, STACK_GLOBAL, BINBYTES)
  sample_zip64.ckpt     sample_zip's records repacked with ZIP64 sizes and offsets everywhere
  sample_pyzip.ckpt     sample_zip's records repacked by Python's zipfile (no alignment, no
                        data descriptors, no ZIP64)
    -> the other four hold sample.safetensors's tensors
  module.ckpt           torch.save(module.state_dict()): no "state_dict" key, _metadata BUILD
  aesthetic.safetensors the tensors of aesthetic.pth (a copy of LAION-AI/aesthetic-predictor
                        sa_0_4_vit_b_32_linear.pth, written by torch 1.x; not made here)
tests/data/pickle/ (hostile or unsupported inputs: *.pkl raw pickles, *.ckpt whole files);
tests/io/test_pickle.c and test_ckpt.c hold the status and message each must give.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import pickletools
import shutil
import struct
import sys
import types
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT / "tests/data/ckpt"
HOSTILE = ROOT / "tests/data/pickle"
CORPUS_PICKLE = ROOT / "tests/fuzz/corpus/pickle"
CORPUS_CKPT = ROOT / "tests/fuzz/corpus/ckpt"

# ------------------------------------------------------------------------------------------
# Writers


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Plain safetensors writer (any dtype, incl. float8), tensors in name order."""
    names = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2", torch.int64: "I64",
             torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].detach().contiguous()
        b = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def build_zip(entries, zip64=False, align=64, eocd_tweak=None):
    """A ZIP archive of stored entries, laid out like torch's writer (data 64-byte aligned via an
    "FB" extra field). entries: (name, data, opts); opts may set method (8 = deflate), flags,
    local_name, cd_offset, cd_size (central directory overrides; cd_size sets both sizes)."""
    out, cd = bytearray(), bytearray()
    for name, data, o in entries:
        meth = o.get("method", 0)
        payload = zlib.compress(data)[2:-4] if meth == 8 else data
        crc = zlib.crc32(data)
        lname = o.get("local_name", name).encode()
        extra = b""
        if align:
            pad = -(len(out) + 30 + len(lname) + 4) % align
            extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        local_off = len(out)
        flags = o.get("flags", 0)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, flags, meth, 0, 0, crc,
                           len(payload), len(data), len(lname), len(extra)) + lname + extra + payload
        c_off, c_size = o.get("cd_offset", local_off), o.get("cd_size", len(payload))
        u_size = o.get("cd_size", len(data))
        cextra = b""
        if zip64:
            cextra = struct.pack("<HHQQQ", 1, 24, u_size, c_size, c_off)
            c_off = c_size = u_size = 0xFFFFFFFF
        nm = name.encode()
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45 if zip64 else 20, flags, meth, 0, 0,
                          crc, c_size, u_size, len(nm), len(cextra), 0, 0, 0, 0, c_off) + nm + cextra
    cd_off, n = len(out), len(entries)
    out += cd
    if zip64:
        e64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(cd), cd_off)
        out += struct.pack("<IIQI", 0x07064B50, 0, e64, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cd), cd_off, 0)
    if eocd_tweak:
        out = eocd_tweak(out)
    return bytes(out)


def torch_bytes(obj, **kw) -> bytes:
    b = io.BytesIO()
    torch.save(obj, b, **kw)
    return b.getvalue()


def zip_records(data: bytes):
    z = zipfile.ZipFile(io.BytesIO(data))
    return [(i.filename, z.read(i.filename), {}) for i in z.infolist()]


# ------------------------------------------------------------------------------------------
# Valid samples


def fake_lightning_class():
    """A stand-in for pytorch_lightning's ModelCheckpoint so that pickle writes its name."""
    for name in ["pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint"]:
        sys.modules.setdefault(name, types.ModuleType(name))
    mod = sys.modules["pytorch_lightning.callbacks.model_checkpoint"]
    cls = type("ModelCheckpoint", (), {"__module__": mod.__name__})
    mod.ModelCheckpoint = cls
    return cls


def sample_object():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 4, generator=g)
    sd = collections.OrderedDict()
    sd["model.f32"] = torch.randn(3, 5, generator=g)
    sd["model.f64"] = torch.randn(2, 3, generator=g).double()
    sd["model.f16"] = torch.randn(4, 2, 3, generator=g).half()
    sd["model.bf16"] = torch.randn(7, generator=g).bfloat16()
    sd["model.i64"] = torch.arange(-3, 5, dtype=torch.int64).reshape(2, 4)
    sd["model.i32"] = torch.arange(6, dtype=torch.int32) * -1000
    sd["model.i16"] = torch.arange(5, dtype=torch.int16) - 2
    sd["model.i8"] = torch.arange(-4, 4, dtype=torch.int8)
    sd["model.u8"] = torch.arange(250, 256, dtype=torch.int32).to(torch.uint8)
    sd["model.bool"] = torch.tensor([True, False, True])
    sd["model.scalar"] = torch.tensor(2.5)
    sd["model.empty"] = torch.zeros(0, 3)
    sd["model.view.rows"] = base[2:5]            # storage offset 8, shared storage
    sd["model.view.whole"] = base                # the same storage, offset 0
    sd["model.view.flat"] = base.view(-1)[20:]   # offset 20
    sd["model.view.column1"] = base[:, :1][3:4]  # shape [1, 1]: size-1 dims, any stride
    sd["model.param"] = torch.nn.Parameter(torch.randn(2, 2, generator=g))
    sd["model.f8_e4m3"] = torch.tensor([0.5, -2.0, 448.0]).to(torch.float8_e4m3fn)
    sd["model.f8_e5m2"] = torch.tensor([1.0, -0.25]).to(torch.float8_e5m2)
    ckpt_cls = fake_lightning_class()
    obj = {
        "epoch": 3,
        "global_step": np.int64(12345),
        "pytorch-lightning_version": "1.4.2",
        "lr": 1.5e-4,
        "resumed": True,
        "state_dict": sd,
        "callbacks": {ckpt_cls: {"best_model_path": "", "dirpath": "logs/ckpt"}},
        "extras": {"ids": {1, 2, 3}, "blob": b"\x00\xffabc", "big": 2**70, "neg": -(2**40),
                   "size": torch.Size([3, 4]), "dtype": torch.float16, "nothing": None,
                   "seq": [1, (2.0, "three")], "nested": {"a": torch.ones(2)}},
    }
    return obj, sd


def write_valid():
    CKPT.mkdir(parents=True, exist_ok=True)
    obj, sd = sample_object()
    write_safetensors(CKPT / "sample.safetensors", dict(sd))
    zip_data = torch_bytes(obj)
    (CKPT / "sample_zip.ckpt").write_bytes(zip_data)
    # torch 2.4 writes float8 into legacy files but cannot read it back: left out there
    legacy_sd = collections.OrderedDict((k, v) for k, v in sd.items() if "f8" not in k)
    write_safetensors(CKPT / "sample_legacy.safetensors", dict(legacy_sd))
    (CKPT / "sample_legacy.ckpt").write_bytes(torch_bytes({**obj, "state_dict": legacy_sd},
                                                          _use_new_zipfile_serialization=False))
    (CKPT / "sample_legacy_proto4.ckpt").write_bytes(torch_bytes({**obj, "state_dict": legacy_sd},
                                                                 _use_new_zipfile_serialization=False,
                                                                 pickle_protocol=4))
    (CKPT / "sample_proto4.ckpt").write_bytes(torch_bytes(obj, pickle_protocol=4))
    (CKPT / "sample_zip64.ckpt").write_bytes(build_zip(zip_records(zip_data), zip64=True))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data, _ in zip_records(zip_data):
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)
    (CKPT / "sample_pyzip.ckpt").write_bytes(buf.getvalue())

    m = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.GroupNorm(1, 3), torch.nn.Linear(3, 2))
    torch.manual_seed(1)
    for p in m.parameters():
        torch.nn.init.normal_(p)
    (CKPT / "module.ckpt").write_bytes(torch_bytes(m.state_dict()))
    write_safetensors(CKPT / "module.safetensors", dict(m.state_dict()))

    aesthetic = CKPT / "aesthetic.pth"
    if aesthetic.exists():
        write_safetensors(CKPT / "aesthetic.safetensors", torch.load(aesthetic, weights_only=True))

    # torch.load must read back the same tensors from every variant
    raw = lambda t: (t.dtype, tuple(t.shape), t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())  # noqa: E731
    for name in ["sample_zip", "sample_legacy", "sample_legacy_proto4", "sample_proto4", "sample_zip64",
                 "sample_pyzip"]:
        back = torch.load(CKPT / f"{name}.ckpt", weights_only=False)["state_dict"]
        want = legacy_sd if "legacy" in name else sd
        assert list(back) == list(want) and all(raw(back[k]) == raw(want[k]) for k in want), name
    return zip_data


# ------------------------------------------------------------------------------------------
# Hostile pickles, built opcode by opcode

P2 = b"\x80\x02"


def glob(mod: str, name: str) -> bytes:
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def uni(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def intop(i: int) -> bytes:
    if 0 <= i < 256:
        return b"K" + bytes([i])
    if 0 <= i < 65536:
        return b"M" + struct.pack("<H", i)
    return b"J" + struct.pack("<i", i)


def tup(items) -> bytes:
    return b"(" + b"".join(intop(i) for i in items) + b"t"


def persid(key: str, storage="FloatStorage", numel=4, head="storage") -> bytes:
    return b"(" + uni(head) + glob("torch", storage) + uni(key) + uni("cpu") + intop(numel) + b"tQ"


def tensor(key="0", storage="FloatStorage", numel=4, offset=0, size=(4,), stride=(1,), pid=None) -> bytes:
    return (glob("torch._utils", "_rebuild_tensor_v2") + b"(" + (pid or persid(key, storage, numel)) +
            intop(offset) + tup(size) + tup(stride) + b"\x89" + glob("collections", "OrderedDict") + b")Rt" + b"R")


def state(*items: tuple[str, bytes]) -> bytes:
    """{"state_dict": {name: value, ...}} as protocol 2."""
    inner = b"}(" + b"".join(uni(k) + v for k, v in items) + b"u"
    return P2 + b"}(" + uni("state_dict") + inner + b"u."


class Reduce:
    """An object whose __reduce__ names `fn`: pickling it writes a GLOBAL and REDUCE, as an
    attacker's file would. Only dumped here, never loaded."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def hostile_pickles() -> dict[str, bytes]:
    import subprocess

    f32 = lambda n: struct.pack(f"<{n}f", *range(n))  # noqa: E731
    return {
        "reduce_os_system": pickle.dumps(Reduce(os.system, ("echo pwned",)), protocol=2),
        "proto0_os_system": b"cos\nsystem\n(S'echo pwned'\ntR.",
        "builtins_eval": P2 + glob("__builtin__", "eval") + uni("print(1)") + b"\x85R.",
        "builtins_exec": P2 + glob("builtins", "exec") + uni("import os") + b"\x85R.",
        "posix_system_stack_global": b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x94\x93\x8c\x02id\x85R.",
        "subprocess_popen": pickle.dumps(Reduce(subprocess.Popen, (["id"],)), protocol=2),
        "torch_load_from_bytes": P2 + glob("torch.storage", "_load_from_bytes") + b"C\x00\x85R.",
        "complex_storage": state(("w", tensor(storage="ComplexFloatStorage"))),
        "nested_reduce": P2 + glob("collections", "OrderedDict") + b")R)R.",
        "reduce_storage_type": P2 + glob("torch", "FloatStorage") + b")R.",
        "reduce_lightning_class": P2 + glob("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint") + b")R.",
        "build_on_list": P2 + b"]}b.",
        "build_on_tensor": state(("w", tensor() + b"}b")),
        "inst": b"(ios\nsystem\nS'id'\n.",
        "obj": b"(" + glob("collections", "OrderedDict") + b"o.",
        "newobj": P2 + glob("collections", "OrderedDict") + b")\x81.",
        "ext1": P2 + b"\x82\x01.",
        "unknown_opcode": P2 + b"\xff.",
        "protocol_99": b"\x80\x63N.",
        "huge_string": P2 + b"X\xff\xff\xff\xffabc.",
        "huge_string8": b"\x80\x04\x8d" + struct.pack("<Q", 2**63) + b"abc.",
        "huge_long": P2 + b"\x8b\xff\xff\xff\x7f" + b"\x01" * 16 + b".",
        "invalid_utf8": P2 + b"X\x02\x00\x00\x00\xc3\x28.",
        "deep_mark": P2 + b"(" * 20000 + b"N.",
        "deep_tuple": P2 + b"N" + b"\x85" * 20000 + b".",
        "memo_get_missing": P2 + b"h\x05.",
        "memo_long_get_missing": P2 + b"N" + b"q\x00" + b"j\xff\xff\xff\xff.",
        "memo_put_huge": P2 + b"Nr\xff\xff\xff\xff.",
        "persid_bad_key": state(("w", tensor(pid=persid("../../etc/passwd")))),
        "persid_module": state(("w", tensor(pid=persid("0", head="module")))),
        "persid_not_tuple": P2 + uni("storage") + b"Q.",
        "stack_underflow": P2 + b"R.",
        "setitem_on_list": P2 + b"]NNs.",
        "dict_key_list": P2 + b"}]Ns.",
        "appends_without_mark": P2 + b"]Ne.",
        "no_stop": P2 + b"}(" + uni("a") + b"N",
        "stop_two_values": P2 + b"NN.",
        "global_no_newline": P2 + b"c" + b"x" * 300 + b".",
        "rebuild_one_arg": P2 + glob("torch._utils", "_rebuild_tensor_v2") + uni("x") + b"\x85R.",
        "rebuild_string_storage": P2 + glob("torch._utils", "_rebuild_tensor_v2") + b"(" + uni("storage") +
                                  b"K\x00" + tup((4,)) + tup((1,)) + b"\x89}t" + b"R.",
        "rebuild_nine_dims": state(("w", tensor(size=(1,) * 9, stride=(1,) * 9))),
        "rebuild_negative_size": state(("w", tensor(size=(-1,), stride=(1,)))),
        "codecs_utf8": P2 + glob("_codecs", "encode") + uni("x") + uni("utf-8") + b"\x86R.",
        "frame_past_end": b"\x80\x04\x95" + struct.pack("<Q", 2**62) + b"N.",
        "_valid_state": state(("a", tensor())),  # not hostile: a seed, and a control in the tests
    }, f32


def ckpt_zip(pkl: bytes, storages: dict[str, bytes], prefix="archive", extra=(), opts=None, **kw) -> bytes:
    opts = opts or {}
    entries = [(f"{prefix}/data.pkl", pkl, opts.get("data.pkl", {}))]
    entries += [(f"{prefix}/data/{k}", v, opts.get(k, {})) for k, v in storages.items()]
    entries += list(extra)
    return build_zip(entries, **kw)


def hostile_files(pkls: dict[str, bytes], f32, zip_data: bytes, legacy: bytes) -> dict[str, bytes]:
    good = state(("a", tensor()))
    files = {
        "storage_offset_past_end": ckpt_zip(state(("w", tensor(offset=10, size=(2,)))), {"0": f32(4)}),
        "shape_past_storage": ckpt_zip(state(("w", tensor(size=(3, 3), stride=(3, 1)))), {"0": f32(4)}),
        "storage_declares_more": ckpt_zip(state(("w", tensor(numel=100, size=(4,)))), {"0": f32(4)}),
        "missing_storage": ckpt_zip(state(("w", tensor(key="7"))), {"0": f32(4)}),
        "int_key": ckpt_zip(P2 + b"}(K\x05" + tensor() + b"u.", {"0": f32(4)}),
        "trailing_after_stop": ckpt_zip(good + b"N", {"0": f32(4)}),
        "evil_in_zip": ckpt_zip(pkls["reduce_os_system"], {}),
        "root_tensor": ckpt_zip(P2 + tensor() + b".", {"0": f32(4)}),
        "deflated_data": ckpt_zip(good, {"0": f32(4)}, opts={"0": {"method": 8}}),
        "deflated_pickle": ckpt_zip(good, {"0": f32(4)}, opts={"data.pkl": {"method": 8}}),
        "encrypted": ckpt_zip(good, {"0": f32(4)}, opts={"data.pkl": {"flags": 1}}),
        "local_offset_outside": ckpt_zip(good, {"0": f32(4)}, opts={"0": {"cd_offset": 10**9}}),
        "data_past_cd": ckpt_zip(good, {"0": f32(4)}, opts={"0": {"cd_size": 100000}}),
        "name_mismatch": ckpt_zip(good, {"0": f32(4)}, opts={"0": {"local_name": "archive/data/9"}}),
        "no_data_pkl": build_zip([("archive/weights.bin", f32(4), {})]),
        "two_pickles": ckpt_zip(good, {"0": f32(4)}, extra=[("other/data.pkl", good, {})]),
        "duplicate_entries": ckpt_zip(good, {"0": f32(4)}, extra=[("archive/data/0", f32(4), {})]),
        "big_endian": ckpt_zip(good, {"0": f32(4)}, extra=[("archive/byteorder", b"big", {})]),
        "torchscript": ckpt_zip(good, {"0": f32(4)}, extra=[("archive/constants.pkl", P2 + b").", {})]),
        "zip64_bad_locator": build_zip(zip_records(zip_data)[:3], zip64=True,
                                       eocd_tweak=lambda b: b[:-34] + struct.pack("<Q", 7) + b[-26:]),
        "truncated_half": zip_data[: len(zip_data) // 2],
        "truncated_tail": zip_data[:-10],
        "truncated_data": zip_data[:4096] + zip_data[-22:],
        "legacy_truncated": legacy[: len(legacy) - 20],
        "legacy_bad_count": None,
        "not_a_zip_or_pickle": b"PK\x03\x04" + b"\x14" * 40,
    }
    # the first storage record's element count, made one larger
    f = io.BytesIO(legacy)
    for _ in range(5):
        for _op in pickletools.genops(f):
            pass
    off = f.tell()
    files["legacy_bad_count"] = legacy[:off] + struct.pack("<Q", struct.unpack_from("<Q", legacy, off)[0] + 1) + legacy[off + 8:]
    # not hostile: keys set twice keep their last value, as in Python (a control in the tests)
    inner = (b"}(" + uni("a") + tensor(offset=10, size=(2,)) + uni("a") + tensor() + uni("b") + tensor() +
             uni("b") + b"N" + b"u")
    files["_repeated_keys"] = ckpt_zip(P2 + b"}(" + uni("state_dict") + b"}(" + uni("x") + tensor() + b"u" +
                                       uni("epoch") + intop(1) + uni("state_dict") + inner +
                                       uni("epoch") + uni("two") + b"u.", {"0": f32(4)})
    t = torch.arange(12.0).reshape(3, 4)
    files["noncontiguous"] = torch_bytes({"state_dict": {"t": t.t()}})
    return files


def main() -> None:
    os.chdir(ROOT)
    zip_data = write_valid()
    legacy = (CKPT / "sample_legacy.ckpt").read_bytes()
    pkls, f32 = hostile_pickles()
    HOSTILE.mkdir(parents=True, exist_ok=True)
    for d in [CORPUS_PICKLE, CORPUS_CKPT]:
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    for name, data in pkls.items():
        (HOSTILE / f"{name}.pkl").write_bytes(data)
        (CORPUS_PICKLE / f"{name}.pkl").write_bytes(data)
    for name, data in hostile_files(pkls, f32, zip_data, legacy).items():
        (HOSTILE / f"{name}.ckpt").write_bytes(data)
        (CORPUS_CKPT / f"{name}.ckpt").write_bytes(data)
    # seeds from the valid samples: whole files, and their pickles alone
    for p in sorted(CKPT.glob("*.ckpt")) + sorted(CKPT.glob("*.pth")):
        data = p.read_bytes()
        if len(data) <= 64 * 1024:
            (CORPUS_CKPT / p.name).write_bytes(data)
        if data[:2] == b"PK":
            z = zipfile.ZipFile(io.BytesIO(data))
            (CORPUS_PICKLE / f"{p.stem}.data.pkl").write_bytes(
                z.read(next(n for n in z.namelist() if n.endswith("/data.pkl"))))
    print(f"wrote {len(list(CKPT.iterdir()))} files in {CKPT.relative_to(ROOT)}, "
          f"{len(list(HOSTILE.iterdir()))} in {HOSTILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
