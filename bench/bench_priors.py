#!/usr/bin/env python3
"""Milliseconds per epsilon prediction of each prior at its working size and batch (no gradients; what one SDS
step asks of a prior: one unconditional call for the batch, one conditional call per view label).

    .host/venv/bin/python bench/bench_priors.py [--checkpoint PATH.safetensors] [--sd-resolution 64 512]

- World prior, view-aware and 2D, 32² and 64², batch 4: conditional (one object) and unconditional (all 16).
- A ComfyUI checkpoint through the Checkpoint Prior's adapter (ComfyUI's own loader and CFGGuider preparation),
  default: a random full-size SD 1.5 in the host's models/checkpoints (tests/host/make_random_sd15.py writes one).
- The diffusers prior on the tiny random IF stage I of the tests (the adapter's overhead, not IF's speed).
- For the network priors: ms per VSD estimator update (lora: a U-Net forward + backward; prior + residual: a
  forward; renders: no prior call).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
import types

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def timed(fn, repeat: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1000


def world(batch: int = 4):
    from core.cameras import CameraDistribution
    from core.priors.world_prior import WorldPrior
    cams = CameraDistribution((-10, 75), (-180, 180), (1.8, 1.8), (40, 40)).sample(batch, torch.Generator().manual_seed(0))
    for res in (32, 64):
        for mode in ("view-aware", "2D"):
            p = WorldPrior(res, mode)
            cond, uncond = p.condition("a duck")
            t0 = time.perf_counter()
            for n in uncond:
                p.render_set(n)
            build = time.perf_counter() - t0
            x = torch.randn(batch, 3, res, res)
            t = torch.randint(20, 980, (batch,))
            c = timed(lambda: p.predict_eps(x, t, cond, cams), 10)
            u = timed(lambda: p.predict_eps(x, t, uncond, cams), 5 if mode == "2D" else 10)
            print(f"world prior {mode:10s} {res}² batch {batch}: conditional {c:7.1f} ms, unconditional {u:7.1f} ms "
                  f"(render sets ready in {build:.1f} s; cached on disk after the first build)", flush=True)


def load_comfy_checkpoint(path: str):
    """A checkpoint loaded by the 0.3.75 host's own ComfyUI (in this process), with the pack imported as ComfyUI
    imports it: (model, clip, vae, the pack's nodes.comfy.prior module, seconds to load)."""
    env = dict(line.strip().split("=", 1) for line in open(os.path.join(ROOT, ".host", "host.env")) if "=" in line)
    sys.path.insert(0, env["comfyui"])
    sys.argv = sys.argv[:1] + ["--cpu"] if not torch.cuda.is_available() else sys.argv[:1]
    import comfy.options
    comfy.options.enable_args_parsing()
    import comfy.sd
    pack = types.ModuleType("distill3d_pack")  # the pack as a package, as ComfyUI imports it
    pack.__path__ = [ROOT]
    sys.modules["distill3d_pack"] = pack
    comfy_prior = importlib.import_module("distill3d_pack.nodes.comfy.prior")
    t0 = time.perf_counter()
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(path, output_vae=True, output_clip=True)
    return model, clip, vae, comfy_prior, time.perf_counter() - t0


def comfy_checkpoint(path: str, resolutions, batch: int = 1):
    model, clip, vae, comfy_prior, load = load_comfy_checkpoint(path)
    tokens = clip.tokenize("a hamburger")
    cond = clip.encode_from_tokens_scheduled(tokens)
    for res in resolutions:
        pred = comfy_prior.ComfyModelPredictor(model, vae, res)
        x = torch.randn(batch, 4, res // 8, res // 8)
        t = torch.randint(20, 980, (batch,))
        ms = timed(lambda: pred.predict_eps(x, t, cond), 2 if res > 128 else 5)
        img = torch.rand(batch, res, res, 3, requires_grad=True)
        enc = timed(lambda: pred.encode(img).sum().backward(), 1 if res > 128 else 3)
        print(f"checkpoint prior ({os.path.basename(path)}, {type(model.model).__name__}) {res}² renders "
              f"({res // 8}² latents) batch {batch}: {ms:8.1f} ms per eps prediction; VAE encode + backward "
              f"{enc:8.1f} ms (checkpoint loaded in {load:.1f} s)", flush=True)
        vsd_updates(comfy_prior.ComfyModelPredictor(model, vae, res, clip=clip), x, "checkpoint prior", res)


def vsd_updates(predictor, x, label, res):
    """ms per VSD estimator update (one Adam step of its diffusion loss) for each estimator, at batch len(x)."""
    from core import cameras
    from core.priors import PromptedPrior
    from core.losses import vsd
    cams = cameras.orbit(x.shape[0], 15, 2.0, 40)
    prior = PromptedPrior(predictor, "a hamburger")
    for kind in vsd.ESTIMATORS:
        term = vsd.VSDLoss(prior, cams, estimator=kind, estimator_steps=1)
        term.request(0, 10, torch.Generator().manual_seed(0))
        term._ensure_estimator(x)
        ms = timed(lambda: term.train_estimator(x, cams), 1 if res > 128 else 3)
        print(f"  {label} {res}²: VSD estimator '{kind}': {ms:8.1f} ms per update", flush=True)
        term.finish()


def tiny_if():
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from tiny_diffusers import make_tiny_if
    from core.priors.diffusers_prior import DiffusersPrior
    with tempfile.TemporaryDirectory() as d:
        p = DiffusersPrior(make_tiny_if(os.path.join(d, "if")))
        cond, _ = p.condition("a rubber duck")
        x = torch.randn(4, 3, 64, 64)
        t = torch.randint(20, 980, (4,))
        print(f"diffusers prior (tiny random IF-I, 64² batch 4): {timed(lambda: p.predict_eps(x, t, cond), 10):.1f} "
              f"ms per eps prediction", flush=True)
        vsd_updates(p, p.encode(torch.rand(4, 64, 64, 3)), "diffusers prior (tiny IF-I)", 64)


def main():
    ap = argparse.ArgumentParser()
    default = os.path.join(ROOT, ".host", "base", "models", "checkpoints", "distill3d_test_random_sd15.safetensors")
    ap.add_argument("--checkpoint", default=default)
    ap.add_argument("--sd-resolution", type=int, nargs="+", default=[64, 512])
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    world()
    tiny_if()
    if os.path.exists(args.checkpoint):
        comfy_checkpoint(args.checkpoint, args.sd_resolution)
    else:
        print(f"no checkpoint at {args.checkpoint}: pass one, or write a random full-size SD 1.5 there with "
              f"'<host python> tests/host/make_random_sd15.py --comfyui .host/ComfyUI --out {args.checkpoint}'")


if __name__ == "__main__":
    main()
