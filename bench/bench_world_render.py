#!/usr/bin/env python3
"""World renderer throughput: rays per second of exact sphere-traced renders (rgb, alpha, depth, normals).

    .host/venv/bin/python bench/bench_world_render.py [--device cpu|cuda] [--objects sphere snowman ...]

Prints one line per (object, resolution): rays/s counts primary rays (height*width*views*supersample^2), median of
repeats. Figures, not a timed test: the machine is shared.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from core.cameras import orbit  # noqa: E402
from core.world import get_object, render_object  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--objects", nargs="+", default=["sphere", "mug", "snowman", "chair"])
    ap.add_argument("--resolutions", nargs="+", type=int, default=[64, 256])
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--supersample", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    print(f"{'object':10s} {'res':>5s} {'views':>5s} {'rays':>9s} {'seconds':>8s} {'rays/s':>10s}")
    for name in args.objects:
        obj = get_object(name)
        cams = orbit(args.views, elevation=20, distance=1.8, fov=40).to(args.device)
        for res in args.resolutions:
            render_object(obj, cams, 16, supersample=1)  # warm-up
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                render_object(obj, cams, res, supersample=args.supersample)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
            rays = res * res * args.views * args.supersample ** 2
            t = statistics.median(times)
            print(f"{name:10s} {res:5d} {args.views:5d} {rays:9d} {t:8.3f} {rays / t:10.0f}")


if __name__ == "__main__":
    main()
