#!/usr/bin/env python3
"""DreamFusion on the primitive world's reference prior (core only, no host): SDS from a NeRF or NeuS field,
32² renders; prints the loss along the way, seconds per step, and IoU / held-out PSNR against the object.

    .host/venv/bin/python bench/bench_sds_world.py --object cube --kind nerf --steps 400 --cfg 10
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from core.cameras import CameraDistribution  # noqa: E402
from core.evaluate import evaluate_field  # noqa: E402
from core.fields import make_field  # noqa: E402
from core.guidance.sds import SDSLoss  # noqa: E402
from core.guidance.world_prior import WorldPrior  # noqa: E402
from core.optimize import optimize  # noqa: E402
from core.world import get_object  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--object", default="cube")
    ap.add_argument("--kind", default="nerf", choices=["nerf", "neus"])
    ap.add_argument("--mode", default="view-aware", choices=["view-aware", "2D"])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--cfg", type=float, default=10.0)
    args = ap.parse_args()
    prior = WorldPrior(32, args.mode)
    # the prior's render set is at distance 1.8, fov 40: the cameras match it
    dist = CameraDistribution((-10, 75), (-180, 180), (1.8, 1.8), (40, 40))
    term = SDSLoss(prior, f"a {args.object}", cameras=dist, batch=4, guidance_scale=args.cfg,
                   t_range=(0.02, 0.98), t_range_end=(0.02, 0.5))
    torch.manual_seed(0)
    field = make_field(args.kind)
    res = optimize(field, [term], args.steps, lr=0.01, seed=0, n_samples=32,
                   on_progress=lambda s, n, logs: print(s, {k: round(v, 3) for k, v in logs.items()})
                   if s % 100 == 0 else None)
    print(f"{res.steps_done} steps in {res.seconds:.1f} s ({res.seconds / max(res.steps_done, 1):.3f} s/step, "
          f"render-set build included); stopped: {res.stopped}")
    m = evaluate_field(res.field, get_object(args.object), resolution=32)
    print(f"IoU {m['iou']:.3f}  held-out PSNR {m['psnr']:.2f}  silhouette IoU {m['silhouette_iou']:.3f}")


if __name__ == "__main__":
    main()
