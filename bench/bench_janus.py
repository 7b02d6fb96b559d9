#!/usr/bin/env python3
"""The Janus table: does text-to-3D put the object's front where it belongs, all around?

For every asymmetric world object (core.evaluate.asymmetric_objects), three runs of the dreamfusion_world recipe
(NeuS, 32², 300 steps): (a) SDS with the world prior in 2D mode (the camera ignored, as a text-to-image model),
(b) SDS with the view-aware prior, (c) MVDream's multi-view SDS with the prior's joint multi-view mode. Prints
IoU, back-view PSNR and the Janus probe (core.evaluate.janus_probe): the mean azimuth error of held-out views'
best-matching true views (random: ~90°) and the fraction off by more than 45° (random: ~0.75).

    .host/venv/bin/python bench/bench_janus.py [--objects duck chair] [--steps 300]
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from core.evaluate import asymmetric_objects, dreamfusion_on_world, evaluate_field, janus_probe  # noqa: E402
from core.world import get_object  # noqa: E402

RUNS = {"(a) SDS, 2D prior": dict(method="sds", mode="2D"),
        "(b) SDS, view-aware prior": dict(method="sds", mode="view-aware"),
        "(c) multi-view SDS": dict(method="mvsds", mode="multi-view")}


def janus_row(name: str, run: str, steps: int = 300, **kw) -> dict:
    obj = get_object(name)
    res = dreamfusion_on_world(obj, steps=steps, **(RUNS[run] | kw))
    return evaluate_field(res.field, obj, resolution=32) | janus_probe(res.field, obj) | {"seconds": res.seconds}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", nargs="+", default=None, help="default: every asymmetric world object")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--cfg", type=float, default=None, help="guidance of every run (default: the recipe's 10)")
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    names = args.objects or asymmetric_objects()
    extra = {} if args.cfg is None else {"guidance_scale": args.cfg}
    print(f"{'object':10s} {'run':28s} {'IoU':>6s} {'back PSNR':>9s} {'az. error':>9s} {'>45°':>6s} {'s':>5s}")
    for name in names:
        for run in RUNS:
            r = janus_row(name, run, args.steps, **extra)
            print(f"{name:10s} {run:28s} {r['iou']:6.3f} {r['back_psnr']:9.2f} {r['azimuth_error']:8.1f}° "
                  f"{r['janus_fraction']:6.2f} {r['seconds']:5.0f}", flush=True)


if __name__ == "__main__":
    main()
