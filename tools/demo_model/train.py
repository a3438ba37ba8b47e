"""Trains sdc's demo model: a tiny Stable Diffusion 1.x-structured text-to-image model of the
coloured-shapes world of data.py, on the CPU, and writes it as a diffusers folder.

Stages (each resumes from its last checkpoint after an interruption; `all` runs them in order):
  vae      AutoencoderKL, 64 x 64 x 3 <-> 8 x 8 x 4, L1 + MSE reconstruction (shape pixels
           weighted up) + KL 1e-6
  latents  encodes a fixed set of scenes once (posterior mean and std) and measures the latent
           scaling factor (1 / std, as SD's 0.18215 was measured)
  unet     UNet2DConditionModel + CLIPTextModel from scratch, jointly: epsilon prediction with
           SD 1.5's scaled_linear betas, min-SNR-5 loss weights, 10% empty captions for
           classifier-free guidance, learning rate: warm-up, constant, linear decay to zero
           over the last steps (most of the prompt-following comes in the decay), EMA weights
  export   diffusers folder (StableDiffusionPipeline layout, no safety checker) from the EMA weights
  sample   a grid of samples through diffusers' StableDiffusionPipeline, to look at

Determinism: every random draw is keyed by (seed, stage, step) - data via data.batch, noise and
timesteps via a torch.Generator seeded per step - so a resumed run equals an uninterrupted one,
and any prefix of the unet stage equals the same prefix of a longer run. Reference versions:
torch 2.4.1 (CPU), diffusers 0.30.2, transformers 4.44.2, numpy 1.26.4.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import data

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLIP_DIR = REPO / "tests" / "data" / "clip"

# Stream ids of data.batch, so the stages never share draws.
STREAM_VAE, STREAM_LATENTS, STREAM_UNET, STREAM_UNET_NOISE = 1, 2, 3, 4


# ---------------------------------------------------------------------------------------------
# Plumbing: logging, atomic checkpoints


class Log:
    def __init__(self, path: Path):
        self.f = open(path, "a", buffering=1)

    def __call__(self, msg: str) -> None:
        line = time.strftime("%Y-%m-%d %H:%M:%S ") + msg
        print(line, flush=True)
        self.f.write(line + "\n")


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_config(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def step_generator(seed: int, stream: int, step: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(np.random.SeedSequence([seed, stream, step]).generate_state(1)[0]))
    return g


# ---------------------------------------------------------------------------------------------
# Models


def make_vae(cfg: dict, scaling_factor: float = 1.0):
    from diffusers import AutoencoderKL

    return AutoencoderKL(**cfg["vae"], scaling_factor=scaling_factor)


def make_text_encoder(cfg: dict):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(**cfg["text_encoder"]))


def make_unet(cfg: dict):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**cfg["unet"])


def make_tokenizer():
    """SD 1.x's CLIPTokenizer: real CLIP vocabulary, pad with <|endoftext|>, 77 tokens."""
    import logging

    from transformers import CLIPTokenizer

    logging.getLogger("transformers.models.clip.tokenization_clip").setLevel(logging.ERROR)
    return CLIPTokenizer(str(CLIP_DIR / "vocab.json"), str(CLIP_DIR / "merges.txt"),
                         pad_token="<|endoftext|>", model_max_length=77)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def lr_at(step: int, tc: dict) -> float:
    """Linear warm-up over warmup_steps, constant, then (from decay_from, if given) linear decay
    to zero at `steps`."""
    lr = tc["lr"] * min(1.0, (step + 1) / tc["warmup_steps"])
    start = tc.get("decay_from")
    if start is not None and step >= start:
        lr *= max(0.0, (tc["steps"] - step) / (tc["steps"] - start))
    return lr


# ---------------------------------------------------------------------------------------------
# Stage 1: the autoencoder


def foreground_mask(images: np.ndarray, scenes: list) -> torch.Tensor:
    """[N, 1, H, W] 1.0 where a pixel is not exactly its scene's background colour."""
    bg = np.array([data.PALETTE[s.background] for s in scenes], dtype=np.int16)[:, None, None]
    diff = np.abs(images.astype(np.int16) - bg).max(axis=-1)
    return torch.from_numpy((diff > 0).astype(np.float32))[:, None]


def train_vae(cfg: dict, out: Path, log: Log) -> None:
    tc = cfg["vae_training"]
    seed = cfg["seed"]
    final = out / "vae_final.pt"
    if final.exists():
        log("vae: done already")
        return
    ckpt_path = out / "vae_ckpt.pt"
    torch.manual_seed(seed)
    vae = make_vae(cfg)
    # Start with a nearly deterministic posterior (std e^(-4)): from diffusers' default log
    # variance 0 the decoder sees mostly noise and learns only the mean colour for hundreds of
    # steps before the encoder shrinks it. The KL term is free to widen it again.
    with torch.no_grad():
        vae.quant_conv.bias[cfg["vae"]["latent_channels"]:] = tc["init_logvar"]
    opt = torch.optim.AdamW(vae.parameters(), lr=tc["lr"], weight_decay=0.0)
    step = 0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=True)
        vae.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        log(f"vae: resuming at step {step}")
    vae.train()
    t0, acc = time.time(), []
    while step < tc["steps"]:
        images, _, scenes = data.batch(seed, STREAM_VAE, step, tc["batch_size"])
        x = to_tensor(images)
        g = step_generator(seed, STREAM_VAE, step)
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        y = vae.decode(z).sample
        # The shape covers a tenth of the image or less: its pixels (any that differ from the
        # background colour, edges included) weigh 1 + foreground_weight, so the colours of
        # small shapes are learnt as early as the background's.
        w = 1.0 + tc["foreground_weight"] * foreground_mask(images, scenes)
        err = (y - x).abs()
        rec = (w * (err + err.pow(2))).mean() / w.mean()
        loss = rec + tc["kl_weight"] * post.kl().mean()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        acc.append(F.mse_loss(y.detach(), x).item())
        if step % 10 == 0:
            psnr = 10 * math.log10(4.0 / max(np.mean(acc), 1e-12))
            log(f"vae: step {step}/{tc['steps']} loss {loss.item():.4f} psnr {psnr:.2f} dB "
                f"({(time.time() - t0) / len(acc):.2f} s/step)")
            t0, acc = time.time(), []
        if step % tc["checkpoint_every"] == 0 or step == tc["steps"]:
            save_atomic({"model": vae.state_dict(), "opt": opt.state_dict(), "step": step}, ckpt_path)
    save_atomic(vae.state_dict(), final)
    log("vae: finished")


# ---------------------------------------------------------------------------------------------
# Stage 2: latents of a fixed scene set


def encode_latents(cfg: dict, out: Path, log: Log) -> None:
    lc = cfg["latents"]
    seed = cfg["seed"]
    final = out / "latents.pt"
    if final.exists():
        log("latents: done already")
        return
    vae = make_vae(cfg)
    vae.load_state_dict(torch.load(out / "vae_final.pt", weights_only=True))
    vae.eval()
    means, stds, scenes = [], [], []
    mse = []
    n_batches = lc["count"] // lc["batch_size"]
    t0 = time.time()
    with torch.no_grad():
        for i in range(n_batches):
            images, _, sc = data.batch(seed, STREAM_LATENTS, i, lc["batch_size"])
            x = to_tensor(images)
            post = vae.encode(x).latent_dist
            means.append(post.mean)
            stds.append(post.std)
            scenes += [[s.shape, s.colour, s.background, s.position, s.size] for s in sc]
            if i % 16 == 0:
                mse.append(F.mse_loss(vae.decode(post.mean).sample.clamp(-1, 1), x).item())
                log(f"latents: batch {i + 1}/{n_batches}, reconstruction "
                    f"{10 * math.log10(4.0 / mse[-1]):.2f} dB ({time.time() - t0:.0f} s)")
    mean = torch.cat(means)
    std = torch.cat(stds)
    # SD measured 0.18215 as 1 / std of its latents; the same here, over posterior samples.
    second_moment = (mean.pow(2) + std.pow(2)).mean() - mean.mean().pow(2)
    scaling = float(1.0 / second_moment.sqrt())
    psnr = 10 * math.log10(4.0 / float(np.mean(mse)))
    save_atomic({"mean": mean, "std": std, "scenes": scenes, "scaling_factor": scaling,
                 "psnr": psnr}, final)
    log(f"latents: {mean.shape[0]} scenes, scaling factor {scaling:.5f}, "
        f"mean reconstruction {psnr:.2f} dB")


# ---------------------------------------------------------------------------------------------
# Stage 3: UNet + text encoder


def caption_of(scene: list, rng: np.random.Generator) -> str:
    shape, colour, background, position, size = scene
    return data.Scene(shape, colour, background, position, size, 0.0, 0.0, 0.0).caption(rng)


class Ema:
    """Exponential moving average of parameters with diffusers' EMAModel warm-up:
    decay = min(max_decay, (1 + step) / (10 + step))."""

    def __init__(self, params, max_decay: float):
        self.shadow = [p.detach().clone() for p in params]
        self.max_decay = max_decay

    @torch.no_grad()
    def update(self, params, step: int) -> None:
        d = min(self.max_decay, (1 + step) / (10 + step))
        for s, p in zip(self.shadow, params):
            s.mul_(d).add_(p.detach(), alpha=1 - d)


def snr_weights(alphas_cumprod: torch.Tensor, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """min-SNR-gamma loss weights for epsilon prediction (Hang et al. 2023): min(snr, g) / snr."""
    a = alphas_cumprod[t]
    snr = a / (1 - a)
    return torch.clamp(snr, max=gamma) / snr


def train_unet(cfg: dict, out: Path, log: Log, max_steps: int | None) -> None:
    from diffusers import DDPMScheduler

    tc = cfg["unet_training"]
    seed = cfg["seed"]
    steps = tc["steps"] if max_steps is None else min(max_steps, tc["steps"])
    ckpt_path = out / "unet_ckpt.pt"
    lat = torch.load(out / "latents.pt", weights_only=False)
    scaling = lat["scaling_factor"]
    n_scenes = lat["mean"].shape[0]

    torch.manual_seed(seed + 1)
    te = make_text_encoder(cfg)
    unet = make_unet(cfg)
    params = list(te.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=tc["lr"], weight_decay=tc["weight_decay"])
    ema = Ema(params, tc["ema_max_decay"])
    step = 0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=True)
        te.load_state_dict(ck["te"])
        unet.load_state_dict(ck["unet"])
        opt.load_state_dict(ck["opt"])
        ema.shadow = ck["ema"]
        step = ck["step"]
        log(f"unet: resuming at step {step}")
    if step >= steps:
        log(f"unet: at step {step} already")
        return

    sched = DDPMScheduler.from_config({k: v for k, v in cfg["scheduler"].items()
                                       if not k.startswith("_")})
    alphas_cumprod = sched.alphas_cumprod
    tok = make_tokenizer()
    token_cache: dict[str, list[int]] = {}

    def ids_of(captions: list[str]) -> torch.Tensor:
        rows = []
        for c in captions:
            if c not in token_cache:
                token_cache[c] = tok(c, padding="max_length", max_length=77, truncation=True).input_ids
            rows.append(token_cache[c])
        return torch.tensor(rows, dtype=torch.long)

    te.train()
    unet.train()
    t0, acc = time.time(), []
    B = tc["batch_size"]
    while step < steps:
        rng = np.random.Generator(np.random.PCG64([seed, STREAM_UNET, step]))
        idx = rng.integers(0, n_scenes, B)
        captions = [caption_of(lat["scenes"][i], rng) for i in idx]
        captions = ["" if rng.random() < tc["caption_dropout"] else c for c in captions]
        g = step_generator(seed, STREAM_UNET_NOISE, step)
        idx_t = torch.from_numpy(idx)
        z0 = (lat["mean"][idx_t] + lat["std"][idx_t] * torch.randn(B, 4, 8, 8, generator=g)) * scaling
        noise = torch.randn(z0.shape, generator=g)
        t = torch.randint(0, sched.config.num_train_timesteps, (B,), generator=g)
        zt = sched.add_noise(z0, noise, t)

        cond = te(ids_of(captions))[0]
        pred = unet(zt, t, cond).sample
        per = (pred - noise).pow(2).mean(dim=(1, 2, 3))
        loss = (per * snr_weights(alphas_cumprod, t, tc["min_snr_gamma"])).mean()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update(params, step)
        step += 1
        acc.append(per.mean().item())
        if step % 10 == 0:
            log(f"unet: step {step}/{steps} eps-mse {np.mean(acc):.4f} "
                f"({(time.time() - t0) / len(acc):.2f} s/step)")
            t0, acc = time.time(), []
        if step % tc["checkpoint_every"] == 0 or step == steps:
            save_atomic({"te": te.state_dict(), "unet": unet.state_dict(), "opt": opt.state_dict(),
                         "ema": ema.shadow, "step": step}, ckpt_path)
    log(f"unet: reached step {step}")


# ---------------------------------------------------------------------------------------------
# Stage 4: the diffusers folder


TOKENIZER_CONFIG = {
    "add_prefix_space": False,
    "bos_token": "<|startoftext|>",
    "do_lower_case": True,
    "eos_token": "<|endoftext|>",
    "errors": "replace",
    "model_max_length": 77,
    "pad_token": "<|endoftext|>",
    "tokenizer_class": "CLIPTokenizer",
    "unk_token": "<|endoftext|>",
}
SPECIAL_TOKENS = {k: TOKENIZER_CONFIG[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token")}


def export(cfg: dict, out: Path, dest: Path, log: Log) -> None:
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    lat = torch.load(out / "latents.pt", weights_only=False)
    ck = torch.load(out / "unet_ckpt.pt", weights_only=True)
    vae = make_vae(cfg, scaling_factor=round(lat["scaling_factor"], 5))
    vae.load_state_dict(torch.load(out / "vae_final.pt", weights_only=True))
    te = make_text_encoder(cfg)
    unet = make_unet(cfg)
    params = list(te.parameters()) + list(unet.parameters())
    with torch.no_grad():
        for p, s in zip(params, ck["ema"]):
            p.copy_(s)
    sched = PNDMScheduler.from_config({k: v for k, v in cfg["scheduler"].items()
                                       if not k.startswith("_")})
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=make_tokenizer(), unet=unet,
                                   scheduler=sched, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    if dest.exists():
        shutil.rmtree(dest)
    pipe.save_pretrained(dest, safe_serialization=True)
    # Plain tokenizer files as the SD 1.5 repository ships them (no added_tokens.json).
    tdir = dest / "tokenizer"
    shutil.rmtree(tdir)
    tdir.mkdir()
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(CLIP_DIR / name, tdir / name)
    with open(tdir / "tokenizer_config.json", "w") as f:
        json.dump(TOKENIZER_CONFIG, f, indent=2)
    with open(tdir / "special_tokens_map.json", "w") as f:
        json.dump(SPECIAL_TOKENS, f, indent=2)
    log(f"export: {dest} (EMA weights of step {ck['step']}, VAE scaling factor "
        f"{vae.config.scaling_factor})")


# ---------------------------------------------------------------------------------------------
# Stage 5: samples to look at


SAMPLE_PROMPTS = [
    "a red circle on the left, white background",
    "a blue square on a yellow background",
    "a large green triangle in the centre, black background",
    "a small yellow circle at the top, blue background",
    "a purple square at the bottom, white background",
    "an orange triangle on the right, green background",
    "a white circle in the middle, red background",
    "a black triangle at the top, yellow background",
]


def sample(model: Path, dest: Path, steps: int, guidance: float, log: Log) -> None:
    from diffusers import StableDiffusionPipeline
    from PIL import Image

    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    rows = []
    for p in SAMPLE_PROMPTS:
        g = torch.Generator().manual_seed(0)
        imgs = pipe([p] * 4, num_inference_steps=steps, guidance_scale=guidance, generator=g,
                    height=64, width=64, output_type="np").images
        rows.append(np.concatenate(list((imgs * 255).round().astype(np.uint8)), axis=1))
        log(f"sample: {p}")
    Image.fromarray(np.concatenate(rows, axis=0)).save(dest)
    log(f"sample: {dest}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stage", choices=["vae", "latents", "unet", "export", "sample", "all"])
    ap.add_argument("--config", type=Path, default=HERE / "config.json")
    ap.add_argument("--work", type=Path, required=True, help="checkpoints, latents and the log")
    ap.add_argument("--model", type=Path, help="the diffusers folder (export, sample)")
    ap.add_argument("--max-steps", type=int, help="stop the unet stage early at this step")
    ap.add_argument("--sample-steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=2.0,
                    help="the model draws clean scenes at 1-2; from 3 up colours go wrong")
    args = ap.parse_args()
    cfg = load_config(args.config)
    torch.set_num_threads(cfg["threads"])
    args.work.mkdir(parents=True, exist_ok=True)
    log = Log(args.work / "train.log")
    model = args.model or args.work / "diffusers"
    log(f"stage {args.stage}: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.2f}")
    if args.stage in ("vae", "all"):
        train_vae(cfg, args.work, log)
    if args.stage in ("latents", "all"):
        encode_latents(cfg, args.work, log)
    if args.stage in ("unet", "all"):
        train_unet(cfg, args.work, log, args.max_steps)
    if args.stage in ("export", "all"):
        export(cfg, args.work, model, log)
    if args.stage in ("sample", "all"):
        sample(model, args.work / "samples.png", args.sample_steps, args.guidance, log)


if __name__ == "__main__":
    sys.exit(main())
