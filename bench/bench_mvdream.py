#!/usr/bin/env python3
"""Seconds per multi-view SDS step and per multi-view sampler step, with peak memory, for each multi-view prior.

    .host/venv/bin/python bench/bench_mvdream.py [--priors world tiny sd21] [--repeat 3]

- world: the World Prior in multi-view mode (32², one group of 4 views), offline.
- tiny:  the tiny random MVDream checkpoint of the tests (64²), multi-view and 2D attention.
- sd21:  MVDream's full SD 2.1 architecture (sd-v2.1-base-4view: 865M-parameter U-Net + VAE) with random weights,
         written once in the original layout by tests/host/make_tiny_mvdream.py --size sd21, at 256² (MVDream's
         size), multi-view and 2D attention: the cost of the real model, not its quality.
An SDS step here is the loss's whole share of a field step: encode 4 renders through the VAE, the CFG pair of
U-Net calls, the x0-form loss and its backward to the renders (the field's own rendering is excluded: it is the
same for every prior). A sampler step is one DDIM step with CFG for the group of 4. Each prior runs in its own
process; peak memory is that process's peak resident set (CPU) or peak CUDA allocation (GPU).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CACHE = os.path.join(os.environ.get("DISTILL3D_CACHE", os.path.expanduser("~/.cache/distill3d")), "bench")


def checkpoint(size: str) -> str:
    sys.path[:0] = [os.path.join(ROOT, "scripts"), os.path.join(ROOT, "tests")]
    from hostutil import write_tiny_mvdream
    path = os.path.join(CACHE, f"random_mvdream_{size}.safetensors")
    if not os.path.exists(path):
        os.makedirs(CACHE, exist_ok=True)
        write_tiny_mvdream(path, "--size", size)
    return path


def make_prior(name: str, views: int, device):
    from core.priors import PromptedPrior
    if name == "world":
        from core.priors.world_prior import WorldPrior
        return PromptedPrior(WorldPrior(32, mode="multi-view", device=device), "a snowman")
    from core.priors.mvdream import MVDreamPrior
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    p = MVDreamPrior(checkpoint(name), resolution=64 if name == "tiny" else 256, views=views, device=device,
                     dtype=dtype)
    ctx = torch.randn(1, 77, p.context_dim, generator=torch.Generator().manual_seed(0)).to(device, dtype)
    return PromptedPrior(p, conditioning=(ctx, torch.zeros_like(ctx)))


def one(name: str, views: int, repeat: int) -> dict:
    from types import SimpleNamespace

    from core.cameras import orbit
    from core.priors.sampler import ddim_sample
    from core.losses.sds import MultiViewSDSLoss
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.perf_counter()
    prior = make_prior(name, views, device)
    load_s = time.perf_counter() - t0
    loss = MultiViewSDSLoss(prior, guidance_scale=50.0)
    gen = torch.Generator().manual_seed(0)
    r = prior.predictor.resolution

    def sds_step():
        loss.request(0, 100, gen)
        renders = torch.rand(4, r, r, 3, generator=gen).to(device).requires_grad_(True)
        value, _ = loss.loss(None, SimpleNamespace(rgb=renders), 0, 100)
        value.backward()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    sds_step()  # warm-up
    sync()
    t0 = time.perf_counter()
    for _ in range(repeat):
        sds_step()
    sync()
    sds_s = (time.perf_counter() - t0) / repeat
    cams = orbit(4, 15.0)
    ddim_sample(prior, cams, steps=1, guidance_scale=7.5, device=device)
    sync()
    t0 = time.perf_counter()
    ddim_sample(prior, cams, steps=repeat, guidance_scale=7.5, device=device)
    sync()
    sample_s = (time.perf_counter() - t0) / repeat
    peak = (torch.cuda.max_memory_allocated() / 2 ** 30 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)
    return {"prior": name, "attention": "multi-view" if views > 1 else "2D", "resolution": r, "device": device.type,
            "load_s": load_s, "sds_step_s": sds_s, "sampler_step_s": sample_s, "peak_gib": peak}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--priors", nargs="*", default=["world", "tiny", "sd21"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print("RESULT " + json.dumps(one(a.one[0], int(a.one[1]), a.repeat)))
        return
    runs = [(p, v) for p in a.priors for v in ((4,) if p == "world" else (4, 1))]
    for p, _ in runs:
        if p != "world":
            checkpoint(p)  # write files before timing anything
    print(f"{'prior':6} {'attention':10} {'res':>4} {'device':6} {'load s':>7} {'MV-SDS step s':>14} "
          f"{'sampler step s':>15} {'peak GiB':>9}")
    for p, v in runs:
        out = subprocess.run([sys.executable, __file__, "--one", p, str(v), "--repeat", str(a.repeat)],
                             capture_output=True, text=True)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"{p} failed:\n{out.stderr[-3000:]}")
        d = json.loads(line[7:])
        print(f"{d['prior']:6} {d['attention']:10} {d['resolution']:>4} {d['device']:6} {d['load_s']:>7.1f} "
              f"{d['sds_step_s']:>14.3f} {d['sampler_step_s']:>15.3f} {d['peak_gib']:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
