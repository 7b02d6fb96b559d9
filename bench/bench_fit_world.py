#!/usr/bin/env python3
"""Photometric fitting of world objects from 24 true views at 64²: IoU and held-out PSNR per object, and the wall
time until the NeuS fit first reaches IoU 0.85 (checked every --check-every steps).

    .host/venv/bin/python bench/bench_fit_world.py --kind neus --objects cube snowman mug --steps 400
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from core.evaluate import evaluate_field  # noqa: E402
from core.recipes import fit_to_views  # noqa: E402
from core.fields import make_field  # noqa: E402
from core.world import get_object  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", default="neus", choices=["neus", "nerf"])
    ap.add_argument("--objects", nargs="+", default=["cube", "snowman", "mug", "chair", "duck", "house"])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--check-every", type=int, default=0, help="also time when IoU 0.85 is first reached")
    ap.add_argument("--lr", type=float, default=2e-2)
    args = ap.parse_args()
    print(f"{args.kind}: 24 views at 64², {args.steps} steps, torch threads {torch.get_num_threads()}")
    print(f"{'object':10s} {'IoU':>6s} {'F@.02':>6s} {'CD':>7s} {'PSNR':>6s} {'SSIM':>6s} {'silIoU':>6s} {'s':>6s} {'s to IoU .85':>12s}")
    for name in args.objects:
        obj = get_object(name)
        reached = [None]
        torch.manual_seed(0)
        field = make_field(args.kind)
        t0 = time.perf_counter()
        paused = [0.0]

        def progress(step, total, logs):
            if args.check_every and reached[0] is None and step % args.check_every == 0:
                t = time.perf_counter()
                if evaluate_field(field, obj, mesh_resolution=64)["iou"] >= 0.85:
                    reached[0] = t - t0 - paused[0]
                paused[0] += time.perf_counter() - t

        res = fit_to_views(obj, args.kind, args.steps, args.lr, on_progress=progress, field=field)
        m = evaluate_field(res.field, obj)
        r = f"{reached[0]:12.1f}" if reached[0] is not None else f"{'-':>12s}"
        print(f"{name:10s} {m['iou']:6.3f} {m['fscore']:6.3f} {m['chamfer']:7.4f} {m['psnr']:6.2f} {m['ssim']:6.3f} {m['silhouette_iou']:6.3f} "
              f"{res.seconds - paused[0]:6.1f} {r}", flush=True)


if __name__ == "__main__":
    main()
