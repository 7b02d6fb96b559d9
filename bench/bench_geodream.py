"""GeoDream on the world: the cost volume as a geometry prior, judged on every catalogue object (never trained on).

    python bench/bench_geodream.py                       # all 16: volume alone (learned, classical) from 4 sampled
                                                         # views at elevation 15; robustness; refinement vs sphere
    python bench/bench_geodream.py --objects duck house --steps 150
    python bench/bench_geodream.py --no-refine           # the volume-alone and robustness tables only (minutes)
    python bench/bench_geodream.py --refine-only --steps 100   # the refinement table only (~20 min)
    python bench/bench_geodream.py --costs-only          # builder seconds / memory per grid, refinement s/step

Per object: IoU of the volume's SDF alone, learned and classical, from the Multi-View Sampler's 4 views (world
prior, multi-view mode) with masks read off their white background, as geodream_world.json does; the learned one
again with one of the 4 views replaced by the next catalogue object's view (left out by the silhouette-consistency
check; in brackets: kept, so only the variance aggregation copes), from 8 views,
from views at elevation 30 (trained: -10..50, random), and from six views alternating 20° / -10° (Zero123++'s set,
sampled as one group; in brackets the classical volume's IoU from them); F@.02 (core.metrics: the share of surface
points within 0.02 of the true surface, the fair figure for thin parts) of the learned volume from the 4 and the 6
views. Then the refinement (VSD on the cost-volume NeuS, the workflow's recipe: V and the residual SDF grid) against
VSD from a sphere at the same steps, and (--v-only) GeoDream's refinement of V alone: IoU and F@.02 at the end and
the first step at which each reaches IoU 0.8 (IoU checked every 10 steps on a 48³ grid; F on the 96³ mesh).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from core.costvolume import CostVolumeNet, build_cost_volume, default_weights, volume_mesh  # noqa: E402
from core.cameras import alternating_orbit  # noqa: E402
from core.evaluate import judge_surface  # noqa: E402
from core.mesh.extract import field_mesh  # noqa: E402
from core.recipes import RECIPES, dreamfusion_on_world, geodream_on_world, sampled_views  # noqa: E402
from core.fields import make_field  # noqa: E402
from core.world import CATALOGUE, get_object, grid_points, occupancy  # noqa: E402

GRID = grid_points(48).reshape(-1, 3)


def grid_iou(sdf_fn, obj) -> float:
    with torch.no_grad():
        pred = sdf_fn(GRID) < 0
    true = occupancy(obj, GRID)
    return float((pred & true).sum() / (pred | true).sum().clamp_min(1))


def volume_fscore(vol, obj) -> float:
    return judge_surface(volume_mesh(vol, 96), obj)["fscore"]


def volume_iou(obj, rgb, cams, dropped: list | None = None, fscore: dict | None = None, **kw) -> float:
    """IoU of the built volume; NaN (said) where the builder refuses the views (a sampled view whose background
    is not uniform: no mask can be read off it). dropped: gets the views the consistency check left out; fscore:
    gets the volume's F@.02 under "f"."""
    try:
        vol = build_cost_volume(rgb, cams, **kw)
        if dropped is not None:
            dropped.extend(vol.dropped)
        if fscore is not None:
            fscore["f"] = volume_fscore(vol, obj)
        return grid_iou(vol.sdf, obj)
    except ValueError as e:
        print(f"  ({obj.name}: refused: {str(e)[:90]}...)")
        return float("nan")


def volume_ious(obj, net, names) -> dict:
    rgb, cams = sampled_views(obj)
    drops = {k: [] for k in ("4 views", "wrong in 2", "8 views", "elevation 30", "6 at 20/-10")}
    f4, f6 = {"f": float("nan")}, {"f": float("nan")}
    out = {m: volume_iou(obj, rgb, cams, method=m, net=net, resolution=32 if m == "learned" else 64,
                         dropped=drops["4 views"] if m == "learned" else None, fscore=f4 if m == "learned" else None)
           for m in ("learned", "classical")}
    other = get_object(names[(names.index(obj.name) + 1) % len(names)])
    bad = rgb.clone()
    bad[2] = sampled_views(other)[0][2]
    out["one view wrong"] = volume_iou(obj, bad, cams, net=net, dropped=drops["wrong in 2"])
    out["wrong, kept"] = volume_iou(obj, bad, cams, net=net, drop_disagreeing=False)
    rgb8, cams8 = sampled_views(obj, views=8)
    out["8 views"] = volume_iou(obj, rgb8, cams8, net=net, dropped=drops["8 views"])
    rgb30, cams30 = sampled_views(obj, elevation=30.0)
    out["elevation 30"] = volume_iou(obj, rgb30, cams30, net=net, dropped=drops["elevation 30"])
    rgb6, cams6 = sampled_views(obj, cameras=alternating_orbit(6, 20.0, -10.0))
    out["6 at 20/-10"] = volume_iou(obj, rgb6, cams6, net=net, dropped=drops["6 at 20/-10"], fscore=f6)
    out["F, 4 views"], out["F, 6 at 20/-10"] = f4["f"], f6["f"]
    out["6 at 20/-10, classical"] = volume_iou(obj, rgb6, cams6, method="classical", resolution=64)
    out["dropped"] = drops
    return out


def refine_curve(obj, net, steps: int, v_only: bool = False) -> dict:
    """IoU every 10 steps of the refinement from the volume (the recipe's field; and, v_only, V alone) and of VSD
    from a sphere, same recipe and steps; F@.02 at the end."""
    rgb, cams = sampled_views(obj)
    vol = build_cost_volume(rgb, cams, net=net)
    settings = {k: v for k, v in RECIPES["geodream_world"]["field"].items() if k != "seed"}
    out = {}
    for label in ("geodream", "sphere") + (("V only",) if v_only else ()):
        curve = []
        holder = {}

        def watch(step, total, logs, holder=holder, curve=curve):
            if step % 10 == 0 or step == total:
                curve.append((step, grid_iou(holder["field"].geometry_value, obj)))
        torch.manual_seed(0)
        field = make_field("neus") if label == "sphere" else make_field(
            "costvolume-neus", cost_volume=vol, **settings | ({"residual_lr": 0.0} if label == "V only" else {}))
        holder["field"] = field
        curve.append((0, grid_iou(field.geometry_value, obj)))
        t0 = time.perf_counter()
        res = dreamfusion_on_world(obj, steps=steps, method="vsd", recipe="geodream_world", field=field,
                                   on_progress=watch)
        reach = next((s for s, v in curve if v >= 0.8), None)
        out[label] = {"iou": curve[-1][1], "reach_0.8": reach, "seconds": time.perf_counter() - t0,
                      "steps": res.steps_done, "f": judge_surface(field_mesh(field, 96), obj)["fscore"]}
    out["volume alone"] = grid_iou(vol.sdf, obj)
    out["volume F"] = volume_fscore(vol, obj)
    return out


_BUILD_ONE = """
import sys, time, torch
sys.path.insert(0, {root!r})
from core.costvolume import CostVolumeNet, build_cost_volume
rgb, cams = torch.load({data!r}, weights_only=False)
net = CostVolumeNet.from_file({weights!r})
build_cost_volume(rgb, cams, method={method!r}, net=net, resolution=8)  # warm: imports, first-call allocations
t0 = time.perf_counter()
vol = build_cost_volume(rgb, cams, method={method!r}, net=net, resolution={grid})
print(time.perf_counter() - t0, vol.volume.numel() * 4 / 2 ** 20)
"""


def costs(net, weights: str):
    """Builder seconds per grid size, each in a fresh process, for 4 views, and the volume's size. (Peak memory
    is not printed: the process's peak resident size is set by importing torch, above what a build adds.)"""
    import subprocess
    import tempfile
    obj = get_object("duck")
    rgb, cams = sampled_views(obj)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "views.pt")
        torch.save((rgb, cams), data)
        for grid in (32, 64, 96):
            for method in ("learned", "classical"):
                code = _BUILD_ONE.format(root=root, data=data, weights=weights, method=method, grid=grid)
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                dt, mb = map(float, out.stdout.split())
                print(f"builder {method:9s} {grid}³, 4 views: {dt:6.2f} s; the volume {mb:.1f} MB", flush=True)
    vol = build_cost_volume(rgb, cams, net=net)
    t0 = time.perf_counter()
    res = geodream_on_world(obj, vol, steps=20)
    print(f"refinement (VSD, 4 views of 32², cost-volume NeuS): {(time.perf_counter() - t0) / res.steps_done:.2f} s "
          f"a step", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", nargs="+", default=list(CATALOGUE))
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--no-refine", action="store_true")
    ap.add_argument("--refine-only", action="store_true", help="skip the volume-alone and robustness tables")
    ap.add_argument("--costs-only", action="store_true")
    ap.add_argument("--v-only", action="store_true", help="also refine V alone (GeoDream's; the residual off)")
    ap.add_argument("--weights", default=default_weights())
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = CostVolumeNet.from_file(args.weights)
    if args.costs_only:
        costs(net, args.weights)
        return
    names = list(CATALOGUE)
    rows = {}
    print(f"{'object':9s} learned classical | one view wrong (kept)  8 views  elevation 30 | 6 at 20/-10 (classical) "
          f"| F@.02 4 views, 6 at 20/-10 | views dropped")
    for name in [] if args.refine_only else args.objects:
        r = volume_ious(get_object(name), net, names)
        rows[name] = r
        drops = "; ".join(f"{k}: {v}" for k, v in r["dropped"].items() if v) or "none"
        print(f"{name:9s} {r['learned']:7.3f} {r['classical']:9.3f} | {r['one view wrong']:14.3f} "
              f"({r['wrong, kept']:.3f}) {r['8 views']:8.3f} {r['elevation 30']:12.3f} | {r['6 at 20/-10']:11.3f} "
              f"({r['6 at 20/-10, classical']:.3f}) | {r['F, 4 views']:.3f} {r['F, 6 at 20/-10']:.3f} | dropped: {drops}",
              flush=True)
    n = len(args.objects)
    mean = {}
    for k in [k for k in next(iter(rows.values())) if k != "dropped"] if rows else []:
        got = [r[k] for r in rows.values() if r[k] == r[k]]
        mean[k] = sum(got) / max(len(got), 1)
    if rows:
        print("mean      " + "  ".join(f"{k} {v:.3f}" for k, v in mean.items()) + " (over the views the builder took)")
        print(f"learned >= 0.7 on {sum(r['learned'] >= 0.7 for r in rows.values())}/{n}; one wrong view moves IoU "
              f"by < 0.1 on {sum(abs(r['one view wrong'] - r['learned']) < 0.1 for r in rows.values())}/{n}; the "
              f"wrong view (2) is the one dropped on {sum(r['dropped']['wrong in 2'] == [2] for r in rows.values())}"
              f"/{n}; a view of a consistent set dropped on "
              f"{sum(bool(r['dropped'][k]) for r in rows.values() for k in ('4 views', '8 views', 'elevation 30', '6 at 20/-10'))}"
              f" of {4 * n} sets")
    if args.no_refine:
        return
    print(f"\nrefinement, {args.steps} VSD steps (the workflow's recipe): from the cost volume vs from a sphere "
          f"(IoU / F@.02)")
    reach = {"geodream": [], "sphere": []}
    better, below = 0, 0
    for name in args.objects:
        r = refine_curve(get_object(name), net, args.steps, args.v_only)
        for k in reach:
            reach[k].append(r[k]["reach_0.8"])
        if r["volume alone"] < 0.85:
            below += 1
            better += r["geodream"]["iou"] > r["volume alone"]
        v_only = (f"; V only {r['V only']['iou']:.3f} / {r['V only']['f']:.3f}" if args.v_only else "")
        print(f"{name:9s} volume alone {r['volume alone']:.3f} / {r['volume F']:.3f} -> refined "
              f"{r['geodream']['iou']:.3f} / {r['geodream']['f']:.3f} (IoU 0.8 at step {r['geodream']['reach_0.8']}); "
              f"from a sphere {r['sphere']['iou']:.3f} / {r['sphere']['f']:.3f} (IoU 0.8 at step "
              f"{r['sphere']['reach_0.8']}){v_only}; {r['geodream']['seconds']:.0f} / {r['sphere']['seconds']:.0f} s",
              flush=True)
    print(f"reached IoU 0.8: from the volume {sum(s is not None for s in reach['geodream'])}/{n}, from a sphere "
          f"{sum(s is not None for s in reach['sphere'])}/{n}; refined IoU above the volume's on {better}/{below} "
          f"objects whose volume is below 0.85")
    both = [(g, s) for g, s in zip(reach["geodream"], reach["sphere"]) if g is not None and s is not None]
    if both:
        print("steps to IoU 0.8, volume vs sphere, where both reach it: "
              + ", ".join(f"{g} vs {s}" for g, s in both))
    costs(net, args.weights)


if __name__ == "__main__":
    main()
