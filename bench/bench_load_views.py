#!/usr/bin/env python3
"""Load Views on every world object: the object box from a clean 11-view scene (written as nerfstudio would: a z-up
world, moved and scaled), and what one bad frame does to it — a frame of another object added, or one frame's
camera turned 10° about its up axis — with and without leaving the frames that disagree out of the box.

    .host/venv/bin/python bench/bench_load_views.py [--objects duck table ...] [--turn 10]

Columns: 'all/clean' is the box size with every frame in it (what Load Views used to make; nan: no point lies inside
every mask, so that set was refused) over the clean set's;
'now/clean' what it makes now; 'left out' the frames it named; 'angle' the turn its note gives. tests/core/test_views
asserts these on the duck.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import torch  # noqa: E402

from core.cameras import Cameras  # noqa: E402
from core.views import load_views, object_box  # noqa: E402
from core.world import get_object, object_names  # noqa: E402
from posed_views import FOV, add_frame, write_scene  # noqa: E402

CAMS = Cameras.from_spherical([15.0] * 5 + [40.0] * 6, [0, 72, 144, 216, 288] + [30, 90, 150, 210, 270, 330],
                              1.8, FOV)


def _size_all(views):
    """The box with every frame in it; nan where no point lies inside every mask (that set was refused)."""
    try:
        return object_box(views.cameras, views.masks)[1]
    except ValueError:
        return float("nan")


def _size_kept(views):
    keep = [i for i in range(len(views.cameras)) if i not in views.left_out]
    return object_box(views.cameras[keep], views.masks[keep])[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", nargs="*", default=object_names())
    ap.add_argument("--turn", type=float, default=10.0)
    args = ap.parse_args()
    names = object_names()
    print(f"{'object':10s} {'stray frame of':14s} {'all/clean':>9s} {'now/clean':>9s} {'left out':>9s} | "
          f"{'turned':>6s} {'all/clean':>9s} {'now/clean':>9s} {'left out':>9s} {'angle':>6s} | clean notes  s")
    for name in args.objects:
        t0 = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            clean_dir = os.path.join(tmp, "clean")
            write_scene(clean_dir, get_object(name), CAMS)
            base = load_views(clean_dir, 64)
            clean_size = _size_all(base)
            # a frame of another object
            stray = names[(names.index(name) + 8) % len(names)]
            stray_dir = os.path.join(tmp, "stray")
            write_scene(stray_dir, get_object(name), CAMS)
            add_frame(stray_dir, get_object(stray), Cameras.from_spherical([25.0], [100.0], 1.8, FOV),
                      "images/view_11.png")
            v = load_views(stray_dir, 64)
            s_all, s_now = _size_all(v) / clean_size, _size_kept(v) / clean_size
            s_left = ",".join(map(str, v.left_out)) or "-"
            # one frame turned
            turn_dir = os.path.join(tmp, "turned")
            write_scene(turn_dir, get_object(name), CAMS)
            path = os.path.join(turn_dir, "transforms.json")
            spec = json.load(open(path))
            frame = next(f for f in spec["frames"] if f["file_path"] == "images/view_4.png")
            m = torch.tensor(frame["transform_matrix"])
            a = math.radians(args.turn)
            m[:3, :3] = m[:3, :3] @ torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0],
                                                  [-math.sin(a), 0, math.cos(a)]])
            frame["transform_matrix"] = m.tolist()
            json.dump(spec, open(path, "w"))
            w = load_views(turn_dir, 64)
            t_all, t_now = _size_all(w) / clean_size, _size_kept(w) / clean_size
            t_left = ",".join(map(str, w.left_out)) or "-"
            angle = next((re.search(r"about (\d+)°", n).group(1) for n in w.notes if "about" in n), "-")
        print(f"{name:10s} {stray:14s} {s_all:9.3f} {s_now:9.3f} {s_left:>9s} | {args.turn:6.0f} {t_all:9.3f} "
              f"{t_now:9.3f} {t_left:>9s} {angle:>6s} | {len(base.notes):11d} {time.time() - t0:3.0f}", flush=True)


if __name__ == "__main__":
    main()
