#!/usr/bin/env python3
"""The silhouette-consistency check and what silhouettes can carve, on all 16 catalogue objects, from exact views.

    PYTHONPATH=. .host/venv/bin/python bench/bench_view_checks.py [--objects table mug ...]

Per object and view set (4 at 15°, 6 alternating 30/-20, 8 at 15°, 8 alternating 30/-20, Zero123++'s 6 at 20/-10):
the least explained share of a view's mask (core.costvolume.silhouettes_explained) and the views the check drops
(none should be). Then one view replaced by another object's (the object 5 further on in the catalogue): is it the
one dropped, on 4 at 15° and 6 alternating. Last, the classical volume (the visual hull, 64³) from the 6 views at
20/-10: IoU and F-score at 0.02, an upper bound on what silhouettes alone can carve.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import torch  # noqa: E402

from core.cameras import Cameras, alternating_orbit  # noqa: E402
from core.costvolume import build_cost_volume, disagreeing_views, prepare_views, silhouettes_explained  # noqa: E402
from core.costvolume import volume_mesh  # noqa: E402
from core.metrics import mesh_fscore  # noqa: E402
from core.world import CATALOGUE, grid_points, occupancy, render_object, true_surface_points  # noqa: E402

SETS = {"4@15": Cameras.from_spherical([15.0] * 4, [0, 90, 180, 270], 1.8, 40.0),
        "6 alt 30/-20": Cameras.from_spherical([30.0, -20.0] * 3, [0, 60, 120, 180, 240, 300], 1.8, 40.0),
        "8@15": Cameras.from_spherical([15.0] * 8, [45.0 * i for i in range(8)], 1.8, 40.0),
        "8 alt 30/-20": Cameras.from_spherical([30.0, -20.0] * 4, [45.0 * i for i in range(8)], 1.8, 40.0),
        "6 at 20/-10": alternating_orbit(6, 20.0, -10.0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", nargs="+", default=list(CATALOGUE))
    a = ap.parse_args()
    names = list(CATALOGUE)
    renders = {(n, s): render_object(CATALOGUE[n], c, 64, shading="albedo") for n in a.objects for s, c in SETS.items()}
    dropped = 0
    print("least explained share, views dropped")
    for n in a.objects:
        cells = []
        for s, c in SETS.items():
            v, cams = prepare_views(renders[n, s].rgb, c, renders[n, s].alpha)
            d = disagreeing_views(v, cams)
            dropped += bool(d)
            cells.append(f"{s} {float(silhouettes_explained(v, cams)[0].min()):.3f} {d}")
        print(f"{n:9s} " + " | ".join(cells), flush=True)
    print(f"sets with a good view dropped: {dropped} of {len(a.objects) * len(SETS)}")
    for s in ("4@15", "6 alt 30/-20"):
        cams, found, missed = SETS[s], 0, []
        for i, n in enumerate(a.objects):
            other = names[(names.index(n) + 5) % len(names)]
            rec = renders.get((other, s)) or render_object(CATALOGUE[other], cams, 64, shading="albedo")
            rgb, alpha = renders[n, s].rgb.clone(), renders[n, s].alpha.clone()
            rgb[1], alpha[1] = rec.rgb[1], rec.alpha[1]
            d = disagreeing_views(*prepare_views(rgb, cams, alpha))
            found += d == [1]
            if d != [1]:
                missed.append(f"{other} among {n}: {d}")
        print(f"{s}: one view of another object found {found}/{len(a.objects)}; missed: {missed}", flush=True)
    grid = grid_points(48).reshape(-1, 3)
    print("classical volume from the 6 views at 20/-10 (exact masks): IoU (48³) / F@.02")
    for n in a.objects:
        r = renders[n, "6 at 20/-10"]
        vol = build_cost_volume(r.rgb, SETS["6 at 20/-10"], method="classical", resolution=64)
        with torch.no_grad():
            pred = vol.sdf(grid) < 0
        true = occupancy(CATALOGUE[n], grid)
        iou = float((pred & true).sum() / (pred | true).sum())
        f = mesh_fscore(volume_mesh(vol), true_surface_points(CATALOGUE[n]))["fscore"]
        print(f"{n:9s} {iou:.3f} / {f:.3f}", flush=True)


if __name__ == "__main__":
    main()
