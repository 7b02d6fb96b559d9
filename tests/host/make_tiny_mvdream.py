#!/usr/bin/env python3
"""Write a tiny random MVDream checkpoint in the original single-file layout: model.diffusion_model.* with
camera_embed.{0,2}, first_stage_model.* (VAE), cond_stage_model.model.* (OpenCLIP text encoder; with --base sd15
cond_stage_model.transformer.* (CLIP), as MVDream's SD 1.5 variant).

The U-Net and VAE are ComfyUI's own LDM classes (its UNetModel with a 'sequential' 16-d label embedding has
exactly MVDream's camera_embed layers, saved under that name), so the key layout is the original's and not the
loader's inverse. The OpenCLIP text tower is written in open_clip's layout (nn.MultiheadAttention in_proj).
Every weight and bias random (N(0, 0.02); norms N(1, 0.1)) so that a wrong mapping shows.

    python tests/host/make_tiny_mvdream.py --comfyui .host/ComfyUI --out tiny.safetensors [--pt] [--no-text] [--base sd15] [--size sd21]
"""
from __future__ import annotations

import argparse
import os
import sys

from make_random_sd15 import import_comfy, init_

UNET = dict(image_size=32, in_channels=4, model_channels=64, out_channels=4, num_res_blocks=1,
            channel_mult=[1, 2, 2], num_head_channels=64, use_spatial_transformer=True, transformer_depth=[1, 1, 0],
            transformer_depth_output=[1, 1, 1, 1, 0, 0], transformer_depth_middle=1, context_dim=64,
            use_linear_in_transformer=True, legacy=False, num_classes="sequential", adm_in_channels=16)
VAE = dict(double_z=True, z_channels=4, resolution=64, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 1, 1, 1],
           num_res_blocks=1, attn_resolutions=[], dropout=0.0)
TEXT = dict(width=64, layers=3, vocab=49408, context=77, mlp=256)
# MVDream's sd-v2.1-base-4view architecture (its sd-v2-base.yaml), for benchmarks: same layout, full size
SD21_UNET = dict(UNET, model_channels=320, num_res_blocks=2, channel_mult=[1, 2, 4, 4],
                 transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0], transformer_depth_output=[1] * 9 + [0] * 3,
                 context_dim=1024)
SD21_VAE = dict(VAE, resolution=256, ch=128, ch_mult=[1, 2, 4, 4], num_res_blocks=2)
# MVDream's sd-v1.5-4view in miniature: a 768-wide context, 8 heads, convolutional transformer projections, and
# the CLIP text encoder in the transformers layout SD 1.x keeps (cond_stage_model.transformer.text_model.*)
SD15_UNET = dict(UNET, context_dim=768, num_heads=8, num_head_channels=-1, use_linear_in_transformer=False)
CLIP_TEXT = dict(vocab_size=49408, hidden_size=64, intermediate_size=256, num_attention_heads=1, num_hidden_layers=2,
                 max_position_embeddings=77, hidden_act="quick_gelu")


def unet_kwargs(base: str, size: str = "tiny") -> dict:
    return SD21_UNET if size == "sd21" else SD15_UNET if base == "sd15" else UNET


def open_clip_text(generator) -> dict:
    """open_clip's TextTransformer layout (as SD 2.x's cond_stage_model.model keeps it)."""
    import torch
    w, m = TEXT["width"], TEXT["mlp"]

    def r(*shape, scale=0.02, base=0.0):
        return base + scale * torch.randn(shape, generator=generator)

    sd = {"token_embedding.weight": r(TEXT["vocab"], w), "positional_embedding": r(TEXT["context"], w, scale=0.01),
          "ln_final.weight": r(w, scale=0.1, base=1.0), "ln_final.bias": r(w), "text_projection": r(w, w),
          "logit_scale": torch.tensor(4.6052)}
    for i in range(TEXT["layers"]):
        p = f"transformer.resblocks.{i}."
        sd.update({p + "ln_1.weight": r(w, scale=0.1, base=1.0), p + "ln_1.bias": r(w),
                   p + "attn.in_proj_weight": r(3 * w, w), p + "attn.in_proj_bias": r(3 * w),
                   p + "attn.out_proj.weight": r(w, w), p + "attn.out_proj.bias": r(w),
                   p + "ln_2.weight": r(w, scale=0.1, base=1.0), p + "ln_2.bias": r(w),
                   p + "mlp.c_fc.weight": r(m, w), p + "mlp.c_fc.bias": r(m),
                   p + "mlp.c_proj.weight": r(w, m), p + "mlp.c_proj.bias": r(w)})
    return sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pt", action="store_true", help="torch format ({'state_dict': ...}) like MVDream's .pt files")
    ap.add_argument("--no-text", action="store_true", help="leave the text encoder out")
    ap.add_argument("--no-camera", action="store_true", help="a plain SD U-Net (no camera_embed), for the error test")
    ap.add_argument("--size", choices=["tiny", "sd21"], default="tiny",
                    help="sd21: MVDream's full SD 2.1 U-Net and VAE (random; for benchmarks), without text encoder")
    ap.add_argument("--base", choices=["sd21", "sd15"], default="sd21",
                    help="sd15: the layout of MVDream's SD 1.5 variant (CLIP text, 768 context, conv projections)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    import_comfy(a.comfyui)
    import torch
    import comfy.ldm.models.autoencoder
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    g = torch.Generator().manual_seed(a.seed)
    full = a.size == "sd21"
    unet = UNetModel(**unet_kwargs(a.base, a.size), dtype=torch.float32, device="cpu",
                     operations=comfy.ops.disable_weight_init)
    init_(unet, g, all_random=True)
    vae = comfy.ldm.models.autoencoder.AutoencoderKL(ddconfig=SD21_VAE if full else VAE, embed_dim=4)
    init_(vae, g, all_random=True)
    sd = {}
    for k, v in unet.state_dict().items():
        if k.startswith("label_emb.0."):
            k = "camera_embed." + k[len("label_emb.0."):]
            if a.no_camera:
                continue
        sd["model.diffusion_model." + k] = v
    sd.update({"first_stage_model." + k: v for k, v in vae.state_dict().items()})
    if a.no_text or full:
        pass
    elif a.base == "sd15":
        from transformers import CLIPTextConfig, CLIPTextModel
        text = CLIPTextModel(CLIPTextConfig(**CLIP_TEXT))
        init_(text, g, all_random=True)
        sd.update({"cond_stage_model.transformer." + k: v for k, v in text.state_dict().items()})
    else:
        sd.update({"cond_stage_model.model." + k: v for k, v in open_clip_text(g).items()})
    sd = {k: (v.half() if full else v).contiguous() for k, v in sd.items()}
    tmp = a.out + ".partial"
    if a.pt:
        torch.save({"state_dict": sd, "global_step": 0}, tmp)
    else:
        from safetensors.torch import save_file
        save_file(sd, tmp)
    os.replace(tmp, a.out)
    print(f"wrote {a.out}: {len(sd)} tensors, {sum(v.numel() for v in sd.values()) / 1e6:.1f}M values")


if __name__ == "__main__":
    main()
