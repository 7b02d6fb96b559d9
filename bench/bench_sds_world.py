#!/usr/bin/env python3
"""DreamFusion on the primitive world's reference prior (core only, no host): SDS from a NeRF or NeuS field at
32², the recipe of workflows/dreamfusion_world.json (NeuS + eikonal, 300 steps, 24 samples per ray). Prints, per object: IoU, held-out PSNR, silhouette IoU,
seconds per step, and where a step's time goes (render, prior, backward + Adam).

    .host/venv/bin/python bench/bench_sds_world.py --objects cube duck mushroom house --breakdown
    .host/venv/bin/python bench/bench_sds_world.py --kind nerf --objects cube duck
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from core.evaluate import dreamfusion_on_world, evaluate_field  # noqa: E402
from core.world import get_object  # noqa: E402


def time_breakdown(steps: int = 30):
    """Seconds per step in render / prior / backward, measured by wrapping the parts of one run."""
    from core.guidance.sds import SDSLoss
    from core.fields import Field
    spent = {"render": 0.0, "prior": 0.0}
    orig_render, orig_guided = Field.render_views, SDSLoss.guided_eps

    def render(self, *a, **k):
        t0 = time.perf_counter()
        out = orig_render(self, *a, **k)
        spent["render"] += time.perf_counter() - t0
        return out

    def guided(self, *a, **k):
        t0 = time.perf_counter()
        out = orig_guided(self, *a, **k)
        spent["prior"] += time.perf_counter() - t0
        return out

    Field.render_views, SDSLoss.guided_eps = render, guided
    try:
        res = dreamfusion_on_world(get_object("cube"), "neus", steps=steps, lr=0.02)
    finally:
        Field.render_views, SDSLoss.guided_eps = orig_render, orig_guided
    total = res.seconds / steps
    r, p = spent["render"] / steps, spent["prior"] / steps
    print(f"time per step over {steps} steps: {total:.3f} s = render {r:.3f} + prior {p:.3f} "
          f"+ backward/Adam/other {total - r - p:.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", nargs="+", default=["cube", "sphere", "duck", "snowman"])
    ap.add_argument("--kind", default="neus", choices=["nerf", "neus"])
    ap.add_argument("--mode", default="view-aware", choices=["view-aware", "2D"])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=None, help="default: 0.02 for NeuS, 0.05 for NeRF")
    ap.add_argument("--cfg", type=float, default=10.0)
    ap.add_argument("--method", default="sds", choices=["sds", "vsd"])
    ap.add_argument("--estimator-lr", type=float, default=1e-3, help="VSD only")
    ap.add_argument("--estimator-steps", type=int, default=0, help="VSD only; 0 = the estimator's default")
    ap.add_argument("--estimator", default="auto", help="VSD only: auto, renders, prior + residual")
    ap.add_argument("--breakdown", action="store_true", help="also time the parts of a step")
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    if args.breakdown:
        time_breakdown()
    for name in args.objects:
        obj = get_object(name)
        lr = args.lr or {"neus": 0.02, "nerf": 0.05}[args.kind]
        extra = dict(estimator=args.estimator, estimator_lr=args.estimator_lr,
                     estimator_steps=args.estimator_steps) if args.method == "vsd" else {}
        res = dreamfusion_on_world(obj, args.kind, args.steps, lr, args.cfg, args.mode, method=args.method, **extra)
        m = evaluate_field(res.field, obj, resolution=32)
        key = "sds/sds" if args.method == "sds" else "vsd/estimator"
        first = sum(h[key] for h in res.history[:20]) / 20
        last = sum(h[key] for h in res.history[-20:]) / 20
        print(f"{name:10s} {args.method} IoU {m['iou']:.3f}  held-out PSNR {m['psnr']:5.2f}  silhouette IoU "
              f"{m['silhouette_iou']:.3f}  {key} {first:.3f} -> {last:.3f}  "
              f"{res.seconds / res.steps_done:.3f} s/step ({res.steps_done} steps, {res.seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
