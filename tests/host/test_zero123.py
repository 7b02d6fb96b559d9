"""Stable Zero123 through ComfyUI's own loader: a random full-size checkpoint in the original layout, loaded by Image
Only Checkpoint Loader; the pack's per-view conditioning equals ComfyUI's StableZero123_Conditioning; hybrid SDS runs
in the real host with gradients reaching the field."""
import os
import re
import subprocess

import pytest

from comfy_host import host_snippet

from hostutil import random_zero123


PARITY_SNIPPET = r'''
import torch
import comfy.sd
from comfy_extras.nodes_stable3d import StableZero123_Conditioning
cp = importlib.import_module("distill3d_pack.nodes.comfy.prior")
cams = importlib.import_module("distill3d_pack.core.cameras")
ev = importlib.import_module("distill3d_pack.core.recipes")
world = importlib.import_module("distill3d_pack.core.world")
ref = ev.world_reference(world.get_object("duck"), elevation=15.0, size=256)
with torch.inference_mode():  # as the host loads models and runs nodes
    model, _, vae, clip_vision = comfy.sd.load_checkpoint_guess_config(CKPT, output_clip=False,
                                                                       output_clipvision=True)
    print("LOADED", type(model.model).__name__, model.model.diffusion_model.in_channels, clip_vision is not None)
    pred = cp.Zero123Predictor(model, clip_vision, vae, ref, 256)
    sd15 = comfy.sd.load_checkpoint_guess_config(SD15, output_vae=False, output_clip=False)[0]
    rel = [(10.0, 90.0), (-5.0, -160.0), (20.0, 45.0)]
    image = ref.composite((1.0, 1.0, 1.0))[None]
    comfy_node = [StableZero123_Conditioning.execute(clip_vision, image, vae, 256, 256, 1, e, a) for e, a in rel]
with torch.inference_mode(False), torch.no_grad():  # as Optimize Field runs the loop (the prior under no_grad)
    views = cams.Cameras.from_spherical([15.0 + e for e, _ in rel], [a for _, a in rel], 1.8, 40.0)
    ours = pred.view_conditioning(views)[0]
    worst = 0.0
    for i, (pos, neg, _) in enumerate(comfy_node):
        theirs = pos[0]
        worst = max(worst, float((ours[0][i:i + 1] - theirs[0].float()).abs().max()))
        same_latent = torch.equal(ours[1]["concat_latent_image"], theirs[1]["concat_latent_image"].float())
        print("VIEW", i, "latent equal", same_latent)
    print("COND MAX DIFF", worst)
    null = pred.null_conditioning()[0]
    print("NULL", torch.equal(null[0], neg[0][0].float()), torch.equal(null[1]["concat_latent_image"],
                                                                        neg[0][1]["concat_latent_image"].float()))
    x = torch.randn(3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    eps = pred.predict_eps(x, torch.tensor([100, 500, 900]), "views", views)
    print("EPS finite", bool(torch.isfinite(eps).all()), tuple(eps.shape))
    try:
        cp.Zero123Predictor(sd15, clip_vision, vae, ref, 256)
    except cp.UnsupportedModelError as e:
        print("SD15 REFUSED:", e)
    class WrongWidth:
        def encode_image(self, image):
            return types.SimpleNamespace(image_embeds=torch.zeros(1, 1024))
    try:
        cp.Zero123Predictor(model, WrongWidth(), vae, ref, 256)
    except ValueError as e:
        print("WIDTH REFUSED:", e)
'''


@pytest.mark.heavy
def test_zero123_conditioning_per_view_is_comfyuis_stable_zero123_conditioning(host):
    """The random Stable Zero123 (full-size U-Net with 8 input channels + cc_projection, CLIP ViT-L/14 vision tower
    in OpenCLIP names) loads as Image Only Checkpoint Loader loads it; for three cameras the pack's conditioning is
    the tensors ComfyUI's own node returns for the same image and relative (elevation, azimuth); an SD 1.5 MODEL and
    a CLIP_VISION of the wrong width are refused by name (the SD 1.5 the small one: only its refusal is checked)."""
    from hostutil import random_sd15
    ckpt = os.path.join(host.base, "models", "checkpoints", random_zero123(host, full=True))
    sd15 = os.path.join(host.base, "models", "checkpoints", random_sd15(host))
    code = host_snippet(PARITY_SNIPPET, host.comfyui, CKPT=ckpt, SD15=sd15)
    out = subprocess.run([host.python, "-c", code], capture_output=True, text=True, timeout=900, cwd=host.comfyui)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    print(text[-2000:])
    assert "LOADED Stable_Zero123 8 True" in text
    assert text.count("latent equal True") == 3
    assert float(re.search(r"COND MAX DIFF ([\d.e+-]+)", text).group(1)) < 1e-5
    assert "NULL True True" in text and "EPS finite True (3, 4, 32, 32)" in text
    assert "SD15 REFUSED: this MODEL is not a Zero123 model" in text and "8 (the noisy latent" in text
    assert "WIDTH REFUSED: the CLIP_VISION gives 1024-wide image embeddings" in text


@pytest.mark.heavy
def test_image_only_checkpoint_loader_drives_hybrid_sds_in_the_host(host):
    """Render World Views (the duck's front) -> Reference Image -> Zero123 Prior (Image Only Checkpoint Loader) ->
    Hybrid SDS Loss (+ World Prior as the 2D term) + Reference Image Loss -> Optimize Field: a few steps, gradients
    reach the field."""
    prompt = {
        "1": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": random_zero123(host, full=True)}},
        "2": {"class_type": "Distill3DWorldObject", "inputs": {"object": "duck", "prompt": ""}},
        "3": {"class_type": "Distill3DOrbitCameras",
              "inputs": {"views": 1, "elevation": 15.0, "distance": 1.8, "fov": 40.0, "azimuth_start": 0.0}},
        "4": {"class_type": "Distill3DRenderWorldViews",
              "inputs": {"object": ["2", 0], "cameras": ["3", 0], "resolution": 128, "shading": "albedo",
                         "background": "white", "supersample": 1}},
        "5": {"class_type": "Distill3DReferenceImage",
              "inputs": {"image": ["4", 0], "mask": ["4", 1], "size": 64, "fill": 0.85, "elevation": 15.0,
                         "distance": 1.8, "fov": 40.0}},
        "6": {"class_type": "Distill3DZero123Prior",
              "inputs": {"model": ["1", 0], "clip_vision": ["1", 1], "vae": ["1", 2], "reference": ["5", 0],
                         "resolution": 64}},
        "7": {"class_type": "Distill3DWorldPrior", "inputs": {"prompt": "a duck", "mode": "view-aware",
                                                             "resolution": "32"}},
        "8": {"class_type": "Distill3DCameraDistribution",
              "inputs": {"elevation_min": -10.0, "elevation_max": 45.0, "azimuth_min": -180.0, "azimuth_max": 180.0,
                         "distance_min": 1.8, "distance_max": 1.8, "fov_min": 40.0, "fov_max": 40.0,
                         "uniform_sphere": False}},
        "9": {"class_type": "Distill3DHybridSDSLoss",
              "inputs": {"prior_3d": ["6", 0], "cameras": ["8", 0], "prior_2d": ["7", 0], "guidance_3d": 5.0,
                         "guidance_2d": 10.0, "weight_3d": 1.0, "weight_2d": 1.0, "views_per_step": 1,
                         "t_min": 0.7, "t_max": 0.85, "t_min_end": 0.2, "t_max_end": 0.5, "anneal_until": 0.04,
                         "progressive_until": 0.04, "shading": "albedo", "random_background": 0.0, "weight": 1.0}},
        "10": {"class_type": "Distill3DReferenceImageLoss",
               "inputs": {"reference": ["5", 0], "rays_per_step": 256, "rgb_weight": 1.0, "mask_weight": 1.0,
                          "depth_weight": 0.0, "normal_weight": 0.0, "weight": 1.0}},
        "11": {"class_type": "Distill3DCombineLosses", "inputs": {"loss_1": ["9", 0], "loss_2": ["10", 0]}},
        "12": {"class_type": "Distill3DCreateNeRF",
               "inputs": {"encoding": "auto", "background": "white", "bound": 0.6, "seed": 0,
                          "blob_density": 10.0, "blob_radius": 0.5}},
        "13": {"class_type": "Distill3DOptimizeField",
               "inputs": {"field": ["12", 0], "loss": ["11", 0], "steps": 3, "learning_rate": 0.01,
                          "lr_schedule": "cosine", "samples_per_ray": 16, "seed": 0, "preview_every": 1,
                          "preview_resolution": 32}},
        "14": {"class_type": "PreviewImage", "inputs": {"images": ["13", 1]}},
    }
    entry = host.run(prompt, timeout=900)
    assert entry["status"]["status_str"] == "success", entry["status"]
    log = entry["outputs"]["13"]["text"][0]
    print("ZERO123_HYBRID", log.replace("\n", " | "))
    assert "STOPPED" not in log and "sds_3d" in log and "sds_2d" in log, log
    assert float(re.search(r"parameter change: ([\d.e+-]+)", log).group(1)) > 1e-4
