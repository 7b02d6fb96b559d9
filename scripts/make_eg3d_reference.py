#!/usr/bin/env python3
"""Write the parity fixture for core.gan.render: EG3D's own ray sampler and importance renderer (from a checkout of
NVlabs/eg3d the user supplies; nothing is downloaded) run on seeded inputs, their outputs saved as safetensors.

    python scripts/make_eg3d_reference.py --eg3d /path/to/eg3d/eg3d      # writes both fixtures in tests/data

The inputs: two cameras (EG3D's FFHQ conditioning cameras at two yaws), 8x8 rays, random triplanes [2,3,8,16,16]
and a fixed decoder (features -> sigma, rgb by two seeded linear maps; the renderer does not depend on which
decoder), EG3D's FFHQ rendering settings with 12 + 12 samples a ray. The renderer draws its stratified jitter
and importance samples from torch's global generator, seeded here with RENDER_SEED just before the call: a port
that draws the same tensors in the same order reproduces the outputs exactly.

The second fixture (eg3d_networks_reference): EG3D's MappingNetwork (z 8, c 25, w 8, 4 ws, 2 layers) and its
OSGDecoder (8 features in, 8 out), seeded, with a random w_avg; their state dicts (prefixes mapping., decoder.),
inputs and outputs (mapping without and with truncation, psi 0.7, all ws and the first 2); and its
SynthesisNetwork (16² image of 6 channels from 8-wide ws, channels 16, conv_clamp 2, every parameter random)
in eval (fused modulated convolutions) and train mode (unfused) with constant noise, and without noise.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RENDER_SEED = 123
OPTIONS = dict(ray_start=2.25, ray_end=3.3, box_warp=1.0, depth_resolution=12, depth_resolution_importance=12,
               clamp_mode="softplus", disparity_space_sampling=False, white_back=False)


def inputs():
    """The seeded inputs both implementations get: cameras (c [2,25]), triplanes, decoder weights."""
    from core.cameras import Cameras, eg3d_frame, to_eg3d
    scale, offset = eg3d_frame()
    fov = math.degrees(2 * math.atan(0.5 / 4.2647))
    c = to_eg3d(Cameras.from_spherical([5.0, -10.0], [0.0, 25.0], [1.8, 1.8], [fov, fov]), scale, offset)
    g = torch.Generator().manual_seed(0)
    planes = torch.randn(2, 3, 8, 16, 16, generator=g)
    w1, w2 = torch.randn(8, 16, generator=g) / 8 ** 0.5, torch.randn(16, 1 + 8, generator=g) / 4
    return {"c": c, "planes": planes, "decoder_w1": w1, "decoder_w2": w2}


def decoder(w1, w2):
    """A decoder in the renderer's protocol: features [N,3,M,C] -> sigma [N,M,1], rgb [N,M,C] (planes averaged)."""
    def run(features, directions):
        x = torch.nn.functional.softplus(features.mean(1) @ w1) @ w2
        return {"sigma": x[..., :1], "rgb": torch.sigmoid(x[..., 1:]) * (1 + 2 * 0.001) - 0.001}
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eg3d", required=True, help="the eg3d/ folder of a NVlabs/eg3d checkout")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "data"))
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.eg3d))
    from training.volumetric_rendering.ray_sampler import RaySampler
    from training.volumetric_rendering.renderer import ImportanceRenderer
    x = inputs()
    c = x["c"]
    origins, dirs = RaySampler()(c[:, :16].view(-1, 4, 4), c[:, 16:25].view(-1, 3, 3), 8)
    torch.manual_seed(RENDER_SEED)
    rgb, depth, weights = ImportanceRenderer()(x["planes"], decoder(x["decoder_w1"], x["decoder_w2"]), origins,
                                              dirs, dict(OPTIONS))
    save(os.path.join(a.out_dir, "eg3d_render_reference.safetensors"),
         dict(x, ray_origins=origins, ray_directions=dirs, rgb=rgb, depth=depth, weight_sum=weights))
    save(os.path.join(a.out_dir, "eg3d_networks_reference.safetensors"), networks())


def networks() -> dict:
    from training.networks_stylegan2 import MappingNetwork
    from training.triplane import OSGDecoder
    torch.manual_seed(1)
    mapping = MappingNetwork(z_dim=8, c_dim=25, w_dim=8, num_ws=4, num_layers=2)
    mapping.w_avg.copy_(torch.randn(8))
    decoder = OSGDecoder(8, {"decoder_lr_mul": 1, "decoder_output_dim": 8})
    g = torch.Generator().manual_seed(2)
    z, c, feats = torch.randn(3, 8, generator=g), torch.randn(3, 25, generator=g), torch.randn(2, 3, 5, 8, generator=g)
    out = {f"mapping.{k}": v for k, v in mapping.state_dict().items()}
    out.update({f"decoder.{k}": v for k, v in decoder.state_dict().items()})
    from training.networks_stylegan2 import SynthesisNetwork
    torch.manual_seed(3)
    synthesis = SynthesisNetwork(w_dim=8, img_resolution=16, img_channels=6, channel_base=64, channel_max=16,
                                 num_fp16_res=0, conv_clamp=2.0, fused_modconv_default="inference_only")
    with torch.no_grad():  # every parameter random (biases, noise strengths too), so that each one shows
        for p in synthesis.parameters():
            p.copy_(torch.randn(p.shape) * 0.5 + (1.0 if p.ndim == 1 and p.shape[0] in (8, 16) else 0.0))
    ws_in = torch.randn(2, synthesis.num_ws, 8, generator=g)
    out.update({f"synthesis.{k}": v for k, v in synthesis.state_dict().items()})
    with torch.no_grad():
        out["synthesis_ws"] = ws_in
        out["image_fused"] = synthesis.eval()(ws_in, noise_mode="const")
        out["image_unfused"] = synthesis.train()(ws_in, noise_mode="const")
        out["image_no_noise"] = synthesis.eval()(ws_in, noise_mode="none")
    with torch.no_grad():
        dec = decoder(feats, None)
        out.update(z=z, c=c, features=feats, ws=mapping(z, c), ws_truncated=mapping(z, c, truncation_psi=0.7),
                   ws_truncated_2=mapping(z, c, truncation_psi=0.7, truncation_cutoff=2), sigma=dec["sigma"],
                   decoder_rgb=dec["rgb"])
    return out


def save(path: str, tensors: dict):
    from safetensors.torch import save_file
    tmp = path + ".partial"
    save_file({k: v.contiguous() for k, v in tensors.items()}, tmp)
    os.replace(tmp, path)
    print(f"wrote {path}: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in tensors.items()))


if __name__ == "__main__":
    main()
