#!/usr/bin/env python3
"""The GPU suite: one command for the day a CUDA device is lent to us, or a user wants the figures for theirs.

    .host/venv/bin/python bench/gpu_suite.py [--steps 10] [--loops sd15 sd35 flux] [--no-accelerators]

1. Accelerators, each beside its pure-torch path in the same run: tiny-cuda-nn's hash grid vs the torch hash grid
   (points/s, forward + backward) and nvdiffrast vs the torch rasterizer (views/s at 512², forward + backward),
   where they import.
2. The optimization loops of the GPU text-to-3D workflows at their shipped sizes (read from build_workflows.SPECS:
   the prior's render size and guidance, the loss node's settings, Create NeRF's encoding, Optimize Field's samples
   per ray and learning rate): 13 (SD 1.5, SDS at 512²), 21 (SD3.5 Large, RFDS at 512²)
   and 20 (Flux.1-dev, RFDS at 512², distilled guidance 3.5). The models are random and full-size, built from
   ComfyUI's own classes at the real architectures (no download; the tests' make_random_* scripts at full
   size) and driven through the same Checkpoint Prior adapter and optimizer as the workflows. Prints seconds per
   step (after two warm-up steps) and peak CUDA memory per loop.

Without a CUDA device it says so and runs the smallest size on the CPU: the tests' small models at 64² for two
steps (a check that the suite itself runs, not a speed figure). Run it with the host's python (ComfyUI importable).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests", "host"))


def import_host(cuda: bool):
    """ComfyUI importable (on the CPU unless CUDA is there) and the pack as ComfyUI imports it, distill3d_pack: its
    nodes/ would clash with ComfyUI's nodes module under its folder's name."""
    import importlib
    import types
    from comfy_host import HOST_DIRS, host_env
    sys.path.insert(0, os.path.abspath(host_env(HOST_DIRS["0.3.75"])["comfyui"]))
    sys.argv = sys.argv[:1] + ([] if cuda else ["--cpu"])
    import comfy.options
    comfy.options.enable_args_parsing()
    pack = types.ModuleType("distill3d_pack")
    pack.__path__ = [ROOT]
    sys.modules["distill3d_pack"] = pack
    return lambda name: importlib.import_module(f"distill3d_pack.{name}")


D3 = None  # the pack's modules by name, once import_host ran

# the real architectures (ComfyUI's detected configurations of the released files)
SD35_LARGE = dict(in_channels=16, out_channels=16, patch_size=2, depth=38, input_size=None, adm_in_channels=2048,
                  context_embedder_config={"target": "torch.nn.Linear",
                                           "params": {"in_features": 4096, "out_features": 2432}},
                  num_patches=36864, pos_embed_max_size=192, pos_embed_scaling_factor=None, qk_norm="rms",
                  x_block_self_attn_layers=[])
FLUX_DEV = dict(image_model="flux", axes_dim=[16, 56, 56], num_heads=24, mlp_ratio=4.0, theta=10000, out_channels=16,
                qkv_bias=True, in_channels=16, hidden_size=3072, context_in_dim=4096, patch_size=2, vec_in_dim=768,
                depth=19, depth_single_blocks=38, guidance_embed=True)
# each loop's shipped workflow (build_workflows.SPECS, whose settings it runs) and its text encoders' widths
LOOPS = {"sd15": dict(workflow="dreamfusion_sd", context=(77, 768), pooled=None),
         "sd35": dict(workflow="dreamfusion_sd35", context=(333, 4096), pooled=2048),
         "flux": dict(workflow="dreamfusion_flux", context=(256, 4096), pooled=768)}


def shipped(workflow: str, key: str) -> dict:
    """The widget values the shipped workflow gives its node `key` (its links left out)."""
    from build_workflows import SPECS
    (inputs,) = [item[2] for item in SPECS[workflow][1] if item[0] == key]
    return {k: v for k, v in inputs.items() if not isinstance(v, tuple)}


def normal_init_(module, std: float = 0.02):
    """Weights N(0, std), biases 0, norm scales 1, on whatever device the module is (fast for billions of values)."""
    import torch
    with torch.no_grad():
        for m in module.modules():
            for name, p in m.named_parameters(recurse=False):
                if p.ndim >= 2:
                    p.normal_(0, std)
                elif "norm" in type(m).__name__.lower() or name == "scale":
                    p.fill_(1.0)
                else:
                    p.zero_()


def build_model(kind: str, full: bool, device, dtype):
    """(ModelPatcher, VAE) for a loop: ComfyUI's classes at the released size (full) or the tests' small size."""
    import torch
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.sd
    import comfy.supported_models
    from make_random_flow import FLUX, SD3, vae16
    from make_random_sd15 import SMALL_UNET, UNET, VAE
    if kind == "sd15":
        config = comfy.supported_models.SD15(dict(UNET if full else SMALL_UNET, dtype=dtype))
    elif kind == "sd35":
        config = comfy.supported_models.SD3(dict(SD35_LARGE if full else SD3, dtype=dtype))
    else:
        cfg = FLUX_DEV if full else dict(FLUX, guidance_embed=True)
        config = comfy.supported_models.Flux(dict(cfg, dtype=dtype))
    config.set_inference_dtype(dtype, None)  # SD3.5 Large is detected (and built) as SD3
    model = config.get_model({}, device=device)
    normal_init_(model.diffusion_model)
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=torch.device(device),
                                               offload_device=mm.unet_offload_device())
    g = torch.Generator().manual_seed(0)
    if kind == "sd15":
        import comfy.ldm.models.autoencoder
        from make_random_sd15 import init_
        vae_model = comfy.ldm.models.autoencoder.AutoencoderKL(ddconfig=VAE, embed_dim=4)
        init_(vae_model, g)
        vae = comfy.sd.VAE(sd=vae_model.state_dict())
    else:
        vae = comfy.sd.VAE(sd=vae16(g))
    return patcher, vae


def run_loop(name: str, full: bool, device: str, steps: int) -> dict:
    import torch
    CameraDistribution = D3("core.cameras").CameraDistribution
    make_field = D3("core.fields").make_field
    SDSLoss = D3("core.losses.sds").SDSLoss
    optimize = D3("core.optimize").optimize
    PromptedPrior = D3("core.priors").PromptedPrior
    ComfyModelPredictor = D3("nodes.comfy.prior").ComfyModelPredictor
    spec = LOOPS[name]
    prior_in, sds_in, fit_in = (shipped(spec["workflow"], k) for k in ("prior", "sds", "fit"))
    field_in = shipped(spec["workflow"], "field")
    dtype = (torch.float16 if name == "sd15" else torch.bfloat16) if device == "cuda" else torch.float32
    t0 = time.perf_counter()
    model, vae = build_model(name, full, device, dtype)
    built = time.perf_counter() - t0
    res = prior_in["resolution"] if full else 64
    pred = ComfyModelPredictor(model, vae, res, guidance=prior_in.get("flux_guidance", 0.0))
    g = torch.Generator().manual_seed(0)
    n_tok, width = spec["context"] if full else (8, spec["context"][1] if name == "sd35" else 768)
    pooled = spec["pooled"] if full or name == "sd35" else (768 if name == "flux" else None)

    def conditioning():
        extra = {} if pooled is None else {"pooled_output": torch.randn(1, pooled, generator=g)}
        return pred.conditioned([[torch.randn(1, n_tok, width, generator=g), extra]])
    prior = PromptedPrior(pred, conditioning=(conditioning(), conditioning()))
    term = SDSLoss(prior, CameraDistribution(), **sds_in)
    torch.manual_seed(field_in["seed"])
    encoding, config = D3("core.fields").encoding_preset(field_in["encoding"], device)  # as Create NeRF makes it
    field = make_field("nerf", encoding=encoding, encoding_config=config, device=device)
    samples, lr = (fit_in["samples_per_ray"] if full else 16), fit_in["learning_rate"]
    optimize(field, [term], steps=2, lr=lr, n_samples=samples, device=device)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    out = optimize(field, [term], steps=steps, lr=lr, n_samples=samples, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2 ** 30
    else:  # the process's peak resident memory (models, VAE, field, ComfyUI)
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    params = sum(p.numel() for p in model.model.diffusion_model.parameters()) / 1e9
    return dict(loop=name, workflow=spec["workflow"], render=res, params=params, built=built,
                per_step=out.seconds / max(out.steps_done, 1), peak=peak, stopped=out.stopped)


def accelerators(device: str):
    """tiny-cuda-nn vs the torch hash grid, nvdiffrast vs the torch rasterizer, in one run each."""
    import torch
    orbit = D3("core.cameras").orbit
    encodings = D3("core.fields.encodings")
    make_hash_grid, tcnn_available = encodings.make_hash_grid, encodings.tcnn_available
    raster = D3("core.render.raster")
    nvdiffrast_available, rasterize = raster.nvdiffrast_available, raster.rasterize
    get_object, true_mesh = D3("core.world").get_object, D3("core.world").true_mesh

    def timed(fn, repeat=10):
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / repeat

    pts = torch.rand(2 ** 18 if device == "cuda" else 2 ** 14, 3, device=device) * 2 - 1
    rates = {}
    for backend in ("torch", "tcnn"):
        if backend == "tcnn" and not tcnn_available(device):
            print("hash grid: tiny-cuda-nn does not import here (or no CUDA): torch only")
            continue
        enc = make_hash_grid(backend, device=device).to(device)
        rates[backend] = pts.shape[0] / timed(lambda: enc(pts).float().sum().backward())
        print(f"hash grid ({backend:5s}) fwd+bwd {rates[backend]:14.0f} points/s")
    if len(rates) == 2:
        print(f"hash grid: tiny-cuda-nn / torch = {rates['tcnn'] / rates['torch']:.2f}x")
    mesh = true_mesh(get_object("snowman"), 128)
    cams = orbit(4, 20, 1.8, 40).to(device)
    res = 512 if device == "cuda" else 64
    views = {}
    for backend in ("torch", "nvdiffrast"):
        if backend == "nvdiffrast" and not nvdiffrast_available(device):
            print("rasterizer: nvdiffrast does not import here (or no CUDA): torch only")
            continue
        v = mesh.vertices.to(device).requires_grad_(True)

        def rast():
            rec = rasterize(v, mesh.faces.to(device), cams, res, attributes=mesh.vertex_colors.to(device),
                            backend=backend)
            rec.rgb.sum().backward()
        views[backend] = 4 / timed(rast, 5)
        print(f"rasterizer ({backend:10s}) {mesh.num_faces} faces at {res}²: fwd+bwd {views[backend]:8.1f} views/s")
    if len(views) == 2:
        print(f"rasterizer: nvdiffrast / torch = {views['nvdiffrast'] / views['torch']:.2f}x")


def main():
    global D3
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10, help="timed steps per loop (after 2 warm-up steps)")
    ap.add_argument("--loops", nargs="*", default=list(LOOPS), choices=list(LOOPS))
    ap.add_argument("--no-accelerators", action="store_true")
    args = ap.parse_args()
    import torch
    cuda = torch.cuda.is_available()
    D3 = import_host(cuda)
    if cuda:
        device, full, steps = "cuda", True, args.steps
        print(f"CUDA device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    else:
        device, full, steps = "cpu", False, 2
        print("no CUDA device here: the suite runs its smallest size on the CPU (the tests' small models at 64², "
              "2 steps): a check that it runs, not the GPU figures")
    if not args.no_accelerators:
        accelerators(device)
    print(f"{'loop':5s} {'workflow':22s} {'render':>6s} {'denoiser B':>10s} {'s/step':>7s} {'peak GiB':>8s}"
          f"  ({'CUDA allocated' if cuda else 'process resident, cumulative'})")
    for name in args.loops:
        r = run_loop(name, full, device, steps)
        print(f"{r['loop']:5s} {r['workflow']:22s} {str(r['render']) + '²':>6s} {r['params']:10.3f} "
              f"{r['per_step']:7.3f} {r['peak']:8.2f}" + (f"  STOPPED: {r['stopped']}" if r["stopped"] else ""),
              flush=True)


if __name__ == "__main__":
    main()
