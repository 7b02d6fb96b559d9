#!/usr/bin/env python3
"""The World Image Prior on users' pictures framed unlike the world's own view, on all 16 catalogue objects.

    PYTHONPATH=. .host/venv/bin/python bench/bench_image_framing.py [--objects duck table ...] [--read]

Each picture is the object's front view (elevation 15, 160²) zoomed and shifted by image resampling outside core, on
white, with Load Image's mask (1 - alpha), prepared by prepare_reference (fill 0, or 0.85). Columns per framing:
the framed-alike RMS error of the object's own best render / of the best other family's (and which), what
WorldImagePrior.POOR_MATCH (0.16) and RIVAL_FAMILY (1.25) are set from. --read also builds the prior on each picture
and prints its reading (best object, turn, weight, placing) and its warnings (slower: placing renders).
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
    a = ap.parse_args()
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


if __name__ == "__main__":
    main()
