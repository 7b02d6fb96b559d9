#!/usr/bin/env python3
"""Write randomly initialized flow-matching models in the single-file layouts ComfyUI detects, as small as its
detection allows (built from ComfyUI's own classes, every weight initialized: see make_random_sd15.py).

    python tests/host/make_random_flow.py --comfyui .host/ComfyUI --kind sd3 --out sd3.safetensors
    python tests/host/make_random_flow.py --comfyui .host/ComfyUI --kind flux --out flux.safetensors
    python tests/host/make_random_flow.py --comfyui .host/ComfyUI --kind flux-schnell --out schnell.safetensors
    python tests/host/make_random_flow.py --comfyui .host/ComfyUI --kind vae --out ae.safetensors

sd3: a Load Checkpoint file (model.diffusion_model.* MMDiT + first_stage_model.* 16-channel VAE, no text encoders):
  two joint blocks (ComfyUI reads the width as 64 x depth: 128 wide), SD3's 4096-wide context and 2048-wide pooled
  vector (what its text encoders give, CLIP-L alone included), a 16 x 16 position grid (renders up to 256 px);
  ComfyUI detects it as SD3 (flow, shift 3).
flux / flux-schnell: a Load Diffusion Model file (unprefixed Flux keys): ComfyUI fixes Flux's width at 3072 (24
  heads of 128) whatever the file, so one double block and no single blocks is the smallest it detects (~390M
  values); 768-wide context and pooled vectors (CLIP-L's: the tests encode with CLIP-L alone, T5-XXL being 4.7B
  values at ComfyUI's fixed configuration); flux has the guidance embedding (Flux.1-dev), flux-schnell not.
vae: a Load VAE file in the layout of Flux's ae.safetensors and SD3's VAE (16 latent channels, no quant_conv):
  ComfyUI builds these VAEs from a fixed configuration, so it is full size (84M values).
"""
from __future__ import annotations

import argparse

from make_random_sd15 import import_comfy, init_, save_random

VAE16 = dict(double_z=True, z_channels=16, resolution=256, in_channels=3, out_ch=3, ch=128, ch_mult=[1, 2, 4, 4],
             num_res_blocks=2, attn_resolutions=[], dropout=0.0)
SD3 = dict(in_channels=16, out_channels=16, patch_size=2, depth=2, input_size=None, adm_in_channels=2048,
           context_embedder_config={"target": "torch.nn.Linear", "params": {"in_features": 4096, "out_features": 128}},
           num_patches=256, pos_embed_max_size=16, pos_embed_scaling_factor=None, x_block_self_attn_layers=[])
FLUX = dict(image_model="flux", axes_dim=[16, 56, 56], num_heads=24, mlp_ratio=4.0, theta=10000, out_channels=16,
            qkv_bias=True, in_channels=16, hidden_size=3072, context_in_dim=768, patch_size=2, vec_in_dim=768,
            depth=1, depth_single_blocks=0)


def vae16(generator):
    import comfy.ldm.models.autoencoder
    vae = comfy.ldm.models.autoencoder.AutoencodingEngine(
        regularizer_config={"target": "comfy.ldm.models.autoencoder.DiagonalGaussianRegularizer"},
        encoder_config={"target": "comfy.ldm.modules.diffusionmodules.model.Encoder", "params": VAE16},
        decoder_config={"target": "comfy.ldm.modules.diffusionmodules.model.Decoder", "params": VAE16})
    init_(vae, generator)
    return vae.state_dict()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--kind", required=True, choices=["sd3", "flux", "flux-schnell", "vae"])
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "bf16", "fp32"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true", help="accepted for hostutil's callers; the sizes are fixed")
    a = ap.parse_args()
    import_comfy(a.comfyui)
    import torch
    import comfy.supported_models

    g = torch.Generator().manual_seed(a.seed)
    if a.kind == "vae":
        sd = vae16(g)
    elif a.kind == "sd3":
        config = comfy.supported_models.SD3(dict(SD3, dtype=torch.float32))
        model = config.get_model({}, device="cpu")
        init_(model.diffusion_model, g)
        # pos_embed is a buffer ComfyUI allocates with torch.empty: SD3 ships its fixed 2-D sin-cos embedding there
        from comfy.ldm.modules.diffusionmodules.mmdit import get_2d_sincos_pos_embed
        dm = model.diffusion_model
        dm.pos_embed.copy_(torch.from_numpy(get_2d_sincos_pos_embed(dm.hidden_size, dm.pos_embed_max_size))[None])
        sd = model.state_dict_for_saving(None, vae16(g))
    else:
        config_class = comfy.supported_models.Flux if a.kind == "flux" else comfy.supported_models.FluxSchnell
        config = config_class(dict(FLUX, guidance_embed=a.kind == "flux", dtype=torch.float32))
        model = config.get_model({}, device="cpu")
        init_(model.diffusion_model, g)
        sd = model.diffusion_model.state_dict()
    save_random(sd, a.out, {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[a.dtype])


if __name__ == "__main__":
    main()
