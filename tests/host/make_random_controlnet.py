#!/usr/bin/env python3
"""Write a randomly initialized SD 1.5 ControlNet in the original single-file layout (control_model.input_blocks.*,
control_model.input_hint_block.*, control_model.zero_convs.*, control_model.middle_block_out.*), as safetensors:
what ComfyUI's ControlNetLoader reads from models/controlnet (control_v11f1p_sd15_depth is this layout).

Built from ComfyUI's own ControlNet class (run with the host's python, ComfyUI's folder as --comfyui). Every weight
is random, the zero convolutions too (a trained ControlNet starts them at zero; here they must not be, so that the
hint visibly steers the sampler and a view given the wrong hint shows).

    python tests/host/make_random_controlnet.py --comfyui .host/ComfyUI --out cn.safetensors [--small]

--small: the layout of make_random_sd15.py --small (one resolution level), to pair with that checkpoint.
"""
from __future__ import annotations

import argparse
import os

from make_random_sd15 import SMALL_UNET, UNET, import_comfy, init_


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--small", action="store_true", help="one-level layout (tests); default: full size")
    a = ap.parse_args()
    import_comfy(a.comfyui)
    import torch
    import comfy.cldm.cldm
    import comfy.ops
    import comfy.utils

    config = {k: v for k, v in (SMALL_UNET if a.small else UNET).items() if k != "out_channels"}
    net = comfy.cldm.cldm.ControlNet(hint_channels=3, dtype=torch.float32, device="cpu",
                                     operations=comfy.ops.disable_weight_init, **config)
    g = torch.Generator().manual_seed(a.seed)
    init_(net, g)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.ndim < 2:
                continue
            if name.startswith("input_hint_block"):  # the hint's 8 convolutions at N(0, 0.02) would shrink it by
                # ~1e-5: He-scaled so that the hint reaches the U-Net's features
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / p[0].numel()) ** 0.5)
            elif name.startswith(("zero_convs", "middle_block_out")):  # what the U-Net receives: make it count
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    dt = torch.float16 if a.dtype == "fp16" else torch.float32
    sd = {f"control_model.{k}": v.to(dt).contiguous() for k, v in net.state_dict().items()}
    tmp = a.out + ".partial"
    comfy.utils.save_torch_file(sd, tmp)
    os.replace(tmp, a.out)
    print(f"wrote {a.out}: {len(sd)} tensors, {sum(v.numel() for v in sd.values()) / 1e6:.1f}M values")


if __name__ == "__main__":
    main()
