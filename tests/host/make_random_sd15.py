#!/usr/bin/env python3
"""Write a randomly initialized, full-size Stable Diffusion 1.5 checkpoint in the original single-file layout
(model.diffusion_model.*, cond_stage_model.transformer.text_model.*, first_stage_model.*), as safetensors.

Built from ComfyUI's own classes (run with the host's python, ComfyUI's folder as --comfyui), every weight
initialized explicitly: ComfyUI's layers are created with uninitialized memory (see HOST.md).

    python tests/host/make_random_sd15.py --comfyui .host/ComfyUI --out model.safetensors [--dtype fp16] [--small]
        [--inpaint]

--small: the U-Net keeps SD 1.5's layout, names and detection keys but has one resolution level (tests); the text
encoder and VAE are full size (ComfyUI builds them from fixed configs).
--inpaint: SD 1.5 inpainting's layout (a U-Net of 9 input channels: the noisy latent, the mask, the masked image's
latent), which ComfyUI detects as an inpainting model.
"""
from __future__ import annotations

import argparse
import os
import sys

UNET = dict(use_checkpoint=False, image_size=32, out_channels=4, use_spatial_transformer=True, legacy=False,
            adm_in_channels=None, in_channels=4, model_channels=320, num_res_blocks=[2, 2, 2, 2],
            transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0], channel_mult=[1, 2, 4, 4], transformer_depth_middle=1,
            use_linear_in_transformer=False, context_dim=768, num_heads=8,
            transformer_depth_output=[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], use_temporal_resblock=False,
            use_temporal_attention=False, num_head_channels=-1)
# SD 1.5's layout and detection keys (320 model channels, 768-wide context: ComfyUI detects it as SD 1.5), one
# resolution level: what the tests load, 30x faster on the CPU than the full U-Net; benchmarks use the full one
SMALL_UNET = dict(UNET, num_res_blocks=[1], channel_mult=[1], transformer_depth=[1], transformer_depth_output=[1, 1])
VAE = dict(double_z=True, z_channels=4, resolution=256, in_channels=3, out_ch=3, ch=128, ch_mult=[1, 2, 4, 4],
           num_res_blocks=2, attn_resolutions=[], dropout=0.0)


def init_(module, generator, all_random: bool = False):
    """Weights N(0, 0.02), biases 0, normalization scales 1 (found by module type: ComfyUI names its ResBlocks'
    GroupNorms in_layers.0 / out_layers.0, so a name test would zero them and the U-Net would output exactly 0).
    all_random: biases N(0, 0.02) and normalization scales N(1, 0.1) too, so that a wrongly mapped tensor shows."""
    import torch
    norms = (torch.nn.GroupNorm, torch.nn.LayerNorm)
    for m in module.modules():
        for name, p in m.named_parameters(recurse=False):
            with torch.no_grad():
                if isinstance(m, norms) and name == "weight":
                    p.copy_(1 + 0.1 * torch.randn(p.shape, generator=generator)) if all_random else p.fill_(1.0)
                elif p.ndim >= 2 or all_random:
                    p.copy_(torch.randn(p.shape, generator=generator) * 0.02)
                else:
                    p.zero_()


def save_random(sd: dict, out: str, dtype) -> None:
    """Write a random model's state dict as safetensors (ComfyUI's writer), its floating tensors in `dtype` (position
    ids kept as they are), into a temporary name then renamed: a reader never sees half a file."""
    import comfy.utils
    import torch
    bad = [k for k, v in sd.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:  # an uninitialized (torch.empty) tensor left in: a file whose outputs depend on stray memory
        raise ValueError(f"the random model has non-finite values in {', '.join(bad[:5])}")
    sd = {k: (v.to(dtype) if v.is_floating_point() and not k.endswith("position_ids") else v).contiguous()
          for k, v in sd.items()}
    tmp = out + ".partial"
    comfy.utils.save_torch_file(sd, tmp)
    os.replace(tmp, out)
    n = sum(v.numel() for v in sd.values())
    print(f"wrote {out}: {len(sd)} tensors, {n / 1e6:.1f}M values")


def import_comfy(comfyui: str) -> None:
    """Make ComfyUI importable from a script, on the CPU (its model management reads the command line)."""
    sys.path.insert(0, os.path.abspath(comfyui))
    sys.argv = sys.argv[:1] + ["--cpu"]
    import comfy.options
    comfy.options.enable_args_parsing()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true", help="one-level U-Net (tests); default: full size")
    ap.add_argument("--inpaint", action="store_true", help="9 input channels, as SD 1.5 inpainting")
    a = ap.parse_args()
    import_comfy(a.comfyui)
    import torch
    import comfy.ldm.models.autoencoder
    import comfy.sd1_clip
    import comfy.supported_models

    g = torch.Generator().manual_seed(a.seed)
    config = comfy.supported_models.SD15(dict(SMALL_UNET if a.small else UNET, dtype=torch.float32,
                                              **({"in_channels": 9} if a.inpaint else {})))
    model = config.get_model({}, device="cpu")
    init_(model.diffusion_model, g)
    clip = comfy.sd1_clip.SD1ClipModel(device="cpu", dtype=torch.float32)
    init_(clip, g)
    with torch.no_grad():  # position ids are indices, not weights
        for k, v in clip.state_dict().items():
            if k.endswith("position_ids"):
                v.copy_(torch.arange(v.shape[-1]).reshape(v.shape))
    vae = comfy.ldm.models.autoencoder.AutoencoderKL(ddconfig=VAE, embed_dim=4)
    init_(vae, g)
    clip_sd = clip.state_dict()
    vae_sd = vae.state_dict()
    sd = model.state_dict_for_saving(clip_sd, vae_sd)
    save_random(sd, a.out, torch.float16 if a.dtype == "fp16" else torch.float32)


if __name__ == "__main__":
    main()
