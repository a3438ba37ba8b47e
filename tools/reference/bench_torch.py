#!/usr/bin/env python3
"""bench_torch.py — the peer `sdc bench` is compared with: the same components in PyTorch.

Times, on the same random model folder (tools/reference/make_random_sd.py) and the same number
of threads, what `sdc bench` times: the text encoder on 2 x 77 tokens, one guided UNet step
(batch 2, native size), VAE decode and VAE encode (diffusers 0.30 / transformers 4.44 modules,
float32 weights), each in float32 and under torch.autocast("cpu", dtype=torch.bfloat16) (oneDNN
bf16 kernels). Median of --runs after --warmup, inside torch.inference_mode(). With --sdc-json
(the file `sdc bench --json` wrote) it also prints sdc's time as a ratio of torch's.

    python tools/reference/bench_torch.py MODEL_DIR [--threads N] [--runs 3] [--warmup 1]
        [--component NAME ...] [--modes f32 bf16] [--json OUT] [--sdc-json SDC.json]
"""
import argparse
import json
import statistics
import sys
import time

COMPONENTS = ["text_encoder", "unet_step", "vae_decode", "vae_encode"]


def timed(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=0, help="default: all CPUs")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--component", action="append", choices=COMPONENTS)
    ap.add_argument("--modes", nargs="+", default=["f32", "bf16"], choices=["f32", "bf16"])
    ap.add_argument("--json", help="write the figures as one JSON object")
    ap.add_argument("--sdc-json", help="sdc bench --json output to compare with")
    args = ap.parse_args()

    import os
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    components = args.component or COMPONENTS
    gen = torch.Generator().manual_seed(0)
    results = []
    for name in components:
        if name == "text_encoder":
            model = CLIPTextModel.from_pretrained(f"{args.model}/text_encoder",
                                                  torch_dtype=torch.float32).eval()
            ids = torch.randint(0, model.config.vocab_size, (2, 77), generator=gen)
            fn = lambda: model(ids)  # noqa: E731
        elif name == "unet_step":
            model = UNet2DConditionModel.from_pretrained(f"{args.model}/unet",
                                                         torch_dtype=torch.float32).eval()
            s = model.config.sample_size
            sample = torch.randn(2, model.config.in_channels, s, s, generator=gen)
            text = torch.randn(2, 77, model.config.cross_attention_dim, generator=gen)
            t = torch.tensor([981, 981])

            def fn(model=model, sample=sample, t=t, text=text):
                noise = model(sample, t, encoder_hidden_states=text).sample
                uncond, cond = noise.chunk(2)
                return uncond + 7.5 * (cond - uncond)
        else:
            model = AutoencoderKL.from_pretrained(f"{args.model}/vae",
                                                  torch_dtype=torch.float32).eval()
            size = model.config.sample_size
            if name == "vae_decode":
                latent = torch.randn(1, model.config.latent_channels, size // 8, size // 8,
                                     generator=gen)
                fn = lambda: model.decode(latent).sample  # noqa: E731
            else:
                image = torch.rand(1, 3, size, size, generator=gen) * 2 - 1
                fn = lambda: model.encode(image).latent_dist.mean  # noqa: E731
        for mode in args.modes:
            with torch.inference_mode():
                if mode == "bf16":
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        sec = timed(fn, args.warmup, args.runs)
                else:
                    sec = timed(fn, args.warmup, args.runs)
            results.append({"component": name, "mode": mode, "seconds": sec})
            print(f"torch {name:13s} {mode:5s} {sec:9.3f} s", flush=True)
        del model

    out = {"model": args.model, "threads": threads, "torch": torch.__version__,
           "components": results}
    if args.sdc_json:
        with open(args.sdc_json) as f:
            sdc = {c["component"]: c for c in json.load(f)["components"]}
        for r in results:
            c = sdc.get(r["component"])
            if c:
                r["sdc_seconds"] = c["seconds"]
                r["torch_over_sdc"] = r["seconds"] / c["seconds"]
                print(f"{r['component']:13s} torch {r['mode']:5s} {r['seconds']:8.3f} s, "
                      f"sdc {c['seconds']:8.3f} s: sdc is {r['torch_over_sdc']:.2f}x as fast")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
