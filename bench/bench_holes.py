#!/usr/bin/env python3
"""Through-holes in NeuS reconstructions, without and with space carving (Reference Views Loss free_space_weight):
a hex nut of the bench's own making, written as a PLY file, rendered into a posed folder and read by Load Views, and
the world torus; 600 steps, 24 views, several seeds.

    PYTHONPATH=. .host/venv/bin/python bench/bench_holes.py [--seeds 0 1 2 3] [--steps 600] [--weights 0 1]

Columns: IoU against the true shape (96³), alpha of the ray along the hole's axis through its centre (light passes
where it is ~0), the hole's filled share (of the true hole's voxels, how many the reconstruction fills) and seconds.
tests/core/test_holes.py asserts the nut at 400 steps.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import torch  # noqa: E402


def _run(job):
    torch.set_num_threads(1)
    from core.evaluate import mesh_iou
    from core.mesh.extract import field_mesh
    from core.recipes import fit_views, fit_to_views
    from core.world import get_object, grid_points, occupancy
    shape, weight, seed, steps = job
    t0 = time.time()
    if shape == "nut":
        from posed_views import nut_scene
        with tempfile.TemporaryDirectory() as root:
            views, occ, centre, axis = nut_scene(root)
        field = fit_views(views.images, views.cameras, views.masks, steps=steps, seed=seed,
                          free_space_weight=weight).field
    else:
        obj = get_object("torus")
        occ = lambda p: occupancy(obj, p)  # noqa: E731
        centre, axis = torch.zeros(3), torch.tensor([0.0, 0.0, 1.0])
        field = fit_to_views(obj, steps=steps, seed=seed, free_space_weight=weight).field
    iou = mesh_iou(field_mesh(field, 96), occ, 96)
    with torch.no_grad():
        alpha = float(field.render_rays((centre + 2 * axis)[None], -axis[None], perturb=False).alpha[0])
        pts = grid_points(64).reshape(-1, 3)
        near_axis = ((pts - centre) - ((pts - centre) @ axis)[:, None] * axis).norm(dim=-1) < 0.06
        hole = near_axis & ~occ(pts) & (((pts - centre) @ axis).abs() < 0.1)
        filled = float((torch.cat([field.geometry_value(c) for c in pts[hole].split(65536)]) < 0).float().mean())
    return shape, weight, seed, iou, alpha, filled, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0])
    ap.add_argument("--shapes", nargs="+", default=["nut", "torus"])
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    jobs = [(s, w, seed, a.steps) for s in a.shapes for w in a.weights for seed in a.seeds]
    print(f"{'shape':6s} {'carving':>7s} {'seed':>4s} {'IoU':>6s} {'alpha':>6s} {'filled':>6s} {'s':>5s}", flush=True)
    rows = []
    with ProcessPoolExecutor(a.workers) as pool:
        for r in pool.map(_run, jobs):
            rows.append(r)
            print(f"{r[0]:6s} {r[1]:7g} {r[2]:4d} {r[3]:6.3f} {r[4]:6.3f} {r[5]:6.3f} {r[6]:5.0f}", flush=True)
    for s in a.shapes:
        for w in a.weights:
            rs = [r for r in rows if r[0] == s and r[1] == w]
            opened = sum(r[4] < 0.5 for r in rs)
            print(f"{s} carving {w:g}: mean IoU {sum(r[3] for r in rs) / len(rs):.3f}, min {min(r[3] for r in rs):.3f}, "
                  f"hole open (alpha < 0.5) on {opened}/{len(rs)} seeds", flush=True)


if __name__ == "__main__":
    main()
