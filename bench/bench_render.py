#!/usr/bin/env python3
"""Renderer and encoding throughput: rays/s forward+backward for NeRF and NeuS at 64² with and without empty-space
skipping (the ratio in one run), hash-grid and dense-grid points/s, and peak memory of the process.

    .host/venv/bin/python bench/bench_render.py [--device cpu]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from core.recipes import fit_to_views  # noqa: E402
from core.fields.encodings import DenseGridEncoding, HashGridEncoding  # noqa: E402
from core.cameras import orbit  # noqa: E402
from core.render.occupancy import OccupancyGrid  # noqa: E402
from core.render.volume import render_rays  # noqa: E402
from core.world import get_object  # noqa: E402


def timed(fn, repeats=5):
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--samples", type=int, default=48)
    args = ap.parse_args()
    dev = args.device
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {dev}")
    # encodings
    pts = torch.rand(131072, 3, device=dev) * 2 - 1
    for name, enc in (("hashgrid (torch, 16 levels, 2^19)", HashGridEncoding()),
                      ("densegrid (16/32/64, 4 features)", DenseGridEncoding())):
        enc = enc.to(dev)

        def fb():
            enc(pts).sum().backward()
        t = timed(fb, 3)
        print(f"{name:36s} fwd+bwd {pts.shape[0] / t:12.0f} points/s")
    # renderers on fields fitted to a world object (so the occupancy grid has something to skip)
    for kind in ("nerf", "neus"):
        field = fit_to_views(get_object("snowman"), kind, steps=150, device=dev).field.train()
        cams = orbit(4, 20, 1.8, 40).to(dev)
        o, d = cams.rays(64)
        o, d = o.reshape(-1, 3), d.reshape(-1, 3)
        idx = torch.randperm(o.shape[0], generator=torch.Generator().manual_seed(0))[:4096].to(dev)
        grid = OccupancyGrid(field.bound, 64, device=dev)
        grid.update(field, 2 * field.bound * 1.732 / args.samples)
        rates = {}
        for label, g, mt in (("dense sampling", None, 0.0), ("skipping + early stop", grid, 1e-4)):
            def step():
                rec = render_rays(field, o[idx], d[idx], n_samples=args.samples, occupancy=g, min_transmittance=mt)
                (rec.rgb.sum() + rec.alpha.sum()).backward()
            t = timed(step, 3)
            rates[label] = idx.numel() / t
            print(f"{kind} 64² {label:22s} fwd+bwd {rates[label]:10.0f} rays/s  (occupied {grid.fraction():.1%})")
        print(f"{kind} speed-up from skipping: {rates['skipping + early stop'] / rates['dense sampling']:.2f}x")
    # rasterizer: the true snowman mesh, fwd+bwd through vertex positions and colors
    from core.render.raster import rasterize
    from core.world import true_mesh
    mesh = true_mesh(get_object("snowman"), 96)
    cams = orbit(4, 20, 1.8, 40).to(dev)
    for res in (64, 256):
        v = mesh.vertices.to(dev).requires_grad_(True)

        def rast():
            rec = rasterize(v, mesh.faces.to(dev), cams, res, attributes=mesh.vertex_colors.to(dev))
            rec.rgb.sum().backward()
        t = timed(rast, 3)
        print(f"rasterizer {mesh.num_faces} faces, 4 views at {res}²: fwd+bwd {4 / t:6.1f} views/s "
              f"({4 * res * res / t:10.0f} pixels/s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MiB")
    if dev.startswith("cuda"):
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
