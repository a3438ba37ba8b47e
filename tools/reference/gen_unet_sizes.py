"""UNet outputs at latent sizes that are not multiples of 2^levels: diffusers then passes each up
block an explicit `upsample_size` (the size of the skip connection it meets), so a 9-row latent
goes 9 -> 5 -> 3 on the way down and 3 -> 5 -> 9 on the way up. Any image side that is a
multiple of 8 is a valid SD input; these fixtures pin that path down.

The UNets are the saved float16 tiny models (loaded in float32 from tests/fixtures/models, which
gen_models.py writes). Inputs are N(0, 1) from np.random.RandomState(700 + case index), stored
with the outputs; the timestep is 801 for both batch rows.
"""

from __future__ import annotations

import numpy as np
import torch

import common
import tiny_configs as C

OUT = common.FIXTURES / "model_outputs"

# fixture name, model folder, latent height, width, added-conditioning kind
CASES = [
    ("unet_sd1_9x11", "sd1-tiny", 9, 11, None),
    ("unet_sd1_10x14", "sd1-tiny", 10, 14, None),
    ("unet_sdxl_9x11", "sdxl-tiny", 9, 11, "sdxl"),
]
TIMESTEP = 801


def _randn(rs: np.random.RandomState, *shape: int) -> torch.Tensor:
    return torch.from_numpy(rs.randn(*shape).astype(np.float32))


@torch.no_grad()
def generate(ctx: common.Context) -> None:
    from diffusers import UNet2DConditionModel

    for k, (name, model, h, w, added) in enumerate(CASES):
        unet = UNet2DConditionModel.from_pretrained(str(common.FIXTURES / "models" / model / "unet"),
                                                    torch_dtype=torch.float32)
        cfg = unet.config
        rs = np.random.RandomState(700 + k)
        arrays = {"sample": _randn(rs, 2, cfg.in_channels, h, w),
                  "encoder_hidden_states": _randn(rs, 2, 77, cfg.cross_attention_dim)}
        kwargs = {}
        if added == "sdxl":
            arrays["text_embeds"] = _randn(rs, 2, C.OPENCLIP_BIGG_TINY["projection_dim"])
            arrays["time_ids"] = torch.tensor([[72, 88, 0, 0, 72, 88], [88, 72, 8, 16, 88, 72]],
                                              dtype=torch.float32)
            kwargs["added_cond_kwargs"] = {"text_embeds": arrays["text_embeds"], "time_ids": arrays["time_ids"]}
        arrays["out"] = unet(arrays["sample"], TIMESTEP, encoder_hidden_states=arrays["encoder_hidden_states"],
                             **kwargs).sample
        path = OUT / f"{name}.safetensors"
        tensors = common.save_arrays(path, {n: v.numpy() for n, v in arrays.items()})
        ctx.add(path, "safetensors",
                f"{model}/unet at a {h}x{w} latent (not a multiple of 2^levels: diffusers' upsample_size path); "
                f"sample, encoder_hidden_states{', text_embeds' if added else ''} N(0, 1) from "
                f"np.random.RandomState({700 + k}), stored; out at timestep {TIMESTEP}",
                f"UNet2DConditionModel.from_pretrained('{model}/unet', torch_dtype=torch.float32)(sample, {TIMESTEP}, "
                "encoder_hidden_states=encoder_hidden_states"
                + (", added_cond_kwargs={'text_embeds': text_embeds, 'time_ids': time_ids}" if added else "")
                + ").sample",
                tensors=tensors, models=[model])
