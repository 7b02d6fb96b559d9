"""Texture boosting on the world: SDS, VSD and BSD at one budget on frozen geometry, and what a BSD step costs.

    python bench/bench_bsd.py                       # true meshes of snowman, duck, mushroom, house; 64² renders
    python bench/bench_bsd.py --objects duck --steps 60 --stage1   # also on DreamCraft3D's stage-1 geometry
    python bench/bench_bsd.py --steps 30 --resolution 32 --estimator-steps 4 --sdedit-steps 2 --rounds 3
                                                    # the size of the test (tests/core/test_bsd.py)

Per object, geometry and method: held-out PSNR, SSIM and render saturation (the truth's beside it; SDS's known
oversaturation shows as more than the truth). Then seconds per BSD step and per augmentation round, measured in
one run. Every method starts from the same fresh grey texture (dense grid) and runs the same steps.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from core.evaluate import judge_texture, texture_on_world  # noqa: E402
from core.world import get_object  # noqa: E402

FINE_TEXTURE = ("snowman", "duck", "mushroom", "house")


def stage1_geometry(obj, steps: int):
    """DreamCraft3D's stage 1 on the world (coarse NeuS from one view, then the DMTet normal-render stage)."""
    from core.evaluate import dreamcraft3d_geometry_on_world, dreamcraft3d_on_world
    coarse = dreamcraft3d_on_world(obj, steps=steps).field
    return dreamcraft3d_geometry_on_world(obj, coarse, steps=40).field


def step_costs(obj, resolution: int, steps: int) -> dict:
    """Seconds per BSD step with and without its augmentation rounds (one run, rounds timed inside it)."""
    from core.guidance.bsd import BSDLoss
    spent = []
    original = BSDLoss.augment

    def timed(self, *a, **k):
        t0 = time.perf_counter()
        original(self, *a, **k)
        spent.append(time.perf_counter() - t0)
    BSDLoss.augment = timed
    try:
        res = texture_on_world(obj, "bsd", steps=steps, resolution=resolution)
    finally:
        BSDLoss.augment = original
    rounds = sum(spent)
    return {"per_step": (res.seconds - rounds) / res.steps_done, "per_round": rounds / max(len(spent), 1),
            "rounds": len(spent)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", nargs="+", default=list(FINE_TEXTURE))
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--resolution", type=int, default=64, choices=(32, 64))
    ap.add_argument("--stage1", action="store_true", help="also on the stage-1 geometry (slow: ~3 min an object)")
    ap.add_argument("--stage1-steps", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", default="view-aware", choices=("view-aware", "2D"),
                    help="the world text prior's mode (2D: camera-blind, as Stable Diffusion)")
    ap.add_argument("--estimator-steps", type=int, default=0, help="VSD/BSD estimator updates a step (0: its own)")
    ap.add_argument("--sdedit-steps", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.objects:
        obj = get_object(name)
        geometries = [("true", None)]
        if args.stage1:
            geometries.append(("stage-1", stage1_geometry(obj, args.stage1_steps)))
        for geo_name, geo in geometries:
            for method in ("sds", "vsd", "bsd"):
                kw = {} if method == "sds" else {"estimator_steps": args.estimator_steps}
                if method == "bsd":
                    kw |= {"sdedit_steps": args.sdedit_steps, "rounds": args.rounds}
                res = texture_on_world(obj, method, geometry=geo, steps=args.steps, resolution=args.resolution,
                                       mode=args.mode, **kw)
                j = judge_texture(res.field, obj)
                rows.append((name, geo_name, method, j, res.seconds))
                print(f"{name:9s} {geo_name:7s} {method}  PSNR {j['psnr']:6.2f}  SSIM {j['ssim']:.3f}  saturation "
                      f"{j['saturation']:.3f} (truth {j['true_saturation']:.3f})  {res.seconds:6.1f} s", flush=True)
    print("\nBSD against VSD (PSNR, same budget):")
    for name in args.objects:
        for geo_name in ("true", "stage-1"):
            got = {m: j["psnr"] for n, g, m, j, _ in rows if n == name and g == geo_name}
            if got:
                print(f"  {name:9s} {geo_name:7s} BSD - VSD {got['bsd'] - got['vsd']:+.2f} dB, "
                      f"BSD - SDS {got['bsd'] - got['sds']:+.2f} dB")
    cost = step_costs(get_object(args.objects[0]), args.resolution, max(10, args.steps // 2))
    print(f"\nBSD on the world at {args.resolution}²: {cost['per_step']:.2f} s a step without rounds, "
          f"{cost['per_round']:.1f} s an augmentation round ({cost['rounds']} rounds)")


if __name__ == "__main__":
    main()
