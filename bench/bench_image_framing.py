#!/usr/bin/env python3
"""The World Image Prior on users' pictures framed unlike the world's own view, on all 16 catalogue objects.

    PYTHONPATH=. .host/venv/bin/python bench/bench_image_framing.py [--objects duck table ...] [--read]

Each picture is the object's front view (elevation 15, 160²) zoomed and shifted by image resampling outside core, on
white, with Load Image's mask (1 - alpha), prepared by prepare_reference (fill 0, or 0.85). Columns per framing:
the framed-alike RMS error of the object's own best render / of the best other family's (and which), what
WorldImagePrior.POOR_MATCH (0.16) and RIVAL_FAMILY (1.25) are set from. --read also builds the prior on each picture
and prints its reading (best object, turn, weight, placing) and its warnings (slower: placing renders). --fit runs
the image-to-3D recipe (core.recipes.dreamcraft3d_on_world, --steps) from each picture and judges the result
against the object as the picture frames it (the true object placed as the prior places it), beside the prior's
reading and warnings: what a user gets from their picture.

    PYTHONPATH=. .host/venv/bin/python bench/bench_image_framing.py --fit --objects duck chair house arrow mug \
        [--seeds 0 1] [--rows "cameras follow" "cameras kept"]
"""
from __future__ import annotations

import argparse
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import torch  # noqa: E402

FRAMINGS = {"moved 10 px": (1.0, (0, 10), 0.0), "0.7x off centre": (0.7, (15, -20), 0.0),
            "fill 0.85": (1.0, (0, 0), 0.85), "0.85x": (0.85, (0, 0), 0.0)}


def main():
    from core.priors.world_prior import WorldImagePrior
    from core.reference import prepare_reference
    from core.world import CATALOGUE, get_object
    from posed_views import user_picture as picture
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", nargs="+", default=list(CATALOGUE))
    ap.add_argument("--read", action="store_true")
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--rows", nargs="+", default=list(FIT_ROWS), choices=list(FIT_ROWS))
    a = ap.parse_args()
    if a.fit:
        return fit_table(a.objects, a.steps, a.seeds, a.rows)
    names = list(CATALOGUE)
    own_all, other_all = [], []
    print("object    " + " | ".join(f"{k:>26s}" for k in FRAMINGS) + "   (own / best other family)")
    for name in a.objects:
        cells = []
        for label, (zoom, shift, fill) in FRAMINGS.items():
            ref = prepare_reference(*picture(get_object(name), zoom, shift), size=128, fill=fill)
            prior = WorldImagePrior(ref, 32)
            free = prior._framing_free_errors(prior._candidate_renders[0])
            o = names.index(name)
            own = math.sqrt(float(free[o].min()))
            rest = torch.cat([free[:o], free[o + 1:]]).min(1).values
            k = int(rest.argmin())
            other = math.sqrt(float(rest[k]))
            own_all.append(own)
            other_all.append(other)
            cells.append(f"{own:.3f} / {other:.3f} {names[k + (k >= o)][:8]:8s}")
            if a.read:
                print(f"  {name} {label}: {prior.describe()}; warnings: {prior.match_warnings()}", flush=True)
        print(f"{name:9s} " + " | ".join(f"{c:>26s}" for c in cells), flush=True)
    print(f"own object: {min(own_all):.3f}-{max(own_all):.3f}; best other family: {min(other_all):.3f}-"
          f"{max(other_all):.3f}; POOR_MATCH {WorldImagePrior.POOR_MATCH}")


#: --fit's rows: the recipe (its cameras move with the picture's placing), and the cameras kept (the 3D term judges
#: the placed object; the text term the world's own, where the picture does not put it)
FIT_ROWS = {"cameras follow": {}, "cameras kept": {"cameras_follow_placing": False}}


def fit_table(objects, steps: int, seeds=(0,), rows=tuple(FIT_ROWS)):
    """Image-to-3D from each framing of each object's picture, per row and seed: IoU and F@.02 against the object
    placed as the prior places it (as the world has it when the prior does not place it), with the reading and
    warnings; then each row's means and the rows compared pair by pair."""
    import time
    from core.evaluate import evaluate_field
    from core.priors.world_prior import WorldImagePrior
    from core.recipes import dreamcraft3d_on_world
    from core.reference import prepare_reference
    from core.world import get_object, placed_object
    from posed_views import user_picture as picture
    print("| object | framing | reading | warned | row | seed | IoU | F@.02 | s |\n"
          "|---|---|---|---|---|---|---|---|---|")
    readings, results = [], {}
    for name in objects:
        obj = get_object(name)
        for label, (zoom, shift, fill) in FRAMINGS.items():
            ref = prepare_reference(*picture(obj, zoom, shift), size=128, fill=fill)
            prior = WorldImagePrior(ref, 32)
            best = prior.components[0]
            truth = obj if prior.placement is None else placed_object(obj, *prior.placement)
            warned = "; ".join(w.split(":")[0] for w in prior.match_warnings()) or "no"
            readings.append((warned != "no", best[0].split("@")[0] == name and best[1] == 0))
            for row in rows:
                for seed in seeds:
                    t0 = time.perf_counter()
                    res = dreamcraft3d_on_world(obj, steps=steps, reference=ref, seed=seed, **FIT_ROWS[row])
                    e = evaluate_field(res.field, truth, resolution=32)
                    results[(name, label, row, seed)] = e
                    print(f"| {name} | {label} | {best[0]} turned {best[1]:g}° ({math.exp(best[2]):.2f}) | {warned} "
                          f"| {row} | {seed} | {e['iou']:.3f} | {e['fscore']:.3f} | {time.perf_counter() - t0:.0f} |",
                          flush=True)
    wrong = [r for r in readings if not r[1]]
    print(f"read right (object, turn 0): {len(readings) - len(wrong)}/{len(readings)}; of the others warned: "
          f"{sum(r[0] for r in wrong)}/{len(wrong)}")
    for row in rows:
        es = [e for k, e in results.items() if k[2] == row]
        print(f"{row}: mean IoU {sum(e['iou'] for e in es) / len(es):.3f}, F {sum(e['fscore'] for e in es) / len(es):.3f}"
              f" over {len(es)} runs")
    if len(rows) == 2:
        pairs = [(e, results[(k[0], k[1], rows[1], k[3])]) for k, e in results.items() if k[2] == rows[0]]
        print(f"{rows[0]} above {rows[1]} in IoU on {sum(a['iou'] > b['iou'] for a, b in pairs)}/{len(pairs)} runs, "
              f"in F on {sum(a['fscore'] > b['fscore'] for a, b in pairs)}/{len(pairs)}")


if __name__ == "__main__":
    main()
