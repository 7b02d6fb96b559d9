#!/usr/bin/env python3
"""IoU and surface error of every world object's exported true mesh (GLB written, read back), against the
object's exact occupancy and signed distance (surface error: mean |SDF| at 20k points sampled on the mesh). The figures tests/host asserts (IoU >= 0.95) for the files the host writes.

    .host/venv/bin/python bench/bench_true_mesh_iou.py [--resolution 128]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from core.mesh.export import encode, load_mesh  # noqa: E402
import torch  # noqa: E402

from core.metrics import mesh_iou  # noqa: E402
from core.world import get_object, object_names, occupancy, sdf, true_mesh  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, default=128, help="marching-cubes resolution of the exported mesh")
    ap.add_argument("--iou-resolution", type=int, default=128)
    args = ap.parse_args()
    print(f"{'object':10s} {'asymmetry':>26s} {'faces':>7s} {'GLB KiB':>8s} {'IoU':>7s} {'|sdf| mm':>10s} {'s':>5s}")
    for name in object_names():
        obj = get_object(name)
        t0 = time.perf_counter()
        mesh = true_mesh(obj, args.resolution)
        data = encode(mesh, "glb")
        back = load_mesh(data, "glb")
        value = mesh_iou(back, lambda p: occupancy(obj, p), args.iou_resolution)
        cd = sdf(obj, back.sample_surface(20000, torch.Generator().manual_seed(0))).abs().mean().item()
        print(f"{name:10s} {obj.asymmetry or '-':>26s} {back.num_faces:7d} {len(data) / 1024:8.0f} {value:7.4f} "
              f"{cd * 1000:10.2f} {time.perf_counter() - t0:5.1f}")


if __name__ == "__main__":
    main()
