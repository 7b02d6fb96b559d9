#!/usr/bin/env python3
"""Seconds per SDS step and peak memory on this machine's CPU for each model family the Checkpoint Prior drives,
through ComfyUI's own loaders and sampling (one process per family, so each peak is its own):

- sd15: the random full-size SD 1.5 (tests/host/make_random_sd15.py; 860M-value U-Net) where it was written, else
  the tests' one-level one (the denoiser column says which)
- sd15-edm-v: the same U-Net under Model Sampling Continuous EDM (v-prediction), as EDM / v SDXL variants run
- sd3: the random SD3 of the tests (2 joint blocks, 128 wide: ComfyUI's smallest SD3) + full-size 16-channel VAE
- flux: the random Flux.1-dev of the tests (1 double block at Flux's fixed 3072 width) + the same VAE

A step is what the SDS loss asks per step: VAE-encode the render (with gradients), noise it at a random t, one
unconditional and one conditional prediction, the gradient back to the render. The figures are for these sizes:
the real SD3.5 / Flux transformers are 20-40x the test ones and belong on a GPU (bench/gpu_suite.py).

    .host/venv/bin/python bench/bench_flow_priors.py [--resolution 64 128] [--steps 5] [--families sd3 flux]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

BODY = r'''
import resource, time, torch
import comfy.sd, comfy.utils
cp = importlib.import_module("distill3d_pack.nodes.comfy.prior")
from distill3d_pack.core.priors import cfg
from distill3d_pack.core.losses.sds import sds_from_eps, sds_weight
torch.set_num_threads(THREADS)
if FAMILY.startswith("sd15"):
    model, _, vae, _ = comfy.sd.load_checkpoint_guess_config(FILES["sd15"], output_clip=False)
    if FAMILY == "sd15-edm-v":
        from comfy_extras.nodes_model_advanced import ModelSamplingContinuousEDM
        model = ModelSamplingContinuousEDM().patch(model, "v_prediction", 120.0, 0.002)[0]
    ctx, pooled = 768, None
else:
    vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(FILES["vae"]))
    if FAMILY == "sd3":
        model, ctx, pooled = comfy.sd.load_checkpoint_guess_config(FILES["sd3"], output_clip=False)[0], 4096, 2048
    else:
        model, ctx, pooled = comfy.sd.load_diffusion_model(FILES["flux"]), 768, 768
g = torch.Generator().manual_seed(0)
def conditioning():
    extra = {} if pooled is None else {"pooled_output": torch.randn(1, pooled, generator=g)}
    return [[torch.randn(1, 77, ctx, generator=g), extra]]
pos, neg = conditioning(), conditioning()
with torch.inference_mode(False):
    for res in RESOLUTIONS:
        pred = cp.ComfyModelPredictor(model, vae, res)
        render = torch.rand(1, res, res, 3, generator=g).requires_grad_(True)
        def step():
            x = pred.encode(render)
            t = torch.randint(int(0.02 * pred.num_timesteps), int(0.98 * pred.num_timesteps), (1,), generator=g)
            eps = torch.randn(x.shape, generator=g)
            a = pred.alphas_cumprod[t].reshape(-1, 1, 1, 1)
            x_t = a.sqrt() * x.detach() + (1 - a).sqrt() * eps
            with torch.no_grad():
                eps_hat = cfg(pred.predict_eps(x_t, t, neg), pred.predict_eps(x_t, t, pos), 7.5)
            loss, _ = sds_from_eps(x, eps_hat, eps, sds_weight("sds", pred.alphas_cumprod, t))
            loss.backward()
        step()
        t0 = time.perf_counter()
        for _ in range(STEPS):
            step()
        per = (time.perf_counter() - t0) / STEPS
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
        n = sum(p.numel() for p in model.model.diffusion_model.parameters()) / 1e6
        print(f"RESULT {FAMILY} {res} {per:.3f} {peak:.2f} {n:.0f} {pred.path.kind} {pred.num_timesteps}", flush=True)
'''


def main():
    from comfy_host import HOST_DIRS, host_env, host_snippet
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", nargs="+", default=["sd15", "sd15-edm-v", "sd3", "flux"])
    ap.add_argument("--resolution", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    env = host_env(HOST_DIRS["0.3.75"])
    models = os.path.join(env["base"], "models")
    full_sd15 = os.path.join(models, "checkpoints", "distill3d_test_random_sd15.safetensors")
    files = {"sd15": full_sd15 if os.path.exists(full_sd15) else
             os.path.join(models, "checkpoints", "distill3d_test_small_sd15.safetensors"),
             "sd3": os.path.join(models, "checkpoints", "distill3d_test_small_sd3.safetensors"),
             "flux": os.path.join(models, "diffusion_models", "distill3d_test_small_flux.safetensors"),
             "vae": os.path.join(models, "vae", "distill3d_test_random_ae.safetensors")}
    missing = [p for p in files.values() if not os.path.exists(p)]
    if missing:
        raise SystemExit("missing test models (the host tests write them: pytest tests/host/test_flow_priors.py; "
                         "the full SD 1.5: tests/host/make_random_sd15.py --comfyui .host/ComfyUI --out "
                         f"{files['sd15']}): {', '.join(missing)}")
    print(f"{'family':11s} {'render':>6s} {'s/step':>7s} {'peak GiB':>8s} {'denoiser M':>10s}  path (table)")
    for family in args.families:
        code = host_snippet(BODY, env["comfyui"], FAMILY=family, FILES=files, RESOLUTIONS=args.resolution,
                            STEPS=args.steps, THREADS=args.threads)
        out = subprocess.run([env["python"], "-c", code], capture_output=True, text=True, cwd=env["comfyui"])
        if out.returncode:
            print(f"{family}: failed\n{out.stderr[-2000:]}")
            continue
        for line in out.stdout.splitlines():
            if line.startswith("RESULT"):
                _, fam, res, per, peak, n, kind, table = line.split()
                print(f"{fam:11s} {res + '²':>6s} {float(per):7.2f} {float(peak):8.2f} {n:>10s}  {kind} ({table})",
                      flush=True)


if __name__ == "__main__":
    main()
