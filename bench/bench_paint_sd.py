#!/usr/bin/env python3
"""What one painted view costs with the Checkpoint Painter: ComfyUI's own sampler on a full-size SD 1.5 (random
weights: the speed of the real one) at 512², with and without a depth ControlNet given each view its own hint,
inside the progressive painter's loop (the duck's true mesh, a 1024² texture).

    .host/venv/bin/python bench/bench_paint_sd.py [--checkpoint PATH] [--controlnet PATH] [--steps 4] [--views 2]

Defaults: the host's models/checkpoints/distill3d_test_random_sd15.safetensors and
models/controlnet/distill3d_test_random_controlnet.safetensors; a missing one is written by tests/host's
make_random_sd15.py / make_random_controlnet.py (full size, about a minute each). Printed: seconds per view for the
whole view (render, need mask, VAE encodes, sampling, decode, blend) and for the loop alone with the World Painter,
so that the sampler's share shows.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench_priors import load_comfy_checkpoint  # noqa: E402

MODELS = os.path.join(ROOT, ".host", "base", "models")


def ensure(path: str, script: str):
    """A missing random model written by its tests/host script with the host's ComfyUI (full size)."""
    if os.path.exists(path):
        return
    env = dict(line.strip().split("=", 1) for line in open(os.path.join(ROOT, ".host", "host.env")) if "=" in line)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "host", script), "--comfyui", env["comfyui"],
                    "--out", path], check=True, cwd=os.path.join(ROOT, "tests", "host"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=os.path.join(MODELS, "checkpoints", "distill3d_test_random_sd15.safetensors"))
    ap.add_argument("--controlnet", default=os.path.join(MODELS, "controlnet",
                                                         "distill3d_test_random_controlnet.safetensors"))
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--texture", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--views", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    ensure(args.checkpoint, "make_random_sd15.py")
    ensure(args.controlnet, "make_random_controlnet.py")
    model, clip, vae, _, load = load_comfy_checkpoint(args.checkpoint)
    import importlib
    import comfy.controlnet
    import nodes as comfy_nodes
    painter_mod = importlib.import_module("distill3d_pack.nodes.comfy.painter")
    from core.mesh import Mesh
    from core.mesh.texture import unwrap
    from core.texture import WorldPainter, paint_mesh, view_guides, view_sequence
    from core.world import get_object, true_mesh
    obj = get_object("duck")
    tm = true_mesh(obj, 96)
    mesh = unwrap(Mesh(tm.vertices, tm.faces))  # once, outside the timings (xatlas takes seconds)
    cams = view_sequence(views=args.views)
    pos = clip.encode_from_tokens_scheduled(clip.tokenize("a yellow rubber duck toy"))
    neg = clip.encode_from_tokens_scheduled(clip.tokenize("blurry"))
    print(f"SD 1.5 (random, full size) loaded in {load:.1f} s; {args.views} views of {args.resolution}², "
          f"{args.steps} euler steps, cfg 7.5, texture {args.texture}²", flush=True)

    def per_view(painter) -> float:
        t0 = time.perf_counter()
        paint_mesh(mesh, painter, cams, texture_size=args.texture, resolution=args.resolution)
        return (time.perf_counter() - t0) / args.views

    loop = per_view(WorldPainter(obj))
    print(f"the loop alone (World Painter): {loop:.2f} s a view", flush=True)
    plain = per_view(painter_mod.ComfyPainter(model, vae, pos, neg, 0, args.steps, 7.5, "euler", "normal", 1.0))
    print(f"Checkpoint Painter: {plain:.1f} s a view ({plain - loop:.1f} s of it ComfyUI's VAE and sampler)",
          flush=True)
    cn = comfy.controlnet.load_controlnet(args.controlnet)
    depth, _ = view_guides(mesh, cams, args.resolution)
    hint = depth[..., None].expand(-1, -1, -1, 3).contiguous()
    cpos, cneg = comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(pos, neg, cn, hint, 1.0, 0.0, 1.0)
    with_cn = per_view(painter_mod.ComfyPainter(model, vae, cpos, cneg, 0, args.steps, 7.5, "euler", "normal", 1.0))
    print(f"Checkpoint Painter + depth ControlNet (one hint per view): {with_cn:.1f} s a view "
          f"(+{with_cn - plain:.1f} s for the ControlNet)", flush=True)


if __name__ == "__main__":
    main()
