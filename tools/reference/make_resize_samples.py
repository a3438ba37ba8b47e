#!/usr/bin/env python3
"""Writes tests/data/resize/pillow_resize.txt: what Pillow's Image.resize and transformers'
CLIPImageProcessor give for many sources, filters and sizes, as FNV-1a 64 hashes of the output
bytes, the expectations of tests/image/test_resize.c and tests/models/test_clip_image.c.

Usage: /work/venv/bin/python tools/reference/make_resize_samples.py   (Pillow 10.4.0,
       numpy 1.26.4, transformers 4.44.2; run from the repository root; output is stable)

Sources (named in the file as the tests name them):
  astronaut.png, astronaut_96x64.png  tests/data/images, read with PIL.Image.open(...).convert("RGB")
  pattern:WxHxC                       a synthetic W x H image of C (1 or 3) channels, pattern()
                                      below (sdc's tests compute the same bytes): a mix of
                                      smooth ramps, noise-like values and hard 0/255 checks that
                                      make the cubic and Lanczos lobes clip.
Lines:
  resize SOURCE FILTER W H HASH       Image.resize((W, H), resample=FILTER) (no box, no
                                      reducing_gap) -> the W*H*C bytes, row-major, interleaved
  clip SOURCE EDGE CROP_H CROP_W HASH CLIPImageProcessor(size={"shortest_edge": EDGE},
                                      crop_size={"height": CROP_H, "width": CROP_W}, otherwise
                                      defaults: bicubic, 1/255, OpenAI CLIP mean/std, RGB)
                                      -> pixel_values[0] float32 [3, CROP_H, CROP_W], C order,
                                      little-endian bytes
FNV-1a 64: h = 0xcbf29ce484222325; for each byte b: h = (h ^ b) * 0x100000001b3 mod 2**64.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import PIL
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGES = os.path.join(ROOT, "tests", "data", "images")
OUT = os.path.join(ROOT, "tests", "data", "resize", "pillow_resize.txt")

FILTERS = {
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def pattern(w: int, h: int, c: int) -> np.ndarray:
    """v = (37 x + 91 y + 53 c + 7 ((x y) mod 251)) mod 256, except on the cells where
    (x div 3 + y div 5) mod 4 == 0, which hold 255 * ((x + y + c) mod 2)."""
    y, x, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    v = (37 * x + 91 * y + 53 * ch + 7 * ((x * y) % 251)) % 256
    check = ((x // 3 + y // 5) % 4) == 0
    v = np.where(check, 255 * ((x + y + ch) % 2), v)
    return v.astype(np.uint8)


def source(name: str) -> Image.Image:
    if name.startswith("pattern:"):
        w, h, c = (int(t) for t in name[len("pattern:"):].split("x"))
        a = pattern(w, h, c)
        return Image.fromarray(a[:, :, 0] if c == 1 else a, mode="L" if c == 1 else "RGB")
    return Image.open(os.path.join(IMAGES, name)).convert("RGB")


# Targets per source: same size, each axis alone, halves and doubles, +-1, primes, 1-pixel
# sides, extreme ratios and the sizes sdc meets (CLIP's 224, SD's 512 and 768).
RESIZES = {
    "astronaut.png": [(224, 224), (256, 256), (512, 512), (768, 768), (511, 513), (640, 427),
                      (1000, 333), (512, 200), (97, 512), (64, 64), (1, 512), (512, 1), (3, 2),
                      (1024, 1024), (513, 511)],
    "astronaut_96x64.png": [(48, 32), (32, 32), (192, 128), (95, 65), (96, 63), (97, 64),
                            (7, 5), (1, 1), (300, 17), (13, 200), (64, 96), (45, 30)],
    "pattern:1x1x3": [(1, 1), (2, 2), (5, 3), (1, 7)],
    "pattern:2x3x3": [(1, 1), (3, 2), (4, 6), (2, 9), (7, 7)],
    "pattern:7x5x1": [(3, 2), (14, 10), (7, 4), (8, 5), (1, 5), (29, 31), (2, 2)],
    "pattern:17x33x3": [(17, 33), (8, 16), (34, 66), (33, 17), (5, 11), (1, 1), (100, 3),
                        (16, 32), (18, 34), (51, 99)],
    "pattern:64x48x3": [(32, 24), (21, 16), (128, 96), (63, 47), (65, 49), (7, 3), (64, 1),
                        (1, 48), (200, 150), (48, 64)],
    "pattern:100x37x1": [(50, 18), (33, 12), (301, 111), (99, 37), (100, 38), (10, 100),
                         (7, 3), (1, 1)],
    "pattern:255x3x3": [(1, 3), (2, 3), (128, 6), (255, 1), (17, 2), (510, 7)],
}

# CLIPImageProcessor runs: (source, shortest_edge, crop_h, crop_w)
CLIP_RUNS = [
    ("astronaut.png", 224, 224, 224),      # the real SD feature extractor
    ("astronaut.png", 32, 32, 32),         # sd1-tiny's
    ("astronaut_96x64.png", 32, 32, 32),   # landscape: resize to 48 x 32, crop the middle
    ("astronaut_96x64.png", 224, 224, 224),  # upscaled, 336 x 224 then cropped
    ("astronaut_96x64.png", 30, 40, 50),   # crop larger than the image: zero padding
    ("pattern:17x33x3", 20, 16, 16),       # portrait, 33 * 20 / 17 = 38.8 -> 38 rows
    ("pattern:7x5x1", 9, 9, 9),            # gray converted to RGB; 5 -> 9 upscales
    ("pattern:64x48x3", 48, 48, 48),       # shortest edge already 48: no resampling
]


def main() -> None:
    from transformers import CLIPImageProcessor

    lines = [
        "# Pillow-exact resampling and CLIP preprocessing expectations; made by",
        f"# tools/reference/make_resize_samples.py with Pillow {PIL.__version__}, numpy "
        f"{np.__version__}, transformers {__import__('transformers').__version__}.",
        "# resize SOURCE FILTER W H FNV1A64(bytes)",
        "# clip SOURCE SHORTEST_EDGE CROP_H CROP_W FNV1A64(float32 pixel_values[0])",
    ]
    n = 0
    for name, targets in RESIZES.items():
        im = source(name)
        for fname, f in FILTERS.items():
            for w, h in targets:
                out = np.asarray(im.resize((w, h), resample=f))
                assert out.shape[:2] == (h, w)
                lines.append(f"resize {name} {fname} {w} {h} {fnv1a64(out.tobytes())}")
                n += 1
    for name, edge, ch, cw in CLIP_RUNS:
        proc = CLIPImageProcessor(size={"shortest_edge": edge}, crop_size={"height": ch, "width": cw})
        pv = proc(source(name), return_tensors="np").pixel_values[0]
        assert pv.dtype == np.float32 and pv.shape == (3, ch, cw), pv.shape
        lines.append(f"clip {name} {edge} {ch} {cw} {fnv1a64(pv.astype('<f4').tobytes())}")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{OUT}: {n} resize cases, {len(CLIP_RUNS)} CLIP preprocessing cases", file=sys.stderr)


if __name__ == "__main__":
    main()
