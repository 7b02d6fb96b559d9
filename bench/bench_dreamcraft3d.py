#!/usr/bin/env python3
"""Image-to-3D from ONE reference view (DreamCraft3D's geometry sculpting, coarse stage) on the primitive world,
beside text-only DreamFusion on the same object and budget, with ablations (on the asymmetric objects). Every
object sees its front at elevation 15 (core.recipes.world_reference); NeuS + eikonal, 32², batch 4, --steps steps
(150; the shipped workflow runs 200).

Rows per object:
  text-only        the shipped DreamFusion world recipe (view-aware World Prior, 'a <object>', SDS)
  text-only 2D     the same with the 2D World Prior (a text-to-image model's view: it knows no orientation)
  image (hybrid)   dreamcraft3d_world's recipe: World Image Prior (3D term) + 2D World Prior (2D term) + reference
                   losses, progressive views, DreamCraft3D's timestep annealing
  no 3D term       the hybrid without the view-conditioned term (weight_3d 0)
  no progressive   the hybrid with all views from the start
  no reference     the hybrid without the reference losses
  white only       the hybrid rendered over white alone (the recipe before issue 30: a near-white part, the
                   house's cream walls, costs nothing to leave out)
Columns: IoU, F-score at 0.02, held-out PSNR, the Janus probe (mean azimuth error, back-view PSNR), seconds.

    .host/venv/bin/python bench/bench_dreamcraft3d.py                 # 6 asymmetric + 4 solid objects, all rows
    .host/venv/bin/python bench/bench_dreamcraft3d.py --objects duck --rows image "text-only"
    .host/venv/bin/python bench/bench_dreamcraft3d.py --zero123-step   # seconds per hybrid step, peak memory:
        the world (32²) and a random full-size Stable Zero123 at 256² (+ random SD 1.5 as the 2D term) on the CPU;
        needs the host (.host) for ComfyUI's loader
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SOLID = ("sphere", "cube", "cylinder", "capsule")
ROWS = {
    "text-only": ("text", {}),
    "text-only 2D": ("text", {"mode": "2D"}),
    "image (hybrid)": ("image", {"text_mode": "2D"}),
    "no 3D term": ("image", {"text_mode": "2D", "weight_3d": 0.0}),
    "no progressive": ("image", {"text_mode": "2D", "progressive_until": 0.0}),
    "no reference": ("image", {"text_mode": "2D", "reference_losses": False}),
    "white only": ("image", {"text_mode": "2D", "random_background": 0.0}),
}


def run_one(job):
    from core.evaluate import judge_image_to_3d
    from core.recipes import dreamcraft3d_on_world, dreamfusion_on_world
    from core.world import get_object
    name, row, steps = job
    kind, kw = ROWS[row]
    obj = get_object(name)
    t0 = time.perf_counter()
    if kind == "text":
        res = dreamfusion_on_world(obj, steps=steps, **kw)
    else:
        res = dreamcraft3d_on_world(obj, steps=steps, **kw)
    return judge_image_to_3d(res.field, obj) | {"object": name, "row": row, "seconds": time.perf_counter() - t0}


def world_step_seconds(steps: int = 20) -> float:
    """Seconds per hybrid step of the world recipe (one thread)."""
    import torch
    from core.recipes import dreamcraft3d_on_world
    from core.world import get_object
    torch.set_num_threads(1)
    dreamcraft3d_on_world(get_object("duck"), steps=2, text_mode="2D")  # caches
    res = dreamcraft3d_on_world(get_object("duck"), steps=steps, text_mode="2D")
    return res.seconds / steps


ZERO123_SNIPPET = r'''
import resource, time
import torch
import comfy.sd
cp = importlib.import_module("distill3d_pack.nodes.comfy.prior")
ev = importlib.import_module("distill3d_pack.core.recipes")
world = importlib.import_module("distill3d_pack.core.world")
g = importlib.import_module("distill3d_pack.core.priors")
hy = importlib.import_module("distill3d_pack.core.losses.hybrid")
cams = importlib.import_module("distill3d_pack.core.cameras")
fields = importlib.import_module("distill3d_pack.core.fields")
opt = importlib.import_module("distill3d_pack.core.optimize")
ref = ev.world_reference(world.get_object("duck"), elevation=15.0, size=256)
with torch.inference_mode():
    model, _, vae, clip_vision = comfy.sd.load_checkpoint_guess_config(Z123, output_clip=False, output_clipvision=True)
    sd, clip, sd_vae, _ = comfy.sd.load_checkpoint_guess_config(SD15)
    z = cp.Zero123Predictor(model, clip_vision, vae, ref, 256)
    t2 = cp.ComfyModelPredictor(sd, sd_vae, 256, clip=clip)
    p2 = g.PromptedPrior(t2, "a rubber duck")
p3 = g.PromptedPrior(z, conditioning=z.conditioning())
dist = cams.CameraDistribution((-10.0, 45.0), (-180.0, 180.0), (1.8, 1.8), (40.0, 40.0))
for label, prior_2d in (("zero123 only", None), ("zero123 + SD 1.5", p2)):
    term = hy.HybridSDSLoss(p3, prior_2d, dist, views_per_step=1, guidance_2d=100.0)
    field = fields.make_field("neus")
    with torch.inference_mode(False):
        opt.optimize(field, [term], 1, n_samples=32)  # warm-up: loads the models
        t0 = time.perf_counter()
        res = opt.optimize(field, [term], STEPS, n_samples=32)
    print(f"{label}: {(time.perf_counter() - t0) / STEPS:.2f} s per hybrid step at 256²")
print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
'''


def zero123_step(steps: int):
    """Seconds per hybrid step with the random full-size Stable Zero123 (+ random SD 1.5), 256² renders, CPU."""
    import subprocess
    from comfy_host import ROOT, host_env, host_snippet
    env = host_env()
    ckpts = os.path.join(env["base"], "models", "checkpoints")
    z123 = os.path.join(ckpts, "distill3d_test_random_stable_zero123.safetensors")
    sd15 = os.path.join(ckpts, "distill3d_test_random_sd15.safetensors")
    for path, script in ((z123, "make_random_zero123.py"), (sd15, "make_random_sd15.py")):
        if not os.path.exists(path):
            subprocess.run([env["python"], os.path.join(ROOT, "tests", "host", script), "--comfyui", env["comfyui"],
                            "--out", path], check=True, cwd=os.path.join(ROOT, "tests", "host"))
    code = host_snippet(ZERO123_SNIPPET, env["comfyui"], Z123=z123, SD15=sd15, STEPS=steps)
    subprocess.run([env["python"], "-c", code], check=True, cwd=env["comfyui"])


def main():
    from bench_sds_world import run_jobs
    from core.evaluate import asymmetric_objects
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", nargs="+", default=None, help="default: the asymmetric objects + 4 solid ones")
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--zero123-step", action="store_true")
    a = ap.parse_args()
    if a.zero123_step:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
        print(f"world: {world_step_seconds():.3f} s per hybrid step (32², batch 4, one thread)")
        zero123_step(3)
        return
    objects = a.objects or [*asymmetric_objects(), *SOLID]
    ablations = {"no 3D term", "no progressive", "no reference", "white only"}
    asym = set(asymmetric_objects())
    # the ablations on the asymmetric objects (where orientation can be wrong), unless objects are named
    jobs = [(o, r, a.steps) for o in objects for r in a.rows
            if a.objects or r not in ablations or o in asym]
    print(f"{len(jobs)} runs of {a.steps} steps; {a.workers} workers", flush=True)
    print("| object | run | IoU | F@.02 | PSNR | azimuth error ° | back PSNR | s |\n|---|---|---|---|---|---|---|---|",
          flush=True)
    rows = []
    for r in run_jobs(run_one, jobs, a.workers):
        rows.append(r)
        print(f"| {r['object']} | {r['row']} | {r['iou']:.3f} | {r['fscore']:.3f} | {r['psnr']:.2f} | {r['azimuth_error']:.1f} | "
              f"{r['back_psnr']:.2f} | {r['seconds']:.0f} |", flush=True)
    for row in a.rows:
        sel = [r for r in rows if r["row"] == row]
        if not sel:
            continue
        mean = lambda k, s=sel: sum(r[k] for r in s) / len(s)  # noqa: E731
        print(f"{row}: mean IoU {mean('iou'):.3f}, PSNR {mean('psnr'):.2f}, azimuth error {mean('azimuth_error'):.1f}°, "
              f"back PSNR {mean('back_psnr'):.2f}")
    if "image (hybrid)" in a.rows:
        for base in ("text-only", "text-only 2D"):
            if base not in a.rows:
                continue
            wins, losses = [], []
            for o in sorted(asym & set(objects)):
                im = next(r for r in rows if r["object"] == o and r["row"] == "image (hybrid)")
                tx = next(r for r in rows if r["object"] == o and r["row"] == base)
                won = im["back_psnr"] > tx["back_psnr"] and im["azimuth_error"] <= tx["azimuth_error"]
                (wins if won else losses).append(o)
            print(f"image vs {base} (back PSNR higher and azimuth error no higher): wins on {', '.join(wins) or '-'}; "
                  f"not on {', '.join(losses) or '-'}")
        if "text-only" in a.rows:
            pair = {o: [next(r for r in rows if r["object"] == o and r["row"] == k) for k in ("image (hybrid)",
                                                                                           "text-only")]
                    for o in objects}
            below = [o for o, (im, tx) in pair.items() if im["iou"] < tx["iou"] and im["fscore"] < tx["fscore"]]
            print(f"image >= text-only in shape (IoU or F@.02): {len(pair) - len(below)}/{len(pair)}; below on both: "
                  + (", ".join(f"{o} ({pair[o][0]['iou'] - pair[o][1]['iou']:+.3f} / "
                               f"{pair[o][0]['fscore'] - pair[o][1]['fscore']:+.3f})" for o in below) or "none"))
        solid = [r for r in rows if r["object"] in SOLID and r["row"] == "image (hybrid)"]
        print("solid objects, image run IoU >= 0.8: " + ", ".join(f"{r['object']} {r['iou']:.3f}" for r in solid))


if __name__ == "__main__":
    main()
