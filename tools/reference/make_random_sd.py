#!/usr/bin/env python3
"""make_random_sd.py — a real-size Stable Diffusion 1.5 or 2.1 diffusers folder with random weights.

The architecture of runwayml/stable-diffusion-v1-5 (UNet2DConditionModel, AutoencoderKL,
CLIPTextModel ViT-L/14, PNDM scheduler) or, with --family sd21, of
stabilityai/stable-diffusion-2-1 (768 x 768: a UNet with linear projections, per-level head
counts and upcast attention, the OpenCLIP ViT-H/14 text encoder of 23 layers, DDIM with
v-prediction), the CLIP BPE tokenizer from tests/data/clip, with diffusers' own random
initialisation under torch.manual_seed(SEED), weights stored as float16 safetensors (about 2 GB,
like the released fp16 checkpoints). For benchmarks (`make bench`,
tools/reference/bench_torch.py): the outputs mean nothing, the shapes and the work are real.
Never committed. The SDXL base is tools/reference/make_random_sdxl.py.

    python tools/reference/make_random_sd.py OUT_DIR [--family sd15|sd21] [--seed 0]
        [--dtype float16|float32]

Needs the pinned environment of tools/reference/requirements.txt (torch, diffusers,
transformers).
"""
import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the folder to create (must not exist or be empty)")
    ap.add_argument("--family", choices=["sd15", "sd21"], default="sd15")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    args = ap.parse_args()

    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    if os.path.exists(args.out) and os.listdir(args.out):
        sys.exit(f"{args.out} exists and is not empty")
    os.makedirs(args.out, exist_ok=True)
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)
    sd21 = args.family == "sd21"

    # The unet/config.json of runwayml/stable-diffusion-v1-5 or stabilityai/stable-diffusion-2-1
    # (the rest are diffusers defaults).
    if sd21:
        family_unet = dict(sample_size=96, cross_attention_dim=1024,
                           attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
                           upcast_attention=True)
    else:
        family_unet = dict(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
    unet = UNet2DConditionModel(
        in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                          "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                        "CrossAttnUpBlock2D"),
        norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0, downsample_padding=1,
        **family_unet)
    unet.to(dtype).save_pretrained(os.path.join(args.out, "unet"), safe_serialization=True)
    del unet

    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=32, sample_size=768 if sd21 else 512, scaling_factor=0.18215)
    vae.to(dtype).save_pretrained(os.path.join(args.out, "vae"), safe_serialization=True)
    del vae

    # CLIP ViT-L/14, or SD 2.1's OpenCLIP ViT-H/14 text tower as transformers holds it (23 of
    # its 24 layers).
    if sd21:
        family_text = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
                           num_attention_heads=16, hidden_act="gelu", projection_dim=512)
    else:
        family_text = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                           num_attention_heads=12, hidden_act="quick_gelu", projection_dim=768)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, max_position_embeddings=77, bos_token_id=0, eos_token_id=2,
        pad_token_id=1, **family_text))
    text.to(dtype).save_pretrained(os.path.join(args.out, "text_encoder"),
                                   safe_serialization=True)
    del text

    tok = os.path.join(args.out, "tokenizer")
    os.makedirs(tok, exist_ok=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(ROOT, "tests", "data", "clip", name), tok)
    with open(os.path.join(tok, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 77, "pad_token": "!" if sd21 else "<|endoftext|>",
                   "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                   "unk_token": "<|endoftext|>", "do_lower_case": True,
                   "tokenizer_class": "CLIPTokenizer"}, f, indent=2)

    if sd21:
        scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  num_train_timesteps=1000, clip_sample=False,
                                  set_alpha_to_one=False, steps_offset=1,
                                  prediction_type="v_prediction")
    else:
        scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012,
                                  beta_schedule="scaled_linear", num_train_timesteps=1000,
                                  skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
    scheduler.save_pretrained(os.path.join(args.out, "scheduler"))

    with open(os.path.join(args.out, "model_index.json"), "w") as f:
        json.dump({
            "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.2",
            "feature_extractor": [None, None], "requires_safety_checker": False,
            "safety_checker": [None, None], "scheduler": ["diffusers", type(scheduler).__name__],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        }, f, indent=2)
    with open(os.path.join(args.out, "RANDOM_WEIGHTS.txt"), "w") as f:
        f.write(f"Random {args.family} weights (torch.manual_seed({args.seed}), {args.dtype}), "
                f"made by tools/reference/make_random_sd.py with torch {torch.__version__}. "
                "For benchmarks only.\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
