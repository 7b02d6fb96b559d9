"""Flow-matching models as priors, on ComfyUI's own loading and sampling (run with the host's python): random SD3
and Flux.1 (dev, schnell) files in the layouts ComfyUI detects (tests/host/make_random_flow.py), the prior's
denoised output against ComfyUI's own sampler at the same sigma and conditioning, SDS / RFDS / RFDS-Rev / VSD
steps through each, and the bad inputs of issue 28. The CONDITIONING here is made as ComfyUI's text encoders shape
it (SD3: 4096-wide context, 2048-wide pooled; Flux with CLIP-L: 768 and 768): the shipped workflows' host runs
(tests/host/test_host.py) encode real text with CLIP-L through CLIPLoader."""
import os
import re
import subprocess

import pytest

from comfy_host import host_snippet

SNIPPET = r'''
import torch
import comfy.sd, comfy.sample, comfy.samplers, comfy.utils
cp = importlib.import_module("distill3d_pack.nodes.comfy.prior")
core = importlib.import_module("distill3d_pack.core")
from distill3d_pack.core.priors import PromptedPrior, eps_to_x0
from distill3d_pack.core.cameras import CameraDistribution
from distill3d_pack.core.fields import make_field
from distill3d_pack.core.losses.sds import SDSLoss
from distill3d_pack.core.losses.vsd import VSDLoss
from distill3d_pack.core.optimize import optimize

from comfy_extras.nodes_model_advanced import ModelSamplingContinuousEDM
vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(VAE16))
sd15, _, sd15_vae, _ = comfy.sd.load_checkpoint_guess_config(SD15, output_clip=False)
models = {"sd3": comfy.sd.load_checkpoint_guess_config(SD3, output_clip=False)[0],
          "flux": comfy.sd.load_diffusion_model(FLUX), "flux-schnell": comfy.sd.load_diffusion_model(SCHNELL),
          # an EDM-style v-prediction model (as SDXL's EDM / Playground variants are set up): Model Sampling
          # Continuous EDM on the random SD 1.5
          "sd15-edm-v": ModelSamplingContinuousEDM().patch(sd15, "v_prediction", 120.0, 0.002)[0]}
vaes = {"sd15-edm-v": sd15_vae}
widths = {"sd3": (4096, 2048), "flux": (768, 768), "flux-schnell": (768, 768), "sd15-edm-v": (768, None)}
g = torch.Generator().manual_seed(0)

def conditioning(kind):
    c, p = widths[kind]
    extra = {} if p is None else {"pooled_output": torch.randn(1, p, generator=g)}
    return [[torch.randn(1, 8, c, generator=g), extra]]

def refused(fn):
    try:
        fn()
        return "ACCEPTED"
    except ValueError as e:
        return "REFUSED " + str(e).replace(chr(10), " ")

with torch.inference_mode(False):
    for kind, model in models.items():
        ms = model.get_model_object("model_sampling")
        print(f"DETECTED {kind} {type(model.model).__name__} {model.model.model_type.name} {type(ms).__name__} "
              f"shift {getattr(ms, 'shift', None)} table {ms.sigmas.shape[0]}")
        pred = cp.ComfyModelPredictor(model, vaes.get(kind, vae), 64)
        ch = pred.latent_format.latent_channels
        print(f"PATH {kind} {pred.path.kind} guidance_input {cp.guidance_input(model)}")
        pos, neg = conditioning(kind), conditioning(kind)
        T = pred.num_timesteps
        worst = 0.0
        for frac in (0.1, 0.5, 0.9):
            t = torch.tensor([int(frac * T)])
            latent = torch.randn(1, ch, 8, 8, generator=g)  # ComfyUI's latent (before process_in)
            eps = torch.randn(1, ch, 8, 8, generator=g)
            sigma = float(pred.path.sigmas[t])
            want = comfy.sample.sample_custom(model, eps, 1.0, comfy.samplers.ksampler("euler"),
                                              torch.tensor([sigma, 0.0]), pos, neg, latent, disable_pbar=True, seed=0)
            a = pred.alphas_cumprod[t]
            x0 = pred.latent_format.process_in(latent)
            x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
            with torch.no_grad():  # the conversion back in float64, so that only the prior's own error shows
                e = pred.predict_eps(x_t, t, pos).double()
                got = pred.latent_format.process_out(eps_to_x0(x_t.double(), e, t, pred.alphas_cumprod.double()))
            worst = max(worst, float((got - want).abs().max() / want.abs().max()))
        print(f"PARITY {kind} {worst:.2e}")
        prior = PromptedPrior(pred, conditioning=(pos, neg))
        cams = CameraDistribution(distance_range=(1.8, 1.8), fov_range=(40.0, 40.0))
        for name, term in (("sds", SDSLoss(prior, cams, views_per_step=1, guidance_scale=5.0)),
                           ("rfds", SDSLoss(prior, cams, views_per_step=1, guidance_scale=5.0, form="rfds",
                                            weighting="rfds", t_max=0.7)),
                           ("rfds-rev", SDSLoss(prior, cams, views_per_step=1, guidance_scale=1.0, form="rfds-rev",
                                                weighting="rfds")),
                           ("vsd", VSDLoss(prior, cams, views_per_step=1, estimator="renders")),
                           ("vsd-lora", VSDLoss(prior, cams, views_per_step=1, estimator="auto"))):
            torch.manual_seed(0)
            field = make_field("nerf")
            before = [p.detach().clone() for p in field.parameters()]
            seen = {}

            def on_progress(step, total, logs):  # the estimator while the run holds it
                est = getattr(seen.get("run"), "estimator", None)
                if est is not None and hasattr(est, "lora"):
                    seen["lora"] = (type(est).__name__, len(est.lora.targets),
                                    max(float(u.detach().abs().max()) for u in est.lora.up))
            res = optimize(field, [term], steps=2, lr=0.01, n_samples=8, seed=0,
                           on_start=lambda runs: seen.update(run=runs[0]), on_progress=on_progress)
            change = max(float((p.detach() - b).abs().max()) for p, b in zip(field.parameters(), before))
            finite = all(torch.isfinite(p).all() for p in field.parameters())
            print(f"STEPS {kind} {name} change {change:.2e} finite {finite} stopped {res.stopped}")
            if name == "vsd-lora":  # the estimator is a LoRA on the model's own denoiser, and it learned
                if "lora" in seen:
                    est, n, moved = seen["lora"]
                    print(f"LORA {kind} {est} {n} projections, up moved {moved:.2e}")
    print("BAD vae " + refused(lambda: cp.ComfyModelPredictor(models["sd3"], sd15_vae, 64)))
    print("BAD guidance_schnell " + refused(lambda: cp.ComfyModelPredictor(models["flux-schnell"], vae, 64,
                                                                            guidance=3.5)))
    print("BAD guidance_sd3 " + refused(lambda: cp.ComfyModelPredictor(models["sd3"], vae, 64, guidance=3.5)))
    print("BAD resolution " + refused(lambda: cp.ComfyModelPredictor(models["flux"], vae, 72)))
    print("BAD grid " + refused(lambda: cp.ComfyModelPredictor(models["sd3"], vae, 512)))
    from distill3d_pack.core.losses.bsd import BSDLoss
    flux_prior = PromptedPrior(cp.ComfyModelPredictor(models["flux"], vae, 64), conditioning=(conditioning("flux"),
                                                                                          conditioning("flux")))
    print("BAD bsd_flux " + refused(lambda: optimize(make_field("nerf"), [BSDLoss(flux_prior, CameraDistribution(),
                                                                                    views_per_step=1)], steps=1)))
    dev = cp.ComfyModelPredictor(models["flux"], vae, 64, guidance=2.0)
    print("GUIDANCE " + repr(dev.conditioned(conditioning("flux"))[0][1].get("guidance")))
'''


@pytest.mark.heavy
@pytest.mark.both_hosts
def test_sd3_and_flux_are_priors_that_match_comfyui_and_drive_every_loss(host):
    from hostutil import random_flux, random_sd3, random_sd15, random_vae16
    path = lambda folder, name: os.path.join(host.base, "models", folder, name)  # noqa: E731
    code = host_snippet(SNIPPET, host.comfyui, SD3=path("checkpoints", random_sd3(host)),
                        FLUX=path("diffusion_models", random_flux(host)),
                        SCHNELL=path("diffusion_models", random_flux(host, schnell=True)),
                        VAE16=path("vae", random_vae16(host)), SD15=path("checkpoints", random_sd15(host)))
    out = subprocess.run([host.python, "-c", code], capture_output=True, text=True, timeout=1500, cwd=host.comfyui)
    print(out.stdout[-6000:])
    assert out.returncode == 0, out.stderr[-4000:]
    lines = out.stdout.splitlines()
    detected = {l.split()[1]: l for l in lines if l.startswith("DETECTED")}
    assert "SD3 FLOW ModelSampling" in detected["sd3"] and "shift 3.0" in detected["sd3"], detected
    assert "Flux FLUX" in detected["flux"] and "shift 1.15" in detected["flux"], detected
    assert "Flux FLOW" in detected["flux-schnell"] and "shift 1.0" in detected["flux-schnell"], detected
    assert "PATH sd15-edm-v variance-exploding" in out.stdout
    for kind in ("sd3", "flux", "flux-schnell", "sd15-edm-v"):
        assert f"PATH {kind} flow" in out.stdout or kind == "sd15-edm-v"
        parity = float(re.search(rf"PARITY {kind} (\S+)", out.stdout).group(1))
        assert parity < 1e-5, (kind, parity)
        for loss in ("sds", "rfds", "rfds-rev", "vsd", "vsd-lora"):
            m = re.search(rf"STEPS {kind} {loss} change (\S+) finite (\w+) stopped (.*)", out.stdout)
            assert m and float(m.group(1)) > 0 and m.group(2) == "True" and m.group(3) == "None", (kind, loss, m)
    for kind in ("sd3", "sd15-edm-v"):  # a LoRA on the model's own denoiser (auto), and it learned
        m = re.search(rf"LORA {kind} (\w+) (\d+) projections, up moved (\S+)", out.stdout)
        assert m and int(m.group(2)) > 0 and float(m.group(3)) > 0, (kind, m)
    assert "LORA flux" not in out.stdout  # Flux: the estimator falls back to prior + residual
    assert "BAD bsd_flux REFUSED" in out.stdout and "Flux's cannot pass gradients" in out.stdout
    assert "guidance_input True" in [l for l in lines if l.startswith("PATH flux ")][0]
    assert "guidance_input False" in [l for l in lines if l.startswith("PATH flux-schnell")][0]
    bad = {l.split()[1]: l for l in lines if l.startswith("BAD")}
    assert "4-channel latents" in bad["vae"] and "16-channel" in bad["vae"], bad["vae"]
    for key in ("guidance_schnell", "guidance_sd3"):
        assert "no guidance input" in bad[key] and "set it to 0" in bad[key], bad[key]
    assert "multiple of 16" in bad["resolution"] and "use 64 or 80" in bad["resolution"], bad["resolution"]
    assert "at most 256 pixels" in bad["grid"], bad["grid"]
    assert "GUIDANCE 2.0" in out.stdout


@pytest.mark.heavy
def test_bad_flow_model_inputs_are_errors_in_the_host_and_it_keeps_serving(host, api_workflow):
    """Template 21 at CPU size with a Flux guidance on the SD3 model, then with Flux's 16-channel VAE swapped for
    SD 1.5's 4-channel one: each an error naming the fix; then a graph runs."""
    from hostutil import find_node, random_sd15
    from workflow_checks import CPU_SIZED
    api = api_workflow("dreamfusion_sd35")
    CPU_SIZED["dreamfusion_sd35"](host, api)
    prior = api[find_node(api, "Distill3DCheckpointTextPrior")]["inputs"]
    prior["flux_guidance"] = 3.5
    entry = host.run(api, timeout=600)
    assert entry["status"]["status_str"] == "error"
    assert "has no guidance input" in str(entry["status"]["messages"]), entry["status"]
    prior["flux_guidance"] = 0.0
    api["90"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": random_sd15(host)}}
    prior["vae"] = ["90", 2]
    entry = host.run(api, timeout=600)
    assert entry["status"]["status_str"] == "error"
    assert "4-channel latents" in str(entry["status"]["messages"]), entry["status"]
    entry = host.run({"1": {"class_type": "Distill3DWorldObject", "inputs": {"object": "duck", "prompt": ""}},
                      "2": {"class_type": "Distill3DWorldTrueMesh", "inputs": {"object": ["1", 0], "resolution": 32}},
                      "3": {"class_type": "Distill3DSaveMesh", "inputs": {
                          "mesh": ["2", 0], "filename_prefix": "tests/after_bad_flow", "format": "glb"}}})
    assert entry["status"]["status_str"] == "success", entry["status"]
