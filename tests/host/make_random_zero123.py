#!/usr/bin/env python3
"""Write a randomly initialized, full-size Stable Zero123 checkpoint in its original single-file layout:
model.diffusion_model.* (the SD 1.5 U-Net with 8 input channels: the noisy latent + the reference latent),
cc_projection.{weight,bias} (772 -> 768: the CLIP image embedding + 4 camera terms), first_stage_model.* (the VAE)
and the CLIP ViT-L/14 vision tower in OpenCLIP's names under cond_stage_model.model.visual.* (what Image Only
Checkpoint Loader converts). Built from ComfyUI's own classes (run with the host's python), every weight
initialized explicitly.

    python tests/host/make_random_zero123.py --comfyui .host/ComfyUI --out stable_zero123.safetensors [--small]

--small: a one-level U-Net in the same layout (tests); the CLIP vision tower and VAE stay full size.
"""
from __future__ import annotations

import argparse
import os

from make_random_sd15 import SMALL_UNET, UNET, VAE, import_comfy, init_, save_random

VISUAL = "cond_stage_model.model.visual."


def openclip_visual(hf: dict, layers: int) -> dict:
    """ComfyUI's (transformers-named) CLIP vision state dict -> OpenCLIP's visual tower names: the inverse of
    comfy.clip_vision.convert_to_transformers."""
    import torch
    sd = dict(hf)
    out = {"class_embedding": sd.pop("vision_model.embeddings.class_embedding"),
           "conv1.weight": sd.pop("vision_model.embeddings.patch_embedding.weight"),
           "positional_embedding": sd.pop("vision_model.embeddings.position_embedding.weight"),
           "proj": sd.pop("visual_projection.weight").t().contiguous()}
    for hf_name, oc in (("pre_layrnorm", "ln_pre"), ("post_layernorm", "ln_post")):
        for y in ("weight", "bias"):
            out[f"{oc}.{y}"] = sd.pop(f"vision_model.{hf_name}.{y}")
    parts = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
             "self_attn.out_proj": "attn.out_proj"}
    for i in range(layers):
        pre = f"vision_model.encoder.layers.{i}."
        for hf_name, oc in parts.items():
            for y in ("weight", "bias"):
                out[f"transformer.resblocks.{i}.{oc}.{y}"] = sd.pop(f"{pre}{hf_name}.{y}")
        for y in ("weight", "bias"):
            out[f"transformer.resblocks.{i}.attn.in_proj_{y}"] = torch.cat(
                [sd.pop(f"{pre}self_attn.{p}_proj.{y}") for p in ("q", "k", "v")])
    left = [k for k in sd if not k.endswith("position_ids")]
    assert not left, f"unmapped CLIP vision tensors: {left[:5]}"
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true", help="one-level U-Net (tests); default: full size")
    a = ap.parse_args()
    import_comfy(a.comfyui)
    import torch
    import comfy.clip_vision
    import comfy.ldm.models.autoencoder
    import comfy.supported_models

    g = torch.Generator().manual_seed(a.seed)
    cc = {"cc_projection.weight": torch.randn(768, 772, generator=g) * 0.02, "cc_projection.bias": torch.zeros(768)}
    unet = SMALL_UNET if a.small else UNET
    config = comfy.supported_models.Stable_Zero123(dict(unet, in_channels=8, dtype=torch.float32))
    with torch.no_grad():  # as ComfyUI loads models
        model = config.get_model(cc, device="cpu")
    init_(model.diffusion_model, g)
    vae = comfy.ldm.models.autoencoder.AutoencoderKL(ddconfig=VAE, embed_dim=4)
    init_(vae, g)
    cfg = os.path.join(os.path.dirname(comfy.clip_vision.__file__), "clip_vision_config_vitl.json")
    vision = comfy.clip_vision.ClipVisionModel(cfg)
    vision.model.float()
    init_(vision.model, g)
    with torch.no_grad():
        for k, v in vision.model.state_dict().items():
            if k.endswith("position_ids"):
                v.copy_(torch.arange(v.shape[-1]).reshape(v.shape))
    sd = {f"model.diffusion_model.{k}": v for k, v in model.diffusion_model.state_dict().items()}
    sd |= {f"first_stage_model.{k}": v for k, v in vae.state_dict().items()}
    sd |= {VISUAL + k: v for k, v in openclip_visual(vision.model.state_dict(), 24).items()}
    sd |= cc
    save_random(sd, a.out, torch.float16 if a.dtype == "fp16" else torch.float32)


if __name__ == "__main__":
    main()
