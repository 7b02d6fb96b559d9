#!/usr/bin/env python3
"""Text-to-3D on the primitive world's exact prior, judged on the whole catalogue: for every world object and each
recipe of the shipped world workflows (core.recipes.WORLD_RECIPES: DreamFusion's view-aware SDS, MVDream's
multi-view SDS, ProlificDreamer's VSD; NeuS + eikonal, 32², 300 steps), one table of IoU (96³ and 64³), F-score at
0.02 and Chamfer distance (core.metrics: fair to thin parts, which IoU punishes for voxel rounding), held-out PSNR,
silhouette IoU and seconds. Objects with a cavity (the mug) are marked: their IoU needs views into the cavity, so
their silhouette IoU and PSNR are the figures to read.

    .host/venv/bin/python bench/bench_sds_world.py                      # all 16 objects x sds, mvsds, vsd
    .host/venv/bin/python bench/bench_sds_world.py --objects snowman torus --methods sds
    .host/venv/bin/python bench/bench_sds_world.py --random-background 0 # the recipe without random backgrounds
    .host/venv/bin/python bench/bench_sds_world.py --breakdown --objects cube --methods sds

Runs go to --workers processes of one torch thread each (2: the fastest on a 2-core machine, see
bench/bench_test_threads.py); seconds are each run's own wall time under that load.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def time_breakdown(name: str, steps: int = 30):
    """Seconds per step in render / prior / backward, measured by wrapping the parts of one SDS run."""
    import torch  # noqa: F401
    from core.recipes import dreamfusion_on_world
    from core.fields import Field
    from core.losses.sds import SDSLoss
    from core.world import get_object
    spent = {"render": 0.0, "prior": 0.0}
    orig_render, orig_guided = Field.render_views, SDSLoss.guided_eps

    def timed(fn, key):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            out = fn(*a, **k)
            spent[key] += time.perf_counter() - t0
            return out
        return wrapper

    Field.render_views, SDSLoss.guided_eps = timed(orig_render, "render"), timed(orig_guided, "prior")
    try:
        res = dreamfusion_on_world(get_object(name), steps=steps)
    finally:
        Field.render_views, SDSLoss.guided_eps = orig_render, orig_guided
    total = res.seconds / steps
    r, p = spent["render"] / steps, spent["prior"] / steps
    print(f"time per step over {steps} steps: {total:.3f} s = render {r:.3f} + prior {p:.3f} "
          f"+ backward/Adam/other {total - r - p:.3f}")


def run_one(job: tuple[str, str, dict]) -> dict:
    from core.recipes import judge_on_world
    name, method, kw = job
    return judge_on_world(name, method, **kw) | {"object": name, "method": method}


def _one_thread(fn, job):
    import torch
    torch.set_num_threads(1)
    return fn(job)


def run_jobs(fn, jobs: list, workers: int):
    """fn(job) for every job in `workers` processes of one torch thread each, results in order as they come."""
    import functools
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(functools.partial(_one_thread, fn), jobs)


def main():
    from core.recipes import WORLD_RECIPES
    from core.world import get_object, object_names
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", nargs="+", default=None, help="default: all 16 world objects")
    ap.add_argument("--methods", nargs="+", default=list(WORLD_RECIPES), choices=list(WORLD_RECIPES))
    ap.add_argument("--steps", type=int, default=None, help="default: the recipe's")
    ap.add_argument("--cfg", type=float, default=None, help="guidance scale (default: the recipe's)")
    ap.add_argument("--random-background", type=float, default=None, help="default: the recipe's")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                    help="any other keyword of core.recipes.dreamfusion_on_world, e.g. t_max_end=0.4")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--breakdown", action="store_true", help="first time the parts of an SDS step")
    args = ap.parse_args()
    names = args.objects or object_names()
    kw = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    for key, val in (("steps", args.steps), ("guidance_scale", args.cfg), ("random_background",
                                                                          args.random_background)):
        if val is not None:
            kw[key] = val
    if args.breakdown:
        time_breakdown(names[0])
    jobs = [(n, m, kw) for m in args.methods for n in names]
    print(f"{'object':10s} {'method':6s} {'IoU':>6s} {'IoU64':>6s} {'F@.02':>6s} {'CD':>6s} {'PSNR':>6s} "
          f"{'sil.IoU':>7s} {'s':>5s}", flush=True)
    rows = []
    for r in run_jobs(run_one, jobs, args.workers):
        mark = " (cavity)" if get_object(r["object"]).has_cavity else ""
        print(f"{r['object']:10s} {r['method']:6s} {r['iou']:6.3f} {r['iou_64']:6.3f} {r['fscore']:6.3f} "
              f"{r['chamfer']:6.4f} {r['psnr']:6.2f} {r['silhouette_iou']:7.3f} {r['seconds']:5.0f}{mark}", flush=True)
        rows.append(r)
    for m in args.methods:
        sel = [r for r in rows if r["method"] == m]
        solid = [r for r in sel if not get_object(r["object"]).has_cavity]
        print(f"{m}: mean IoU {sum(r['iou'] for r in sel) / len(sel):.3f}, mean F-score "
              f"{sum(r['fscore'] for r in sel) / len(sel):.3f} (F >= 0.8 on {sum(r['fscore'] >= 0.8 for r in sel)}"
              f"/{len(sel)}), mean PSNR "
              f"{sum(r['psnr'] for r in sel) / len(sel):.2f}; IoU >= 0.8 on {sum(r['iou'] >= 0.8 for r in solid)}"
              f"/{len(solid)} objects without a cavity, PSNR >= 28 on {sum(r['psnr'] >= 28 for r in sel)}/{len(sel)}")


if __name__ == "__main__":
    main()
