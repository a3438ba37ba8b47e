"""Where the tiny models live and how they are packed.

The models are written as a tree under tests/fixtures/models/ (git-ignored) and committed as one
deterministic archive, tests/fixtures/models.tar.xz, whose members are named "models/...": unpack
it into a directory D and the manifest paths ("models/sd1-tiny/unet/...") are relative to D, just
as they are relative to tests/fixtures here. Byte-identical files inside the tree (the tokenizer
files, and the text encoders / VAEs that models share as the real ones do) are hard links and become
tar hard-link members, so their data is stored once.

Archive determinism: GNU tar format, members in a fixed order, mtime 0, uid/gid 0, empty
user/group names, mode 0644; xz (LZMA2 preset 9 with a DICT_SIZE dictionary, CRC64) through
Python's lzma, single threaded. The single files repeat the folders' tensors; the dictionary covers
the whole tar so every repeat compresses away, and the member order (each single file right after
its folder, models sharing weights next to each other) would keep them within preset 9's own
64 MiB as well. Unpacking needs about DICT_SIZE of memory.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import shutil
import tarfile
from pathlib import Path

from common import FIXTURES, sha256

MODELS_DIR = FIXTURES / "models"
ARCHIVE = FIXTURES / "models.tar.xz"
ARCHIVE_NAME = ARCHIVE.name
DICT_SIZE = 192 << 20

# Archive member order: a folder name means every file below it (sorted by path).
ARCHIVE_ORDER = [
    "sd2-tiny",
    "sd2-tiny.safetensors",
    "sd2-tiny.ckpt",
    "sd1-tiny",
    "sd1-tiny.safetensors",
    "sd1-tiny.ckpt",
    "sd1-inpaint-tiny",
    "controlnet-sd1-tiny",
    "sdxl-tiny",
    "sdxl-tiny.safetensors",
    "sdxl-tiny.ckpt",
    "sdxl-refiner-tiny",
    "controlnet-sdxl-tiny",
]


def _members(models_dir: Path) -> list[Path]:
    files = sorted(p for p in models_dir.rglob("*") if p.is_file())
    ordered: list[Path] = []
    for entry in ARCHIVE_ORDER:
        top = models_dir / entry
        if top.is_dir():
            ordered.extend(p for p in files if top in p.parents)
        elif top.is_file():
            ordered.append(top)
        else:
            raise FileNotFoundError(top)
    missing = set(files) - set(ordered)
    if missing:
        raise RuntimeError(f"files not in ARCHIVE_ORDER: {sorted(map(str, missing))}")
    return ordered


def link_duplicates(models_dir: Path = MODELS_DIR) -> int:
    """Replace every later byte-identical copy (in archive order) by a hard link to the first one."""
    first: dict[str, Path] = {}
    n = 0
    for path in _members(models_dir):
        digest = sha256(path)
        if digest in first:
            if not os.path.samefile(first[digest], path):
                link_or_copy(first[digest], path)
                n += 1
        else:
            first[digest] = path
    return n


def write_archive(models_dir: Path = MODELS_DIR, archive: Path = ARCHIVE) -> dict:
    """Pack the tree; returns {"members": n, "tar_bytes": n, "hardlinks": n}."""
    buf = io.BytesIO()
    seen: dict[tuple[int, int], str] = {}
    n_links = 0
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in _members(models_dir):
            name = "models/" + path.relative_to(models_dir).as_posix()
            st = path.stat()
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in seen:
                info.type = tarfile.LNKTYPE
                info.linkname = seen[key]
                info.size = 0
                tar.addfile(info)
                n_links += 1
                continue
            seen[key] = name
            info.size = st.st_size
            with open(path, "rb") as f:
                tar.addfile(info, f)
    data = buf.getvalue()
    if len(data) > DICT_SIZE:
        raise RuntimeError(f"tar of {len(data)} bytes exceeds the xz dictionary ({DICT_SIZE}): check ARCHIVE_ORDER")
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": DICT_SIZE}]
    packed = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, filters=filters)
    archive.write_bytes(packed)
    return {"members": len(seen) + n_links, "tar_bytes": len(data), "hardlinks": n_links,
            "tar_sha256": hashlib.sha256(data).hexdigest(), "xz_dict_size": DICT_SIZE}


def unpack(archive: Path = ARCHIVE, dest: Path = FIXTURES) -> None:
    """Recreate dest/models from the archive (used when only the archive is present)."""
    target = dest / "models"
    if target.exists():
        shutil.rmtree(target)
    with tarfile.open(archive, "r:xz") as tar:
        tar.extractall(dest, filter="data")


def ensure_tree() -> Path:
    """The unpacked model tree, unpacking the committed archive if the tree is missing."""
    if not (MODELS_DIR / "sd1-tiny" / "model_index.json").exists():
        if not ARCHIVE.exists():
            raise FileNotFoundError(f"neither {MODELS_DIR} nor {ARCHIVE}: run gen_models first")
        unpack()
    return MODELS_DIR


def link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
