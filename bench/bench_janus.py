#!/usr/bin/env python3
"""The Janus table: does text-to-3D put the object's front where it belongs, all around?

For every world object (default; the probe means something on the asymmetric ones, core.evaluate.asymmetric_objects,
marked in the table), three runs of the dreamfusion_world recipe (NeuS, 32², 300 steps, its backgrounds): (a) SDS
with the world prior in 2D mode (the camera ignored, as a text-to-image model), (b) SDS with the view-aware prior
(the 'sds' recipe), (c) MVDream's multi-view SDS with the prior's joint multi-view mode (the 'mvsds' recipe).
Prints IoU, back-view PSNR and the Janus probe (core.evaluate.janus_probe): the mean azimuth error of held-out
views' best-matching true views (random: ~90°) and the fraction off by more than 45° (random: ~0.75).

    .host/venv/bin/python bench/bench_janus.py [--objects duck chair] [--asymmetric] [--steps 300]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench_sds_world import run_jobs  # noqa: E402

# the catalogue object alone (members 1): bench_families.py mvdream has the table over families
RUNS = {"(a) SDS, 2D prior": dict(method="sds", mode="2D", members=1),
        "(b) SDS, view-aware prior": dict(method="sds", mode="view-aware", members=1),
        "(c) multi-view SDS": dict(method="mvsds", mode="multi-view", members=1)}


def janus_row(job) -> dict:
    from core.evaluate import evaluate_field, janus_probe
    from core.recipes import dreamfusion_on_world
    from core.world import get_object
    name, run, kw = job
    obj = get_object(name)
    res = dreamfusion_on_world(obj, **(RUNS[run] | kw))
    return (evaluate_field(res.field, obj, resolution=32) | janus_probe(res.field, obj)
            | {"seconds": res.seconds, "object": name, "run": run})


def main():
    from core.evaluate import asymmetric_objects
    from core.world import object_names
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", nargs="+", default=None, help="default: all 16 world objects")
    ap.add_argument("--asymmetric", action="store_true", help="only the asymmetric objects")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--cfg", type=float, default=None, help="guidance of every run (default: the recipe's 10)")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args()
    asym = set(asymmetric_objects())
    names = args.objects or (sorted(asym, key=object_names().index) if args.asymmetric else object_names())
    kw = {"steps": args.steps} | ({} if args.cfg is None else {"guidance_scale": args.cfg})
    print(f"{'object':12s} {'run':28s} {'IoU':>6s} {'F@.02':>6s} {'back PSNR':>9s} {'az. error':>9s} {'>45°':>6s} {'s':>5s}")
    jobs = [(n, run, kw) for n in names for run in RUNS]
    for r in run_jobs(janus_row, jobs, args.workers):
        name = r["object"] + ("" if r["object"] in asym else " (sym)")
        print(f"{name:12s} {r['run']:28s} {r['iou']:6.3f} {r['fscore']:6.3f} {r['back_psnr']:9.2f} {r['azimuth_error']:8.1f}° "
              f"{r['janus_fraction']:6.2f} {r['seconds']:5.0f}", flush=True)


if __name__ == "__main__":
    main()
