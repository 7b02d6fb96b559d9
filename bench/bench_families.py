#!/usr/bin/env python3
"""The seed papers' claims on a world of many answers: the world prior over K members of each object's family
(core.world.families), results judged against the members (core.evaluate.judge_family, seed_diversity).

    .host/venv/bin/python bench/bench_families.py scaling                 # seconds and memory per query vs K
    .host/venv/bin/python bench/bench_families.py k1                      # K = 1 is the catalogue prior, all 16
    .host/venv/bin/python bench/bench_families.py prolificdreamer         # SDS at CFG 100 vs VSD, 4 seeds
    .host/venv/bin/python bench/bench_families.py mvdream                 # 2D vs view-aware vs multi-view
    ... [--families duck mug] [--members 8] [--steps 150] [--seeds 4] [--workers 2]

prolificdreamer: per family, SDS at guidance 100 (DreamFusion's) and VSD at 7.5 (ProlificDreamer's), both on the
view-aware prior over K members, NeuS, the world recipe's cameras and fit for --steps; each seed is a different
optimization seed (the members stay fixed: member_seed 0). Columns: nearest-member IoU / PSNR / texture PSNR,
IoU with the family's average object, saturation against the members', and seed diversity (1 - IoU between seeds'
shapes, RMS colour between their renders, distinct nearest members).
mvdream: per family, SDS (guidance 10) with the 2D, view-aware and multi-view priors over K members, one seed:
cross-view member agreement (the share of 8 held-out views matching the commonest member), views matching
another member, and the Janus probe's azimuth error against the nearest member.
Runs go to --workers processes of one torch thread each; a JSON of every run goes to out/bench/.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _init():
    import torch
    torch.set_num_threads(1)


def run_one(job: dict) -> dict:
    from core.recipes import judge_family_on_world
    kw = {k: v for k, v in job.items() if k not in ("family", "row")}
    out = judge_family_on_world(job["family"], **kw)
    return job | out


def scaling(args):
    """Seconds and peak memory of one posterior query (4 views) against K."""
    import torch
    from core.cameras import Cameras
    from core.priors.world_prior import WorldPrior
    torch.set_num_threads(1)
    cams = Cameras.from_spherical([15.0] * 4, [10.0, 100.0, 190.0, 280.0], 1.8, 40.0)
    x, t = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.tensor([100, 400, 700, 900])
    print(f"{'K':>3} {'data MiB':>9} {'ms/query':>9} {'ms/query/K':>11}")
    for k in args.ks:
        wp = WorldPrior(32, "view-aware", members=k)
        c, _ = wp.condition(f"a {args.families[0]}")
        st = wp._stack(c)
        mib = sum(v.numel() * v.element_size() for v in st.values()) / 2 ** 20
        wp.predict_eps(x, t, c, cams)
        t0 = time.perf_counter()
        for _ in range(10):
            wp.predict_eps(x, t, c, cams)
        ms = (time.perf_counter() - t0) / 10 * 1000
        print(f"{k:>3} {mib:>9.1f} {ms:>9.2f} {ms / k:>11.2f}")


def k1(args):
    """K = 1 asks the prior exactly what the catalogue prior was asked: the same conditioning, figure for figure."""
    import torch
    from core.cameras import Cameras
    from core.priors.world_prior import WorldPrior
    from core.world import CATALOGUE
    g = torch.Generator().manual_seed(0)
    cams = Cameras.from_spherical([15.0] * 4, [15.0, 105.0, 195.0, 285.0], 1.8, 40.0)
    worst = 0.0
    for mode in ("view-aware", "2D", "multi-view"):
        wp = WorldPrior(32, mode, members=1)
        for name in CATALOGUE:
            cond, uncond = wp.condition(f"a {name}")
            assert cond == (name,) and uncond == tuple(CATALOGUE), (cond, uncond)
            x, t = torch.randn(4, 3, 32, 32, generator=g), torch.tensor([100, 400, 700, 900])
            worst = max(worst, float((wp.predict_eps(x, t, cond, cams) - wp.predict_eps(x, t, (name,), cams))
                                     .abs().max()))
    print(f"K=1 on all {len(CATALOGUE)} objects x 3 modes: conditioning = the catalogue object's, eps max diff {worst}")


def prerender(job: tuple[str, int]) -> str:
    """Render (and cache on disk) the members one family's runs will use."""
    from core.priors.world_prior import WorldPrior
    wp = WorldPrior(32, members=job[1])
    for name in wp.condition(f"a {job[0]}")[0]:
        wp.layers(name)
    return job[0]


def _run(jobs, workers):
    out = []
    with ProcessPoolExecutor(workers, initializer=_init) as pool:
        list(pool.map(prerender, sorted({(j["family"], j["members"]) for j in jobs})))
        for r in pool.map(run_one, jobs):
            print(f"  {r['family']:9s} {r['row']:16s} seed {r.get('seed', 0)}: IoU {r['iou']:.3f} member {r['nearest']} "
                  f"agree {r['agreement']:.2f} {r['seconds']:.0f}s", flush=True)
            out.append(r)
    return out


def _save(name, rows):
    os.makedirs(os.path.join(ROOT, "out", "bench"), exist_ok=True)
    path = os.path.join(ROOT, "out", "bench", f"families_{name}.json")
    keep = [{k: v for k, v in r.items() if k not in ("voxels", "renders")} for r in rows]
    with open(path, "w") as f:
        json.dump(keep, f, indent=1)
    print(f"runs written to {path}")


def prolificdreamer(args):
    from core.evaluate import seed_diversity
    rows = {"SDS cfg 100": dict(method="sds", guidance_scale=100.0), "VSD cfg 7.5": dict(method="vsd",
                                                                                          guidance_scale=7.5)}
    jobs = [dict(family=f, row=r, members=args.members, steps=args.steps, seed=s, **kw)
            for f in args.families for r, kw in rows.items() for s in range(args.seeds)]
    runs = _run(jobs, args.workers)
    _save("prolificdreamer", runs)
    print(f"\nProlificDreamer on families (K={args.members}, {args.steps} steps, {args.seeds} seeds; means over seeds)")
    print(f"{'family':9s} {'row':12s} {'IoU':>6} {'PSNR':>6} {'texPSNR':>7} {'avgIoU':>6} {'sat':>5} {'mSat':>5} "
          f"{'divShape':>8} {'divRGB':>6} {'members':>7}")
    totals = {r: [] for r in rows}
    for f in args.families:
        for r in rows:
            rs = [x for x in runs if x["family"] == f and x["row"] == r]
            d = seed_diversity(rs)
            m = {k: sum(x[k] for x in rs) / len(rs) for k in ("iou", "psnr", "texture_psnr", "average_iou",
                                                              "saturation", "member_saturation")}
            totals[r].append(m | {f"div_{k}": v for k, v in d.items()})
            print(f"{f:9s} {r:12s} {m['iou']:6.3f} {m['psnr']:6.2f} {m['texture_psnr']:7.2f} {m['average_iou']:6.3f} "
                  f"{m['saturation']:5.2f} {m['member_saturation']:5.2f} {d['shape']:8.3f} {d['colour']:6.3f} "
                  f"{d['distinct_members']:>7}")
    for r, ms in totals.items():
        mean = {k: sum(m[k] for m in ms) / len(ms) for k in ms[0]}
        print(f"{'mean':9s} {r:12s} {mean['iou']:6.3f} {mean['psnr']:6.2f} {mean['texture_psnr']:7.2f} "
              f"{mean['average_iou']:6.3f} {mean['saturation']:5.2f} {mean['member_saturation']:5.2f} "
              f"{mean['div_shape']:8.3f} {mean['div_colour']:6.3f} {mean['div_distinct_members']:7.2f}")


def mvdream(args):
    rows = {m: dict(method="mvsds" if m == "multi-view" else "sds", mode=None if m == "multi-view" else m)
            for m in ("2D", "view-aware", "multi-view")}
    jobs = [dict(family=f, row=r, members=args.members, steps=args.steps, **{k: v for k, v in kw.items() if v})
            for f in args.families for r, kw in rows.items()]
    runs = _run(jobs, args.workers)
    _save("mvdream", runs)
    print(f"\nMVDream on families (K={args.members}, {args.steps} steps, seed 0)")
    print(f"{'family':9s} {'prior':11s} {'IoU':>6} {'agree':>6} {'others':>6} {'azErr':>6} {'janus':>6}")
    totals = {r: [] for r in rows}
    for f in args.families:
        for r in rows:
            x = next(x for x in runs if x["family"] == f and x["row"] == r)
            others = len(set(x["view_members"])) - 1
            totals[r].append((x["iou"], x["agreement"], others, x["azimuth_error"], x["janus_fraction"]))
            print(f"{f:9s} {r:11s} {x['iou']:6.3f} {x['agreement']:6.2f} {others:6d} {x['azimuth_error']:6.1f} "
                  f"{x['janus_fraction']:6.2f}")
    for r, ms in totals.items():
        mean = [sum(v) / len(v) for v in zip(*ms)]
        print(f"{'mean':9s} {r:11s} {mean[0]:6.3f} {mean[1]:6.2f} {mean[2]:6.2f} {mean[3]:6.1f} {mean[4]:6.2f}")


def main():
    from core.world import CATALOGUE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("claim", choices=["scaling", "k1", "prolificdreamer", "mvdream"])
    ap.add_argument("--families", nargs="+", default=list(CATALOGUE))
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    args = ap.parse_args()
    t0 = time.time()
    {"scaling": scaling, "k1": k1, "prolificdreamer": prolificdreamer, "mvdream": mvdream}[args.claim](args)
    print(f"[bench_families] {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
