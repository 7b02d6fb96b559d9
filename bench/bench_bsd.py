"""Texture boosting on the world: SDS, VSD and BSD at one budget on frozen geometry, and what a BSD step costs.

    python bench/bench_bsd.py                       # true meshes of snowman, duck, mushroom, house; 64² renders
    python bench/bench_bsd.py --objects duck --steps 60 --stage1   # also on DreamCraft3D's stage-1 geometry
    python bench/bench_bsd.py --steps 30 --resolution 32 --estimator-steps 4 --sdedit-steps 2 --rounds 3
                                                    # the size of the test (tests/core/test_bsd.py)
    python bench/bench_bsd.py ... --oracle          # also BSD fed the true renders (the bootstrap's bound)

Per object, geometry and method: held-out PSNR, SSIM and render saturation (the truth's beside it; SDS's known
oversaturation shows as more than the truth). Then seconds per BSD step and per augmentation round, measured in
one run, on the world and on a ComfyUI SD checkpoint (default: the random full-size SD 1.5 the host tests write,
at 64² latents). Every method starts from the same fresh grey texture (dense grid) and runs the same steps.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from core.evaluate import judge_texture  # noqa: E402
from core.recipes import texture_on_world  # noqa: E402
from core.world import get_object  # noqa: E402

FINE_TEXTURE = ("snowman", "duck", "mushroom", "house")


def stage1_geometry(obj, steps: int):
    """DreamCraft3D's stage 1 on the world (coarse NeuS from one view, then the DMTet normal-render stage)."""
    from core.recipes import dreamcraft3d_geometry_on_world, dreamcraft3d_on_world
    coarse = dreamcraft3d_on_world(obj, steps=steps).field
    return dreamcraft3d_geometry_on_world(obj, coarse, steps=40).field


class RoundWatch:
    """Within a `with`: after each augmentation round on the world, PSNR of the augmented views and of the renders
    they came from against the truth at their cameras (is the bootstrap's data better than the texture?). With
    oracle=True the booster is handed the true renders instead of the augmented views: BSD with a perfect
    bootstrap, the bound of what its rounds can give."""

    def __init__(self, obj, oracle: bool = False):
        self.obj, self.oracle, self.rounds = obj, oracle, []

    def __enter__(self):
        from core.evaluate import psnr
        from core.losses import bsd
        from core.world import render_object
        self._saved = (bsd.BSDLoss.augment, bsd.ExactBooster.fit)
        augment, fit = self._saved
        watch = self

        def truth(cams, res):
            return render_object(watch.obj, cams.to("cpu"), res, shading="albedo", background=(1.0, 1.0, 1.0))

        def watched(loss, field, step, total):
            augment(loss, field, step, total)
            rend, aug = loss.augmented
            true = truth(loss.boost_cameras, rend.shape[1])
            watch.rounds.append((step, psnr(aug.cpu(), true.rgb), psnr(rend.cpu(), true.rgb)))

        def oracle_fit(booster, x0, alpha, cams, background):
            true = truth(cams, x0.shape[-1])
            fit(booster, (true.rgb.permute(0, 3, 1, 2) * 2 - 1).to(x0), true.alpha.to(alpha), cams, background)

        bsd.BSDLoss.augment = watched
        if self.oracle:
            bsd.ExactBooster.fit = oracle_fit
        return self

    def __exit__(self, *exc):
        from core.losses import bsd
        bsd.BSDLoss.augment, bsd.ExactBooster.fit = self._saved

    def describe(self) -> str:
        return ", ".join(f"step {s}: augmented {a:.1f} dB from renders {r:.1f}" for s, a, r in self.rounds)


def step_costs(run, bsd_class) -> dict:
    """Seconds per BSD step without its augmentation rounds, and per round, from one run (`run()` returns the
    optimizer's result; the rounds of `bsd_class` are timed inside it)."""
    spent = []
    original = bsd_class.augment

    def timed(self, *a, **k):
        t0 = time.perf_counter()
        original(self, *a, **k)
        spent.append(time.perf_counter() - t0)
    bsd_class.augment = timed
    try:
        res = run()
    finally:
        bsd_class.augment = original
    rounds = sum(spent)
    return {"per_step": (res.seconds - rounds) / res.steps_done, "per_round": rounds / max(len(spent), 1),
            "rounds": len(spent), "steps": res.steps_done}


def sd_step_costs(checkpoint: str, resolution: int, steps: int) -> dict:
    """BSD through the Checkpoint Prior (Text) on a ComfyUI checkpoint (loaded by the host's ComfyUI in this
    process): the duck's true mesh, one view a step, two augmented views a round (one SDEdit step) every other
    step, one fine-tune step each step (what the host test runs, at `resolution`² renders)."""
    import importlib
    from bench_priors import load_comfy_checkpoint
    model, clip, vae, comfy_prior, _ = load_comfy_checkpoint(checkpoint)
    pack = lambda name: importlib.import_module("distill3d_pack." + name)  # noqa: E731 (the host's copy)
    bsd, world = pack("core.losses.bsd"), pack("core.world")
    prior = pack("core.priors").PromptedPrior(comfy_prior.ComfyModelPredictor(model, vae, resolution, clip=clip),
                                                "a rubber duck")
    cams = pack("core.cameras").CameraDistribution((-10.0, 45.0), (-180.0, 180.0), (1.8, 1.8), (40.0, 40.0))
    field = pack("core.fields.textured").TexturedMeshField.from_source(world.true_mesh(world.get_object("duck"), 48),
                                                                      "densegrid")
    term = bsd.BSDLoss(prior, cams, views_per_step=1, augment_every=2, augment_views=2, sdedit_steps=1, finetune_fraction=1.0,
                       estimator="prior + residual", class_word="duck")
    optimize = pack("core.optimize").optimize
    return step_costs(lambda: optimize(field, [term], steps, lr=0.01, lr_schedule="constant"), bsd.BSDLoss)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", nargs="*", default=list(FINE_TEXTURE), help="none: only the checkpoint's cost")
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
    ap.add_argument("--oracle", action="store_true",
                    help="also BSD whose booster gets the true renders instead of its augmentations (its bound)")
    ap.add_argument("--checkpoint", default=os.path.join(ROOT, ".host", "base", "models", "checkpoints",
                                                         "distill3d_test_random_sd15.safetensors"),
                    help="a ComfyUI SD checkpoint for the per-step cost through Checkpoint Prior (Text); '' skips it")
    ap.add_argument("--sd-resolution", type=int, default=512, help="render size for the checkpoint (512: 64² latents)")
    ap.add_argument("--sd-steps", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.objects:
        obj = get_object(name)
        geometries = [("true", None)]
        if args.stage1:
            geometries.append(("stage-1", stage1_geometry(obj, args.stage1_steps)))
        for geo_name, geo in geometries:
            methods = ("sds", "vsd", "bsd") + (("bsd-oracle",) if args.oracle else ())
            for method in methods:
                kw = {} if method == "sds" else {"estimator_steps": args.estimator_steps}
                if method.startswith("bsd"):
                    kw |= {"sdedit_steps": args.sdedit_steps, "rounds": args.rounds}
                with RoundWatch(obj, oracle=method == "bsd-oracle") as watch:
                    res = texture_on_world(obj, method.split("-")[0], geometry=geo, steps=args.steps,
                                           resolution=args.resolution, mode=args.mode, **kw)
                j = judge_texture(res.field, obj)
                rows.append((name, geo_name, method, j, res.seconds))
                print(f"{name:9s} {geo_name:7s} {method}  PSNR {j['psnr']:6.2f}  SSIM {j['ssim']:.3f}  saturation "
                      f"{j['saturation']:.3f} (truth {j['true_saturation']:.3f})  {res.seconds:6.1f} s", flush=True)
                if watch.rounds:
                    print(f"    rounds: {watch.describe()}", flush=True)
    print("\nBSD against VSD (PSNR, same budget):" if rows else "")
    for name in args.objects:
        for geo_name in ("true", "stage-1"):
            got = {m: j["psnr"] for n, g, m, j, _ in rows if n == name and g == geo_name}
            if got:
                oracle = f", BSD with true augmentations - VSD {got['bsd-oracle'] - got['vsd']:+.2f} dB" \
                    if "bsd-oracle" in got else ""
                print(f"  {name:9s} {geo_name:7s} BSD - VSD {got['bsd'] - got['vsd']:+.2f} dB, "
                      f"BSD - SDS {got['bsd'] - got['sds']:+.2f} dB{oracle}")
    if args.objects:
        from core.losses.bsd import BSDLoss
        obj = get_object(args.objects[0])
        cost = step_costs(lambda: texture_on_world(obj, "bsd", steps=max(10, args.steps // 2),
                                                   resolution=args.resolution, mode=args.mode), BSDLoss)
        print(f"\nBSD on the world at {args.resolution}²: {cost['per_step']:.2f} s a step without rounds, "
              f"{cost['per_round']:.1f} s an augmentation round ({cost['rounds']} rounds)")
    if args.checkpoint and os.path.exists(args.checkpoint):
        cost = sd_step_costs(args.checkpoint, args.sd_resolution, args.sd_steps)
        print(f"BSD on {os.path.basename(args.checkpoint)} at {args.sd_resolution}² renders "
              f"({args.sd_resolution // 8}² latents): {cost['per_step']:.1f} s a step without rounds, "
              f"{cost['per_round']:.1f} s an augmentation round ({cost['rounds']} rounds in {cost['steps']} steps)")
    elif args.checkpoint:
        print(f"no checkpoint at {args.checkpoint}: write a random full-size SD 1.5 there with '<host python> "
              f"tests/host/make_random_sd15.py --comfyui .host/ComfyUI --out {args.checkpoint}', or pass --checkpoint ''")


if __name__ == "__main__":
    main()
