"""An independent, pure-Python model of torch.randn / torch.rand on a CUDA device.

Written from the published descriptions, not from sdc's C code:

* Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3",
  SC 2011): a 128-bit counter and a 64-bit key, ten rounds of two 32x32->64 multiplications
  (0xD2511F53, 0xCD9E8D57) with the key bumped by the Weyl constants (0x9E3779B9, 0xBB67AE85)
  between rounds. Checked against Random123's known-answer vectors (KNOWN_ANSWERS below).
* curand's Philox state (curand_init(seed, subsequence, offset)): key = the seed's two 32-bit
  halves, counter words 2 and 3 = the subsequence, counter words 0 and 1 advanced by offset / 4
  (torch's offsets are multiples of 4, so the position inside a block of four stays 0); every
  curand4() returns one Philox block and then increments the 128-bit counter.
* curand's float transforms: uniform u = x * 2**-32 + 2**-33 (curand's literal 2.3283064e-10f,
  which is not exactly 2**-32), computed as one fused multiply-add as nvcc emits it; Box-Muller
  over a pair (x, y): radius sqrt(-2 log u(x)), angle v = y * (2.3283064e-10f * 6.2831855f) plus
  half of that, giving (sin v * radius, cos v * radius). log, sin and cos are taken in double
  precision and rounded to float (a real GPU's logf and __sincosf may differ by a few ulp).
* torch's launch (aten/src/ATen/native/cuda/DistributionTemplates.h, torch 2.0-2.5): blocks of
  256 threads, grid = min(ceil(n / 256), SMs * (max threads per SM // 256)); thread t runs
  curand_init(seed, t, offset) and, in a grid-stride loop unrolled 4 ways, writes component k
  of its i-th float4 to element t + (4 i + k) * 256 * grid; afterwards the generator's offset
  grows by ((n - 1) // (256 * grid * 4) + 1) * 4, rounded up to a multiple of 4.
  torch.rand maps curand_uniform's (0, 1] to [0, 1) by turning 1.0 into 0.0.

All float32 rounding is done exactly here (fractions), so the values do not depend on numpy's
or the machine's floating-point shortcuts.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np

MASK32 = 0xFFFFFFFF
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85

BLOCK_THREADS = 256
UNROLL = 4

# Random123 kat_vectors for philox4x32 with 10 rounds: (counter, key, output).
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def philox4x32_10(counter: tuple[int, int, int, int], key: tuple[int, int]) -> tuple[int, int, int, int]:
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(10):
        if r:
            k0 = (k0 + PHILOX_W0) & MASK32
            k1 = (k1 + PHILOX_W1) & MASK32
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32)
    return c0, c1, c2, c3


# ---- exact float32 arithmetic ------------------------------------------------------------

def f32(x: float | Fraction) -> float:
    """Round a real number to the nearest float32 (ties to even), returned as a Python float."""
    q = Fraction(x)
    if q == 0:
        return 0.0
    sign = -1 if q < 0 else 1
    q = abs(q)
    e = q.numerator.bit_length() - q.denominator.bit_length()
    if Fraction(2) ** e > q:
        e -= 1
    e = max(e, -126)  # subnormals share the smallest normal exponent's quantum
    quantum = Fraction(2) ** (e - 23)
    m, rem = divmod(q, quantum)
    m = int(m)
    if rem * 2 > quantum or (rem * 2 == quantum and m % 2 == 1):
        m += 1
    value = m * quantum
    if value >= Fraction(2) ** 128:
        return sign * math.inf
    return sign * float(value)


def f32_literal(text: str) -> float:
    """A C float literal such as 2.3283064e-10f: the decimal value rounded once to float32."""
    return f32(Fraction(text))


def fma32(a: float, b: float, c: float) -> float:
    return f32(Fraction(a) * Fraction(b) + Fraction(c))


def mul32(a: float, b: float) -> float:
    return f32(Fraction(a) * Fraction(b))


TWO_POW32_INV = f32_literal("2.3283064e-10")
TWO_POW32_INV_2PI = mul32(TWO_POW32_INV, f32_literal("6.2831855"))
TWO_POW32_INV_HALF = f32(Fraction(TWO_POW32_INV) / 2)
TWO_POW32_INV_2PI_HALF = f32(Fraction(TWO_POW32_INV_2PI) / 2)


def curand_uniform(x: int) -> float:
    return fma32(f32(x), TWO_POW32_INV, TWO_POW32_INV_HALF)


def box_muller(x: int, y: int) -> tuple[float, float]:
    u = curand_uniform(x)
    v = fma32(f32(y), TWO_POW32_INV_2PI, TWO_POW32_INV_2PI_HALF)
    log_u = f32(math.log(u))
    radius = f32(math.sqrt(mul32(-2.0, log_u)))  # double sqrt of a float rounds correctly
    return mul32(f32(math.sin(v)), radius), mul32(f32(math.cos(v)), radius)


# ---- curand state and torch's launch ------------------------------------------------------

def curand4(seed: int, subsequence: int, offset: int, call: int) -> tuple[int, int, int, int]:
    """The block the `call`-th curand4() returns after curand_init(seed, subsequence, offset)."""
    assert offset % 4 == 0, "torch only uses offsets that are multiples of 4"
    counter = ((subsequence << 64) + offset // 4 + call) & ((1 << 128) - 1)
    words = tuple((counter >> (32 * i)) & MASK32 for i in range(4))
    return philox4x32_10(words, (seed & MASK32, (seed >> 32) & MASK32))


class CudaGenerator:
    """torch.Generator("cuda").manual_seed(seed) on a device with the given limits (None: an
    unlimited grid, which equals every device for tensors below its limit)."""

    def __init__(self, seed: int, sm_count: int | None = None, max_threads_per_sm: int | None = None):
        self.seed = seed % (1 << 64)
        self.offset = 0
        self.max_blocks = None if sm_count is None else sm_count * (max_threads_per_sm // BLOCK_THREADS)

    def _launch(self, n: int) -> tuple[int, int]:
        blocks = (n + BLOCK_THREADS - 1) // BLOCK_THREADS
        if self.max_blocks is not None:
            blocks = min(blocks, self.max_blocks)
        stride = blocks * BLOCK_THREADS
        increment = ((n - 1) // (stride * UNROLL) + 1) * UNROLL
        increment = (increment + 3) // 4 * 4
        return stride, increment

    def _draw(self, n: int, transform) -> np.ndarray:
        out = np.zeros(n, dtype=np.float32)
        if n == 0:
            return out
        stride, increment = self._launch(n)
        for t in range(min(stride, n)):
            call = 0
            while t + call * stride * UNROLL < n:
                values = transform(curand4(self.seed, t, self.offset, call))
                for k in range(UNROLL):
                    i = t + (call * UNROLL + k) * stride
                    if i < n:
                        out[i] = values[k]
                call += 1
        self.offset += increment
        return out

    def randn(self, n: int) -> np.ndarray:
        def normal4(w):
            a, b = box_muller(w[0], w[1])
            c, d = box_muller(w[2], w[3])
            return a, b, c, d
        return self._draw(n, normal4)

    def rand(self, n: int) -> np.ndarray:
        def uniform4(w):
            return tuple(0.0 if u == 1.0 else u for u in (curand_uniform(x) for x in w))
        return self._draw(n, uniform4)


def self_check() -> None:
    for counter, key, expected in KNOWN_ANSWERS:
        got = philox4x32_10(counter, key)
        if got != expected:
            raise AssertionError(f"Philox4x32-10 known answer failed: {counter} {key} -> {got}")
    # The float helpers agree with IEEE single precision where numpy can say so exactly.
    for v in [1.0, 0.1, 2.0 ** -149, 3.4e38, 1e-40]:
        if f32(v) != float(np.float32(v)):
            raise AssertionError(f"f32({v})")
    if struct.unpack("<f", struct.pack("<f", TWO_POW32_INV))[0] != TWO_POW32_INV:
        raise AssertionError("2**-32 constant is not a float32")
