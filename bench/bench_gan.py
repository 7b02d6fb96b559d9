#!/usr/bin/env python3
"""DiffusionGAN3D on the pack's own mug generator (weights/eg3d/world_mug_generator.safetensors), on a CPU.

Sections (each prints a table; all ratios and comparisons are measured in this one run):
  speed      render seconds of 4 samples at 64² (the raw render) and 128² (super-resolved), seconds per
             adaptation step at batch 4 (SDS + relative distance, + reconstruction), peak memory (max RSS)
  family     the generator against its family: each held-out latent's shape IoU with its true member
  diversity  adaptation to colour prompts with and without the relative distance loss: diversity of renders and
             triplanes after / before, shape IoU after vs before, redness before -> after
  edit       the local edit: with the reconstruction loss (source 'a mug'), PSNR of the adapted renders against the
             original's outside the edit mask, against the same run without it
  avatar     text-to-avatar against DreamFusion-world (NeuS from nothing) at the same budget (steps, batch, prior):
             IoU with the catalogue object and the Janus probe

    .host/venv/bin/python bench/bench_gan.py [--sections speed family diversity edit avatar] [--steps 60]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from core.cameras import Cameras, orbit  # noqa: E402
from core.gan.adapt import RELATIVE_DISTANCE_WEIGHT, adapt_generator  # noqa: E402
from core.gan.eg3d import render_samples, seed_latents  # noqa: E402
from core.gan.evaluate import compare_generators, family_iou, local_edit_psnr  # noqa: E402
from core.gan.world import default_generator  # noqa: E402
from core.priors import PromptedPrior  # noqa: E402
from core.priors.world_prior import WorldPrior  # noqa: E402

PROMPTS = ("a red mug", "a blue mug", "a green mug", "a yellow mug")
#: the latents every table judges on (seeds 100..107: not the ones a workflow shows)
EVAL_SEEDS = range(100, 108)


def speed(g, args):
    z = seed_latents(range(4), g.z_dim)
    cams = Cameras.from_spherical(20.0, 30.0, 1.8, 40.0)
    render_samples(g, z[:1], cams)  # warm-up
    for res in (64, 128):
        t = time.perf_counter()
        out = render_samples(g, z, cams, neural_rendering_resolution=res)
        print(f"render 4 samples, neural rendering {res}² (+ super-resolution to {out['image'].shape[1]}²): "
              f"{time.perf_counter() - t:.2f} s")
    prior = PromptedPrior(WorldPrior(32), "a red mug")
    for label, kw in (("SDS + relative distance", {}), ("+ reconstruction", dict(reconstruction_weight=1.0,
                                                                                  source_prompt="a mug"))):
        res = adapt_generator(g, prior, steps=args.speed_steps, batch=4, guidance_scale=10.0, **kw)
        print(f"adaptation, batch 4, {label}: {res.run.seconds / res.run.steps_done:.2f} s/step "
              f"({res.run.steps_done} steps, 32² renders, 48 samples per ray)")
    print(f"peak memory (max RSS of this process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} "
          f"MiB")


def family(g, args):
    z = seed_latents(range(1000, 1000 + args.family_latents), g.z_dim)
    ious = family_iou(g, z, 48)
    print(f"held-out latents' shape IoU with their family members (48³): mean {sum(ious) / len(ious):.3f}, "
          f"min {min(ious):.3f}, max {max(ious):.3f} over {len(ious)}")


def diversity(g, args):
    z = seed_latents(EVAL_SEEDS, g.z_dim)
    print(f"{'prompt':<14} {'RD weight':>9} {'render div':>10} {'plane div':>9} {'IoU mean':>8} {'IoU min':>7} "
          f"{'redness':>16} {'s':>5}")
    for prompt in args.prompts:
        prior = PromptedPrior(WorldPrior(32), prompt)
        for rd in (RELATIVE_DISTANCE_WEIGHT, 0.0):
            res = adapt_generator(g, prior, steps=args.steps, batch=4, guidance_scale=10.0, relative_distance_weight=rd,
                                  seed=0)
            r = compare_generators(g, res.generator, z)
            print(f"{prompt:<14} {rd:>9.0f} {r['render_diversity']:>10.3f} {r['plane_diversity']:>9.3f} "
                  f"{r['shape_iou_mean']:>8.3f} {r['shape_iou_min']:>7.3f} "
                  f"{r['redness_before']:>7.3f} -> {r['redness_after']:>6.3f} {res.run.seconds:>5.0f}", flush=True)


def edit(g, args):
    z = seed_latents(EVAL_SEEDS, g.z_dim)
    prior = PromptedPrior(WorldPrior(32), "a red mug")
    for w in (args.reconstruction, 0.0):
        res = adapt_generator(g, prior, steps=args.steps, batch=4, guidance_scale=10.0, reconstruction_weight=w,
                              source_prompt="a mug", seed=0)
        e = local_edit_psnr(g, res.generator, prior, "a mug", z)
        r = compare_generators(g, res.generator, z)
        print(f"reconstruction weight {w:>5.1f}: PSNR outside the edit mask {e['psnr_outside']:.2f} dB (mask share "
              f"{e['mask_share']:.2f}), redness {r['redness_before']:.3f} -> {r['redness_after']:.3f}", flush=True)


def avatar(g, args):
    from core.evaluate import evaluate_field, janus_probe
    from core.recipes import dreamfusion_on_world
    from core.gan.avatar import make_avatar
    from core.world import find_in_prompt
    print(f"{'prompt':<12} {'method':<22} {'IoU':>6} {'F@.02':>6} {'PSNR':>6} {'az err':>7} {'janus':>6} {'s':>5}")
    for prompt in args.avatar_prompts:
        obj = find_in_prompt(prompt)
        prior = PromptedPrior(WorldPrior(32), prompt)
        t = time.perf_counter()
        field, seed, scores, run = make_avatar(g, prior, candidates=8, seed=0, steps=args.steps, batch=4,
                                               guidance_scale=10.0, n_samples=32)
        rows = [("avatar (GAN prior)", field, time.perf_counter() - t)]
        t = time.perf_counter()
        df = dreamfusion_on_world(obj, steps=args.steps, batch=4, guidance_scale=10.0, seed=0)
        rows.append(("DreamFusion-world NeuS", df.field, time.perf_counter() - t))
        for label, f, s in rows:
            ev = evaluate_field(f, obj, resolution=32) | janus_probe(f, obj)
            print(f"{prompt:<12} {label:<22} {ev['iou']:>6.3f} {ev['fscore']:>6.3f} {ev['psnr']:>6.2f} {ev['azimuth_error']:>7.1f} "
                  f"{ev['janus_fraction']:>6.2f} {s:>5.0f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sections", nargs="+", default=["speed", "family", "diversity", "edit", "avatar"])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--speed-steps", type=int, default=5)
    ap.add_argument("--family-latents", type=int, default=16)
    ap.add_argument("--prompts", nargs="+", default=list(PROMPTS))
    ap.add_argument("--avatar-prompts", nargs="+", default=["a mug", "a red mug"])
    ap.add_argument("--reconstruction", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = default_generator()
    for s in args.sections:
        print(f"## {s}", flush=True)
        globals()[s](g, args)


if __name__ == "__main__":
    main()
