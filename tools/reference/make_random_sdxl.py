#!/usr/bin/env python3
"""make_random_sdxl.py — a real-size Stable Diffusion XL base diffusers folder with random weights.

The architecture of stabilityai/stable-diffusion-xl-base-1.0 (UNet2DConditionModel with the
text_time embedding, AutoencoderKL with SDXL's scaling factor 0.13025, CLIPTextModel ViT-L/14 and
CLIPTextModelWithProjection OpenCLIP bigG/14, the two CLIP BPE tokenizers from tests/data/clip —
the second padding with "!" — and SDXL's EulerDiscreteScheduler) with diffusers' own random
initialisation under torch.manual_seed(SEED), weights stored as float16 safetensors (about 7 GB,
like the released fp16 variant). For measuring memory and speed at 1024 x 1024 (issue 11: one
guided step within 24 GiB with --reduce-memory): the outputs mean nothing, the shapes and the
work are real. Never committed.

    python tools/reference/make_random_sdxl.py OUT_DIR [--seed 0] [--dtype float16|float32]

Needs the pinned environment of tools/reference/requirements.txt (torch, diffusers,
transformers). Each network is built directly in the chosen dtype (torch's default dtype is set
to it while the network is made), so the largest one (the 2.6 billion parameter UNet) needs
about 5 GB of memory in float16 rather than 10 GB in float32 plus the copy.
"""
import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write_tokenizer(path, pad_token):
    os.makedirs(path, exist_ok=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(ROOT, "tests", "data", "clip", name), path)
    with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 77, "pad_token": pad_token,
                   "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                   "unk_token": "<|endoftext|>", "do_lower_case": True,
                   "tokenizer_class": "CLIPTokenizer"}, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the folder to create (must not exist or be empty)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    args = ap.parse_args()

    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    if os.path.exists(args.out) and os.listdir(args.out):
        sys.exit(f"{args.out} exists and is not empty")
    os.makedirs(args.out, exist_ok=True)
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)

    def build(make):
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            return make().to(dtype)
        finally:
            torch.set_default_dtype(previous)

    # stabilityai/stable-diffusion-xl-base-1.0 unet/config.json (the rest are diffusers defaults).
    unet = build(lambda: UNet2DConditionModel(
        sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10),
        cross_attention_dim=2048, use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
        norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0, downsample_padding=1))
    unet.save_pretrained(os.path.join(args.out, "unet"), safe_serialization=True)
    del unet

    vae = build(lambda: AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=32, sample_size=1024, scaling_factor=0.13025, force_upcast=True))
    vae.save_pretrained(os.path.join(args.out, "vae"), safe_serialization=True)
    del vae

    text = build(lambda: CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
        num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
        projection_dim=768, bos_token_id=0, eos_token_id=2, pad_token_id=1)))
    text.save_pretrained(os.path.join(args.out, "text_encoder"), safe_serialization=True)
    del text

    text2 = build(lambda: CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
        num_attention_heads=20, max_position_embeddings=77, hidden_act="gelu",
        projection_dim=1280, bos_token_id=0, eos_token_id=2, pad_token_id=1)))
    text2.save_pretrained(os.path.join(args.out, "text_encoder_2"), safe_serialization=True)
    del text2

    write_tokenizer(os.path.join(args.out, "tokenizer"), "<|endoftext|>")
    write_tokenizer(os.path.join(args.out, "tokenizer_2"), "!")

    EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                           num_train_timesteps=1000, steps_offset=1, timestep_spacing="leading",
                           interpolation_type="linear", prediction_type="epsilon",
                           use_karras_sigmas=False).save_pretrained(
                               os.path.join(args.out, "scheduler"))

    with open(os.path.join(args.out, "model_index.json"), "w") as f:
        json.dump({
            "_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.30.2",
            "feature_extractor": [None, None], "force_zeros_for_empty_prompt": True,
            "image_encoder": [None, None], "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "tokenizer_2": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        }, f, indent=2)
    with open(os.path.join(args.out, "RANDOM_WEIGHTS.txt"), "w") as f:
        f.write(f"Random weights (torch.manual_seed({args.seed}), {args.dtype}), made by "
                f"tools/reference/make_random_sdxl.py with torch {torch.__version__}. "
                "For benchmarks only.\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
