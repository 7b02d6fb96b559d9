#!/usr/bin/env python3
"""The flow path on the world, judged on the whole catalogue: the World Prior in its flow form (x = (1 - sigma) x0 +
sigma eps over SD3's shifted sigma table, velocity out, driven as ComfyUI drives SD3 / Flux) with SDS, RFDS and
RFDS-Rev (RFDS after one iRFDS inversion step), beside the DDPM World Prior's SDS: the shipped DreamFusion world
recipe (NeuS + eikonal, 32², 300 steps, guidance 10) in every row, only the noise form, the gradient's form and its
weighting changed. Prints IoU, held-out PSNR and seconds per object and row, then per row the mean and the largest
IoU gap to DDPM SDS.

    .host/venv/bin/python bench/bench_flow_world.py                         # 16 objects x 4 rows (~30 min, 2 cores)
    .host/venv/bin/python bench/bench_flow_world.py --objects duck torus --rows "flow sds" rfds
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_sds_world import run_jobs  # noqa: E402

FLOW = {"noise": "flow", "flow_shift": 3.0}
ROWS = {
    "ddpm sds": {},
    "flow sds": {"noise": FLOW},
    "rfds": {"noise": FLOW, "form": "rfds", "weighting": "rfds"},
    "rfds-rev": {"noise": FLOW, "form": "rfds-rev", "weighting": "rfds"},
}


def run_one(job):
    from core.recipes import judge_on_world
    name, row, kw = job
    return judge_on_world(name, "sds", **(ROWS[row] | kw)) | {"object": name, "row": row}


def main():
    from core.world import object_names
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", nargs="+", default=None, help="default: all 16 world objects")
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--steps", type=int, default=None, help="default: the recipe's (300)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                    help="any other keyword of core.recipes.dreamfusion_on_world, e.g. guidance_scale=20")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args()
    names = args.objects or object_names()
    kw = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.steps is not None:
        kw["steps"] = args.steps
    jobs = [(n, r, kw) for n in names for r in args.rows]
    print(f"{'object':10s} {'row':9s} {'IoU':>6s} {'F@.02':>6s} {'PSNR':>6s} {'s':>5s}", flush=True)
    rows = []
    for r in run_jobs(run_one, jobs, args.workers):
        print(f"{r['object']:10s} {r['row']:9s} {r['iou']:6.3f} {r['fscore']:6.3f} {r['psnr']:6.2f} {r['seconds']:5.0f}", flush=True)
        rows.append(r)
    base = {r["object"]: r for r in rows if r["row"] == "ddpm sds"}
    for row in args.rows:
        sel = [r for r in rows if r["row"] == row]
        line = (f"{row}: mean IoU {sum(r['iou'] for r in sel) / len(sel):.3f}, mean PSNR "
                f"{sum(r['psnr'] for r in sel) / len(sel):.2f}")
        paired = [(r["iou"] - base[r["object"]]["iou"], r["object"]) for r in sel if r["object"] in base]
        if row != "ddpm sds" and paired:
            worst = min(paired)
            line += (f"; IoU - DDPM SDS: worst {worst[0]:+.3f} ({worst[1]}), within 0.05 on "
                     f"{sum(d >= -0.05 for d, _ in paired)}/{len(paired)}")
        print(line, flush=True)
    flows = [r for r in args.rows if r != "ddpm sds"]
    if len(flows) > 1:
        best = {}
        for n in names:
            cand = [r for r in rows if r["object"] == n and r["row"] in flows]
            if cand:
                top = max(cand, key=lambda r: r["iou"])
                best.setdefault(top["row"], []).append(n)
        print("best flow row by IoU: " + "; ".join(f"{k} on {len(v)} ({', '.join(v)})" for k, v in best.items()))


if __name__ == "__main__":
    main()
