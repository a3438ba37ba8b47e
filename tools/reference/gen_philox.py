"""Philox streams (torch.randn / torch.rand on a CUDA device) from philox_reference.py.

There is no GPU where the fixtures are made, so these values come from philox_reference.py, an
independent pure-Python model of torch's CUDA generator written from the published algorithms
(Philox4x32-10 by Salmon et al. 2011, checked against Random123's known-answer vectors; curand's
counter layout and Box-Muller; torch's launch configuration and offset increments, torch
2.0-2.5). They pin down sdc's philox source bit for bit; how closely both follow a real GPU is
a separate question: the counter and offset logic should match exactly, while the values may
differ by a few ulp where the GPU's logf / __sincosf round differently from the correctly
rounded functions used here.

philox.safetensors: float32 tensors, one per case. Each case in the manifest names its seed
(also as "seed_hex", since JSON readers may not keep integers above 2**63 exact), the call
("randn" or "rand"), the element count, its position in a sequence of calls on one generator
(sequence_index; the Philox offset advances per call), the emulated device limits (null: an
unlimited grid, which equals every device for tensors below its limit) and the generator's
offset before and after the call.
"""

from __future__ import annotations

import numpy as np

import common
import philox_reference as ref

OUT = common.FIXTURES / "rng"

SEEDS = [0, 1, 42, 123456789, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1, 0x0123456789ABCDEF]
SIZES = [1, 3, 4, 5, 15, 16, 17, 255, 256, 257, 1000]
LATENT = 4 * 64 * 64  # one SD 1.x latent, as AUTOMATIC1111 draws it per image
UNIFORM_CASES = [(0, 1), (0, 17), (42, 1000), (2**64 - 1, 33)]
# Successive calls on one generator: (seed, device limits or None, [(call, n), ...]).
SEQUENCES = [
    (0, None, [("randn", 3), ("randn", 1), ("randn", 20), ("rand", 5), ("randn", 1000)]),
    (1234, None, [("randn", LATENT), ("randn", LATENT)]),
    # A small "device" (2 SMs x 512 threads = 4 blocks = 1024 threads) so that tensors outgrow
    # the grid: the 4-way unroll and the grid-stride loop are used, and the offset grows by 8.
    (7, (2, 512), [("randn", 5000), ("randn", 3), ("rand", 4100), ("randn", 4096)]),
    # The same sizes without a limit, for contrast.
    (7, None, [("randn", 5000), ("randn", 3)]),
]


def _case(arrays, cases, name, seed, call, n, seq_index, device, gen, produced_by):
    offset_before = gen.offset
    values = gen.randn(n) if call == "randn" else gen.rand(n)
    arrays[name] = values
    cases.append({
        "tensor": name, "seed": seed, "seed_hex": f"0x{seed:016x}", "call": call, "n": n,
        "sequence_index": seq_index, "device": None if device is None else
        {"multiprocessor_count": device[0], "max_threads_per_multiprocessor": device[1]},
        "offset_before": offset_before, "offset_after": gen.offset, "torch_equivalent": produced_by,
    })


def generate(ctx: common.Context) -> None:
    ref.self_check()
    arrays: dict[str, np.ndarray] = {}
    cases: list[dict] = []

    def torch_call(seed, call, n):
        return (f"torch.{call}(({n},), generator=torch.Generator('cuda').manual_seed({seed}), "
                "device='cuda', dtype=torch.float32)")

    for seed in SEEDS:
        sizes = SIZES + ([LATENT] if seed in (0, 2**64 - 1) else [])
        for n in sizes:
            gen = ref.CudaGenerator(seed)
            _case(arrays, cases, f"philox_randn_seed{seed}_n{n}", seed, "randn", n, 0, None, gen,
                  torch_call(seed, "randn", n))
    for seed, n in UNIFORM_CASES:
        gen = ref.CudaGenerator(seed)
        _case(arrays, cases, f"philox_rand_seed{seed}_n{n}", seed, "rand", n, 0, None, gen,
              torch_call(seed, "rand", n))
    for s_index, (seed, device, calls) in enumerate(SEQUENCES):
        gen = ref.CudaGenerator(seed) if device is None else ref.CudaGenerator(seed, *device)
        for k, (call, n) in enumerate(calls):
            name = f"philox_seq{s_index}_seed{seed}_call{k}_{call}_n{n}"
            _case(arrays, cases, name, seed, call, n, k, device, gen,
                  f"successive call {k} on one generator: {torch_call(seed, call, n)}")

    path = OUT / "philox.safetensors"
    tensors = common.save_arrays(path, arrays)
    ctx.add(
        path, "safetensors",
        "torch CUDA generator streams (Philox4x32-10 via curand) as computed by the independent "
        "model tools/reference/philox_reference.py: randn and rand float32 for several seeds and "
        "sizes, successive calls (offset increments) and a small emulated device whose grid the "
        "larger tensors outgrow.",
        "philox_reference.CudaGenerator(seed[, sm_count, max_threads_per_sm]).randn(n) / .rand(n) "
        "per case, in sequence order",
        tensors=tensors, cases=cases,
        known_answers=[{"counter": [f"0x{w:08x}" for w in c], "key": [f"0x{w:08x}" for w in k],
                        "output": [f"0x{w:08x}" for w in o]} for c, k, o in ref.KNOWN_ANSWERS],
        follows="torch 2.0-2.5 aten/src/ATen/native/cuda/DistributionTemplates.h launch and offset "
                "rule; curand Philox4x32_10 state; log/sin/cos correctly rounded (not __sincosf)",
    )
