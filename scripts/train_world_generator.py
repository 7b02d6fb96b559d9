#!/usr/bin/env python3
"""Trains the pack's own small 3D GAN generator (core.gan.world: EG3D's architecture, small) on a world family
(core.world.families; the shipped one: mugs of many proportions, handles and colours).

How, and why not adversarially: every latent z is a known family member (core.gan.world.latent_members), whose
exact SDF and colours the world gives. So the generator is trained by regression onto its own member, not against
a discriminator: the triplane decoder's opacity and colour at 3D points (near the surface and everywhere) match the
member's occupancy and albedo, and every few steps the rendered image (64², EG3D's renderer) and the
super-resolved one (128²) match the member's exact render from a random camera. The generator is as diverse as
the family by construction (no mode collapse to fight), training is stable and takes minutes on two CPU cores,
where adversarial training of EG3D takes GPU-days; what it learns is still an EG3D generator (z -> w -> triplanes
-> volume rendering -> super-resolution) that the adaptation nodes fine-tune like any other.

    .host/venv/bin/python scripts/train_world_generator.py          # the shipped weights (same seed, same file)
    .host/venv/bin/python scripts/train_world_generator.py --steps 100 --out /tmp/g.safetensors

Reproducible: one seed drives the initialization, the latents, points and cameras; 2 torch threads. Every
`--eval-every` steps it prints, on 8 held-out latents, the IoU of the generator's occupancy with the members' and
the PSNR of its 64² renders; the weights go atomically to --out with the seed, steps and final figures.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from core.cameras import Cameras, to_eg3d  # noqa: E402
from core.gan.eg3d import camera_frame, generator_config, save_generator  # noqa: E402
from core.gan.evaluate import family_iou  # noqa: E402
from core.gan.render import eg3d_rays, render_triplane, sample_triplane  # noqa: E402
from core.gan.world import WEIGHTS, latent_members, world_generator  # noqa: E402
from core.world import render_object  # noqa: E402
from core.world.families import FAMILIES  # noqa: E402

#: the decoder's raw density (EG3D's density is softplus(sigma - 1)) wanted inside and outside: inside, a wall of
#: 0.035 (the thinnest) stops 95% of the light; outside, nothing
SIGMA_INSIDE, SIGMA_OUTSIDE = 90.0, -6.0
#: the width (world units) over which the target occupancy goes from 1 to 0 across the surface
SURFACE_WIDTH = 0.006


def member_points(obj, n_uniform: int, n_surface: int, g: torch.Generator, half: float = 0.6):
    """Points of the cube [-half, half]^3: uniform ones, and ones near the surface (the closest of 4x as many
    candidates), with their signed distance and albedo."""
    uni = (torch.rand(n_uniform, 3, generator=g) * 2 - 1) * half
    cand = (torch.rand(4 * n_surface, 3, generator=g) * 2 - 1) * 0.55
    d = obj.shape.sdf(cand)
    near = cand[d.abs().argsort()[:n_surface]]
    near = near + torch.randn(near.shape, generator=g) * 0.01
    pts = torch.cat([uni, near])
    d, col = obj.shape(pts)
    return pts, d, col


def point_losses(g, planes, pts, sdf, col):
    """Squared error of the decoder's raw density against SIGMA_OUTSIDE .. SIGMA_INSIDE by the smoothed occupancy (a loss
    on the opacity itself saturates: its gradient fades as the density grows, and thin walls need a large one);
    colour L1 near and inside the surface."""
    out = g.decoder(sample_triplane(planes, pts, g.rendering_kwargs["box_warp"]))
    target = torch.sigmoid(-sdf / SURFACE_WIDTH * 4)
    sigma = SIGMA_OUTSIDE + (SIGMA_INSIDE - SIGMA_OUTSIDE) * target
    occ = ((out["sigma"][..., 0] - sigma) / (SIGMA_INSIDE - SIGMA_OUTSIDE)).pow(2).mean()
    w = ((sdf < 0.02) & (sdf > -0.05)).float()
    colour = ((out["rgb"][..., :3] - col).abs().sum(-1) * w).sum() / w.sum().clamp_min(1)
    return occ, colour


def random_cameras(n: int, g: torch.Generator) -> Cameras:
    az = torch.rand(n, generator=g) * 360
    el = torch.rand(n, generator=g) * 80 - 20
    return Cameras.from_spherical(el, az, 1.8, 40.0)


def render_losses(gen, ws, planes, objs, cams):
    """L1 of the 64² render and the 128² super-resolved image against the members' exact renders."""
    rk = gen.rendering_kwargs
    scale, offset = camera_frame(gen, 1.8)
    c = to_eg3d(cams, scale, offset)
    res = gen.neural_rendering_resolution
    origins, dirs = eg3d_rays(c, res)
    feats, _, _ = render_triplane(planes, gen.decoder, origins, dirs, rk["ray_start"], rk["ray_end"],
                                  rk["depth_resolution"], rk["depth_resolution_importance"], rk["box_warp"],
                                  rk.get("white_back", False))
    n = len(ws)
    image = feats.permute(0, 2, 1).reshape(n, -1, res, res)
    raw = image[:, :3]
    sr = gen.superresolution(raw.clone(), image, ws, noise_mode=rk["superresolution_noise_mode"])
    with torch.no_grad():
        t_raw = torch.stack([render_object(o, cams[i:i + 1], res, shading="albedo", supersample=2).rgb[0]
                             for i, o in enumerate(objs)]).permute(0, 3, 1, 2) * 2 - 1
        t_sr = torch.stack([render_object(o, cams[i:i + 1], gen.img_resolution, shading="albedo",
                                          supersample=1).rgb[0]
                            for i, o in enumerate(objs)]).permute(0, 3, 1, 2) * 2 - 1
    return (raw - t_raw).abs().mean(), (sr - t_sr).abs().mean(), raw, t_raw


def evaluate(gen, family, z):
    """Held-out figures: each latent's shape IoU with its member (core.gan.evaluate.family_iou, 48³) and the PSNR of
    64² renders from one camera per member."""
    objs = [family.object(u) for u in latent_members(family, z)]
    ious = family_iou(gen, z, 48)
    with torch.no_grad():
        ws = gen.mapping(z, torch.zeros(len(z), 25))
        planes = gen.planes(ws, "const")
        cams = Cameras.from_spherical(torch.full((len(z),), 20.0), torch.linspace(0, 315, len(z)), 1.8, 40.0)
        _, _, raw, t_raw = render_losses(gen, ws, planes, objs, cams)
        mse = ((raw - t_raw) / 2).pow(2).mean((1, 2, 3))
        psnr = float((-10 * torch.log10(mse.clamp_min(1e-10))).mean())
    return sum(ious) / len(ious), min(ious), psnr


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", default="mug", choices=sorted(FAMILIES))
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--points", type=int, default=3072, help="points per member and step (half near the surface)")
    ap.add_argument("--render-every", type=int, default=6, help="render loss every this many steps")
    ap.add_argument("--render-batch", type=int, default=1)
    ap.add_argument("--lr", type=float, default=2e-2, help="the synthesis and super-resolution networks' rate")
    ap.add_argument("--slow", type=float, default=0.1, help="the decoder's and mapping network's share of it")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--colour-weight", type=float, default=0.5)
    ap.add_argument("--shape-first", type=float, default=0.4, help="share of the run with a tenth of the colour "
                                                                    "weight")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--out", default=WEIGHTS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint", default="", help="also save the generator here at every evaluation")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    family = FAMILIES[args.family]
    gen = world_generator(args.family).train()
    gen.requires_grad_(True)
    g = torch.Generator().manual_seed(args.seed + 1)
    z_eval = torch.randn(8, family.size, generator=torch.Generator().manual_seed(10_000 + args.seed))
    # the synthesis network learns fast (measured: at 2e-3 the planes barely took shape in 150 steps, at 1e-2 they
    # did); the decoder (EG3D's decoder_lr_mul, 100 here, already multiplies its rate) and mapping slower
    opt = torch.optim.Adam([{"params": list(gen.backbone.synthesis.parameters()) +
                             list(gen.superresolution.parameters()), "scale": 1.0},
                            {"params": list(gen.decoder.parameters()) + list(gen.backbone.mapping.parameters()),
                             "scale": args.slow}], lr=args.lr, betas=(0.9, 0.99))
    t0 = time.perf_counter()
    c0 = torch.zeros(args.batch, 25)
    figures = {}
    for step in range(args.steps):
        lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for grp in opt.param_groups:
            grp["lr"] = lr * grp["scale"]
        z = torch.randn(args.batch, family.size, generator=g)
        objs = [family.object(u) for u in latent_members(family, z)]
        ws = gen.mapping(z, c0)
        planes = gen.planes(ws, "const")
        samples = [member_points(o, args.points // 2, args.points // 2, g) for o in objs]
        pts, sdf, col = (torch.stack(x) for x in zip(*samples))
        occ, colour = point_losses(gen, planes, pts, sdf, col)
        # shape first: early on the colour's gradient drowns the occupancy's (measured: held-out best-threshold
        # IoU 0.41-0.57 after 150 steps without colour, 0.27-0.43 with it)
        colour_weight = args.colour_weight * (0.1 if step < args.shape_first * args.steps else 1.0)
        loss = occ + colour_weight * colour
        logs = dict(occupancy=float(occ.detach()), colour=float(colour.detach()))
        if step % args.render_every == 0:
            k = args.render_batch
            raw_l1, sr_l1, _, _ = render_losses(gen, ws[:k], planes[:k], objs[:k], random_cameras(k, g))
            loss = loss + colour_weight * (raw_l1 + sr_l1)
            logs.update(raw=float(raw_l1.detach()), sr=float(sr_l1.detach()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 25 == 0:
            print(f"step {step} {time.perf_counter() - t0:.0f}s lr {lr:.2e} " +
                  " ".join(f"{k} {v:.4f}" for k, v in logs.items()), flush=True)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            gen.eval()
            iou, iou_min, psnr = evaluate(gen, family, z_eval)
            gen.train()
            figures = dict(iou=round(iou, 4), iou_min=round(iou_min, 4), psnr=round(psnr, 2))
            print(f"eval step {step + 1}: held-out IoU {iou:.3f} (min {iou_min:.3f}), render PSNR {psnr:.2f} dB",
                  flush=True)
            if args.checkpoint:
                save_generator(gen, args.checkpoint)
    gen.eval().requires_grad_(False)
    with torch.no_grad():  # w_avg: the mean w (EG3D tracks it during training; truncation pulls towards it)
        zs = torch.randn(4096, family.size, generator=torch.Generator().manual_seed(args.seed + 2))
        gen.backbone.mapping.w_avg.copy_(gen.backbone.mapping(zs, torch.zeros(4096, 25))[:, 0].mean(0))
    seconds = time.perf_counter() - t0
    save_generator(gen, args.out)
    print(json.dumps(dict(out=args.out, seed=args.seed, steps=args.steps, seconds=round(seconds), **figures,
                          family=generator_config(gen)["rendering_kwargs"]["world_family"])))


if __name__ == "__main__":
    main()
