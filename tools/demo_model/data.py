"""The synthetic world the demo model learns: one coloured shape on a plain background.

Each sample is a 64 x 64 RGB image (uint8) with one anti-aliased circle, square or triangle in
one of 8 colours, small or large, on the left / right / top / bottom / in the centre, on a
background of another, contrasting palette colour, and a caption from a small grammar, e.g.
"a small red circle on the left, white background". Captions leave out size, position or
background at random (the image then shows a random value), so the model also learns short
prompts like "a blue square on a yellow background".

Deterministic: `batch(seed, stream, index, n)` is a pure function of its arguments (numpy PCG64
keyed by [seed, stream, index]), so a training run that resumes at step k sees exactly the data
of an uninterrupted run.
Anti-aliasing: every pixel's coverage is 0.5 - (signed distance of its centre to the shape's
edge, in pixels), clamped to [0, 1] - the area a straight edge covers of a unit pixel.
"""

from __future__ import annotations

import dataclasses

import numpy as np

SIZE = 64  # image side in pixels

# name -> sRGB; the analyser of tests/demo/test_semantic.c uses the same table.
PALETTE = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 220),
    "yellow": (245, 215, 30),
    "purple": (140, 50, 190),
    "orange": (245, 130, 20),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
COLOURS = list(PALETTE)
SHAPES = ["circle", "square", "triangle"]
POSITIONS = ["left", "right", "top", "bottom", "centre"]
SIZES = ["small", "large"]

# Foreground/background pairs closer than this (Euclidean sRGB distance) are never drawn:
# red/orange, yellow/orange, blue/purple.
MIN_CONTRAST = 120.0

POSITION_PHRASES = {
    "left": ["on the left"],
    "right": ["on the right"],
    "top": ["at the top"],
    "bottom": ["at the bottom"],
    "centre": ["in the centre", "in the center", "in the middle"],
}
SIZE_WORDS = {"small": ["small"], "large": ["large", "big"]}

OFFSET = 16.0  # distance in pixels of a left/right/top/bottom shape's box centre from the middle
JITTER = 2.0  # uniform +- jitter of the box centre, pixels
RADIUS = {"small": (7.0, 9.0), "large": (11.5, 13.5)}  # half-extent range, pixels

# Probabilities that a caption mentions each attribute.
P_SIZE, P_POSITION, P_BACKGROUND = 0.7, 0.8, 0.8


def _distance(a: str, b: str) -> float:
    return float(np.linalg.norm(np.subtract(PALETTE[a], PALETTE[b], dtype=np.float64)))


def contrasting(fg: str) -> list[str]:
    """Background colours allowed behind a `fg` shape."""
    return [c for c in COLOURS if c != fg and _distance(c, fg) >= MIN_CONTRAST]


@dataclasses.dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    background: str
    position: str
    size: str
    cx: float  # box centre, pixels from the left edge
    cy: float  # box centre, pixels from the top edge
    radius: float  # half-extent: circle radius; square and triangle sized to match, see render

    def caption(self, rng: np.random.Generator) -> str:
        words = []
        if rng.random() < P_SIZE:
            options = SIZE_WORDS[self.size]
            words.append(options[rng.integers(len(options))])
        words += [self.colour, self.shape]
        if rng.random() < P_POSITION:
            options = POSITION_PHRASES[self.position]
            words.append(options[rng.integers(len(options))])
        text = ("an " if words[0][0] in "aeiou" else "a ") + " ".join(words)
        if rng.random() < P_BACKGROUND:
            if rng.random() < 0.5:
                text += f", {self.background} background"
            else:
                article = "an" if self.background[0] in "aeiou" else "a"
                text += f" on {article} {self.background} background"
        return text


def sample_scene(rng: np.random.Generator, shape=None, colour=None, background=None,
                 position=None, size=None) -> Scene:
    """A random scene; any attribute given is fixed instead of drawn."""
    shape = shape or SHAPES[rng.integers(len(SHAPES))]
    colour = colour or COLOURS[rng.integers(len(COLOURS))]
    backs = contrasting(colour)
    background = background or backs[rng.integers(len(backs))]
    position = position or POSITIONS[rng.integers(len(POSITIONS))]
    size = size or SIZES[rng.integers(len(SIZES))]
    dx, dy = {"left": (-1, 0), "right": (1, 0), "top": (0, -1), "bottom": (0, 1),
              "centre": (0, 0)}[position]
    c = SIZE / 2
    cx = c + dx * OFFSET + rng.uniform(-JITTER, JITTER)
    cy = c + dy * OFFSET + rng.uniform(-JITTER, JITTER)
    radius = rng.uniform(*RADIUS[size])
    return Scene(shape, colour, background, position, size, float(cx), float(cy), float(radius))


def signed_distance(scene: Scene) -> np.ndarray:
    """[SIZE, SIZE] signed distance (pixels, negative inside) of each pixel centre to the edge."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) + 0.5
    px, py = x - scene.cx, y - scene.cy
    r = scene.radius
    if scene.shape == "circle":
        return np.hypot(px, py) - r
    if scene.shape == "square":
        h = r * 0.9  # a little smaller than the circle's box, similar area
        qx, qy = np.abs(px) - h, np.abs(py) - h
        outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
        return outside + np.minimum(np.maximum(qx, qy), 0)
    # Equilateral triangle pointing up, its bounding box centred on (cx, cy), as wide as the
    # circle: side 2r, height r*sqrt(3). The max of the three edge-line distances.
    s3 = np.sqrt(3.0)
    half_h = r * s3 / 2
    base = py - half_h
    tx, ty = px, py + half_h  # relative to the apex
    left = -s3 / 2 * tx - 0.5 * ty
    right = s3 / 2 * tx - 0.5 * ty
    return np.maximum(base, np.maximum(left, right))


def render(scene: Scene) -> np.ndarray:
    """[SIZE, SIZE, 3] uint8 image of the scene."""
    alpha = np.clip(0.5 - signed_distance(scene), 0.0, 1.0)[..., None]
    fg = np.asarray(PALETTE[scene.colour], dtype=np.float64)
    bg = np.asarray(PALETTE[scene.background], dtype=np.float64)
    return np.rint(bg * (1 - alpha) + fg * alpha).astype(np.uint8)


def batch(seed: int, stream: int, index: int, n: int) -> tuple[np.ndarray, list[str], list[Scene]]:
    """Batch `index` of stream `stream`: images [n, SIZE, SIZE, 3] uint8, captions, scenes."""
    rng = np.random.Generator(np.random.PCG64([seed, stream, index]))
    scenes = [sample_scene(rng) for _ in range(n)]
    captions = [s.caption(rng) for s in scenes]
    images = np.stack([render(s) for s in scenes])
    return images, captions, scenes


if __name__ == "__main__":
    # `python data.py OUT.png`: a 8 x 8 grid of samples of stream 0, captions on stdout.
    import sys

    from PIL import Image

    imgs, caps, _ = batch(0, 0, 0, 64)
    grid = imgs.reshape(8, 8, SIZE, SIZE, 3).transpose(0, 2, 1, 3, 4).reshape(8 * SIZE, 8 * SIZE, 3)
    Image.fromarray(grid).save(sys.argv[1] if len(sys.argv) > 1 else "samples.png")
    print("\n".join(caps))
