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

The third (eg3d_generator_reference): EG3D's whole TriPlaneGenerator at a tiny size (GENERATOR_KWARGS), its
weights from seeded_state() by name (not stored: the test gives ours the same by the same names), the names
and shapes of its state dict in the file's metadata, and its outputs (image, image_raw, image_depth), and the image
of synthesis from a different w per layer.

The fourth (eg3d_narrow_reference): the same tiny generator with a narrow mapping (NARROW_KWARGS: 3 layers, 64
features between them, a 32-wide camera embedding, w 512) rendered at neural rendering 64², where EG3D's 2X head
takes the render unresized and adds its first block's RGB into it in place: the fixture keeps EG3D's image_raw
(render + that RGB) and the render itself as the head received it (image_render), with ws, image, image_depth.

    python scripts/make_eg3d_reference.py --eg3d /path/to/eg3d/eg3d --check-heads   # writes nothing

compares instead this port's super-resolution heads with EG3D's own (2X, 4X, 8X, 8XDC; seeded weights, fp16 clamps,
inputs below and at each head's input size) and prints the largest differences of the image and of the RGB tensor
each head was given (EG3D's heads add into it in place); no fixture, their fixed widths make them slow on a CPU.
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
    ap.add_argument("--check-heads", action="store_true", help="compare the super-resolution heads, write nothing")
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.eg3d))
    if a.check_heads:
        return check_heads()
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
    save(os.path.join(a.out_dir, "eg3d_generator_reference.safetensors"), *generator())
    save(os.path.join(a.out_dir, "eg3d_narrow_reference.safetensors"), *narrow_generator())


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


GENERATOR_KWARGS = dict(
    z_dim=8, c_dim=25, w_dim=512, img_resolution=128, img_channels=3, sr_num_fp16_res=0,
    mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=16, num_fp16_res=0, conv_clamp=None,
    fused_modconv_default="inference_only", sr_kwargs={"channel_base": 256, "channel_max": 16,
                                                       "fused_modconv_default": "inference_only"},
    rendering_kwargs=dict(OPTIONS, depth_resolution=6, depth_resolution_importance=6, c_gen_conditioning_zero=False,
                          c_scale=1.0, sr_antialias=True, superresolution_noise_mode="none", decoder_lr_mul=1.0,
                          superresolution_module="training.superresolution.SuperresolutionHybrid2X",
                          avg_camera_radius=2.7, avg_camera_pivot=[0, 0, 0.2]))
NEURAL_RESOLUTION = 16


def seeded_state(shapes: dict, seed: int = 4) -> dict:
    """Values for every parameter and buffer by name (its own seeded generator each, so that any two modules with
    the same names get the same weights): N(0, 0.5²), resampling filters excepted (they are fixed constants)."""
    import zlib
    out = {}
    for name, shape in sorted(shapes.items()):
        if name.endswith("resample_filter"):
            continue
        g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        out[name] = torch.randn(tuple(shape), generator=g) * 0.5
    return out


def generator() -> tuple[dict, dict]:
    """EG3D's TriPlaneGenerator at a tiny size (z 8, backbone channels <= 16, the 2x super-resolution head to 128²,
    16² rendering with 6 + 6 samples), seeded weights: outputs for two z and cameras, mapping with truncation 0.7."""
    import json
    from training.triplane import TriPlaneGenerator
    kwargs = {k: v for k, v in GENERATOR_KWARGS.items()}
    rk = kwargs.pop("rendering_kwargs")
    g = TriPlaneGenerator(rendering_kwargs=dict(rk), **kwargs).eval()
    state = g.state_dict()
    with torch.no_grad():
        for name, value in seeded_state({k: list(v.shape) for k, v in state.items()}).items():
            state[name].copy_(value)
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(5))
    c = inputs()["c"]
    torch.manual_seed(RENDER_SEED)
    with torch.no_grad():
        out = g(z, c, truncation_psi=0.7, neural_rendering_resolution=NEURAL_RESOLUTION, noise_mode="const")
        ws = torch.randn(2, g.backbone.num_ws, 512, generator=torch.Generator().manual_seed(6))  # a w per layer
        torch.manual_seed(RENDER_SEED)
        mixed = g.synthesis(ws, c, neural_rendering_resolution=NEURAL_RESOLUTION, noise_mode="const")
    tensors = {"z": z, "c": c, "image": out["image"], "image_raw": out["image_raw"], "image_depth": out["image_depth"],
               "ws_mixed": ws, "image_mixed": mixed["image"]}
    meta = {"state_dict": json.dumps({k: list(v.shape) for k, v in state.items()})}
    return tensors, meta


NARROW_KWARGS = dict(GENERATOR_KWARGS, mapping_kwargs={"num_layers": 3, "layer_features": 64, "embed_features": 32})
NARROW_RESOLUTION = 64


def narrow_generator() -> tuple[dict, dict]:
    """EG3D's TriPlaneGenerator with a narrow mapping (NARROW_KWARGS), seeded weights, rendered at 64² (its 2X head's
    own input size): ws with truncation 0.7, image, image_raw, image_depth, and the render as the head got it."""
    import json
    from training.triplane import TriPlaneGenerator
    kwargs = {k: v for k, v in NARROW_KWARGS.items()}
    rk = kwargs.pop("rendering_kwargs")
    g = TriPlaneGenerator(rendering_kwargs=dict(rk), **kwargs).eval()
    state = g.state_dict()
    with torch.no_grad():
        for name, value in seeded_state({k: list(v.shape) for k, v in state.items()}, seed=7).items():
            state[name].copy_(value)
    given = {}

    def keep_render(module, args):  # the render as the head gets it, before the head adds into it
        given["rgb"] = args[0].clone()
    g.superresolution.register_forward_pre_hook(keep_render)
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(8))
    c = inputs()["c"]
    with torch.no_grad():
        ws = g.mapping(z, c, truncation_psi=0.7)
        torch.manual_seed(RENDER_SEED)
        out = g.synthesis(ws, c, neural_rendering_resolution=NARROW_RESOLUTION, noise_mode="const")
    tensors = {"z": z, "c": c, "ws": ws, "image": out["image"], "image_raw": out["image_raw"],
               "image_render": given["rgb"], "image_depth": out["image_depth"]}
    meta = {"state_dict": json.dumps({k: list(v.shape) for k, v in state.items()})}
    return tensors, meta


def check_heads():
    """Each of EG3D's super-resolution heads against ours with the same seeded weights and inputs: the image and
    the RGB tensor the head was given (which EG3D's heads may add into), largest absolute differences."""
    import training.superresolution as sr
    from core.gan.eg3d import Superresolution
    sr_kwargs = dict(channel_base=256, channel_max=16, fused_modconv_default="inference_only")
    for name, out_res, in_res in (("SuperresolutionHybrid2X", 128, 64), ("SuperresolutionHybrid2X", 128, 32),
                                  ("SuperresolutionHybrid4X", 256, 128), ("SuperresolutionHybrid4X", 256, 64),
                                  ("SuperresolutionHybrid8X", 512, 64), ("SuperresolutionHybrid8XDC", 512, 128)):
        theirs = getattr(sr, name)(channels=32, img_resolution=out_res, sr_num_fp16_res=4, sr_antialias=True,
                                   **sr_kwargs).eval()
        ours = Superresolution(f"training.superresolution.{name}", 32, out_res, 512, 4, True, sr_kwargs=sr_kwargs)
        state = theirs.state_dict()
        with torch.no_grad():
            for k, v in seeded_state({k: list(v.shape) for k, v in state.items()}).items():
                state[k].copy_(v)
        ours.load_state_dict(theirs.state_dict(), strict=True)
        g = torch.Generator().manual_seed(9)
        x, ws = torch.randn(1, 32, in_res, in_res, generator=g), torch.randn(1, 3, 512, generator=g)
        with torch.no_grad():
            given = x.clone()
            image = theirs(given[:, :3], given, ws, noise_mode="const")
            mine, raw = ours.eval().run(x[:, :3].clone(), x.clone(), ws, noise_mode="const")
        print(f"{name} from {in_res}²: image {float((image - mine).abs().max()):.3g} (std {float(image.std()):.3g}), "
              f"given RGB {float((given[:, :3] - raw).abs().max()):.3g} (EG3D added "
              f"{float((given[:, :3] - x[:, :3]).abs().max()):.3g} into it)")


def save(path: str, tensors: dict, metadata: dict | None = None):
    from safetensors.torch import save_file
    tmp = path + ".partial"
    save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
    os.replace(tmp, path)
    print(f"wrote {path}: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in tensors.items()))


if __name__ == "__main__":
    main()
