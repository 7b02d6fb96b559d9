"""Helpers shared by the host and browser tests."""
import json
import os

from build_workflows import SPECS, workflow_file
from comfy_host import ROOT, load_workflow

WORKFLOW_DIR = os.path.join(ROOT, "workflows")


def shipped_workflows() -> list[str]:
    """The shipped workflows by their short names (build_workflows.SPECS keys; the files are named by their
    template titles: build_workflows.workflow_file)."""
    return sorted(SPECS)


def shipped_workflow(name: str) -> dict:
    """The UI-format workflow `name` as shipped."""
    return load_workflow(workflow_file(name))


def find_node(api: dict, class_type: str) -> str:
    ids = [k for k, v in api.items() if v["class_type"] == class_type]
    assert ids, f"no {class_type} in workflow: {json.dumps(api)[:500]}"
    return ids[0]


def test_model(host, folder: str, name: str, write) -> str:
    """A model file the tests make, in the host's models/<folder>: written once per machine by write(path) (into a
    temporary name, then renamed, under a lock: parallel test workers never see half a file or write it twice) in
    the first host's models folder, and linked into any other host's. Returns its name for the loader nodes."""
    import fcntl
    from comfy_host import HOST_DIRS, host_env
    shared = os.path.join(host_env(HOST_DIRS["0.3.75"])["base"], "models", folder, name)
    os.makedirs(os.path.dirname(shared), exist_ok=True)
    with open(shared + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(shared):
            tmp = shared + ".partial" + os.path.splitext(name)[1]
            write(tmp)
            os.replace(tmp, shared)
    mine = os.path.join(host.base, "models", folder, name)
    if os.path.abspath(mine) != os.path.abspath(shared) and not os.path.exists(mine):
        os.makedirs(os.path.dirname(mine), exist_ok=True)
        try:
            os.symlink(shared, mine)
        except FileExistsError:
            pass
    return name


def _random_checkpoint(host, script: str, name: str, small: bool, folder: str = "checkpoints",
                       extra: tuple = ()) -> str:
    """A random checkpoint written once per machine by tests/host/<script> (ComfyUI's own classes, every weight
    initialized) into the host's models/<folder>; returns its name for the loader nodes."""
    import subprocess
    import sys

    def write(path):
        subprocess.run([host.python, os.path.join(ROOT, "tests", "host", script), "--comfyui", host.comfyui,
                        "--out", path, *(["--small"] if small else []), *extra], check=True, stdout=sys.stdout,
                       cwd=os.path.join(ROOT, "tests", "host"), timeout=900)
    return test_model(host, folder, name, write)


def random_sd15(host, full: bool = False) -> str:
    """A random SD 1.5 checkpoint in the original single-file layout. full: the full-size U-Net (the real format
    at its real size, where an issue asks for it; ~1 min to write); else a one-level U-Net that ComfyUI still
    detects as SD 1.5, with the full-size text encoder and VAE (what most host tests need, 30x faster)."""
    name = f"distill3d_test_{'random' if full else 'small'}_sd15.safetensors"
    return _random_checkpoint(host, "make_random_sd15.py", name, not full)


def random_sd3(host) -> str:
    """A random SD3 checkpoint for Load Checkpoint (tests/host/make_random_flow.py: the MMDiT as small as ComfyUI
    still detects as SD3, with its full-size 16-channel VAE; no text encoders)."""
    return _random_checkpoint(host, "make_random_flow.py", "distill3d_test_small_sd3.safetensors", True,
                              extra=("--kind", "sd3"))


def random_flux(host, schnell: bool = False) -> str:
    """A random Flux.1 (dev, or schnell: no guidance embedding) for Load Diffusion Model (models/diffusion_models):
    one double block at Flux's fixed width, CLIP-L-wide inputs (make_random_flow.py)."""
    kind = "flux-schnell" if schnell else "flux"
    return _random_checkpoint(host, "make_random_flow.py", f"distill3d_test_small_{kind}.safetensors", True,
                              "diffusion_models", extra=("--kind", kind))


def random_vae16(host) -> str:
    """A random 16-channel VAE without quant_conv (Flux's ae.safetensors / SD3's layout) for Load VAE."""
    return _random_checkpoint(host, "make_random_flow.py", "distill3d_test_random_ae.safetensors", True, "vae",
                              extra=("--kind", "vae"))


def random_clip_l(host) -> str:
    """The random SD 1.5 checkpoint's CLIP-L text encoder as a text-encoder file (text_model.* keys, as
    clip_l.safetensors ships) in models/text_encoders, for CLIPLoader / DualCLIPLoader / TripleCLIPLoader."""
    source = os.path.join(host.base, "models", "checkpoints", random_sd15(host))

    def write(path):
        from safetensors.torch import load_file, save_file
        prefix = "cond_stage_model.transformer."
        sd = {k[len(prefix):]: v for k, v in load_file(source).items() if k.startswith(prefix)}
        save_file(sd, path)
    return test_model(host, "text_encoders", "distill3d_test_random_clip_l.safetensors", write)


def random_sd15_inpainting(host) -> str:
    """random_sd15()'s one-level U-Net with SD 1.5 inpainting's 9 input channels (ComfyUI detects it as one)."""
    return _random_checkpoint(host, "make_random_sd15.py", "distill3d_test_small_sd15_inpainting.safetensors", True,
                              extra=("--inpaint",))


def random_controlnet(host) -> str:
    """A random SD 1.5 ControlNet in the original single-file layout (control_model.*), random zero convolutions,
    in the layout of random_sd15()'s one-level U-Net: for ComfyUI's ControlNetLoader and Apply ControlNet."""
    return _random_checkpoint(host, "make_random_controlnet.py", "distill3d_test_small_controlnet.safetensors",
                              True, "controlnet")


def random_zero123(host, full: bool = False) -> str:
    """A random Stable Zero123 checkpoint in its original single-file layout (CLIP ViT-L/14 vision tower in OpenCLIP
    names, cc_projection, VAE). full: the full-size U-Net with 8 input channels; else a one-level one."""
    name = f"distill3d_test_{'random' if full else 'small'}_stable_zero123.safetensors"
    return _random_checkpoint(host, "make_random_zero123.py", name, not full)


def input_picture(host, name: str, obj: str = "duck", size: int = 128) -> str:
    """A world object's front view as an RGBA PNG (transparent around it, as a cut-out photo) in the host's input
    folder, for Load Image; written once (atomically); returns its name."""
    import numpy as np
    import torch
    from PIL import Image
    from core.cameras import Cameras
    from core.world import get_object, render_object
    path = os.path.join(host.base, "input", name)
    if not os.path.exists(path):
        rec = render_object(get_object(obj), Cameras.from_spherical([15.0], [0.0], [1.8], [40.0]), size,
                            shading="albedo")
        rgba = torch.cat([rec.rgb[0], rec.alpha[0, ..., None]], -1).clamp(0, 1)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.partial.png"
        Image.fromarray((rgba.numpy() * 255).round().astype(np.uint8), "RGBA").save(tmp)
        os.replace(tmp, path)
    return name


TINY_MVDREAM = "distill3d_test_tiny_mvdream.safetensors"


def write_tiny_mvdream(path: str, *flags: str) -> str:
    """Write a random MVDream checkpoint in the original layout with tests/host/make_tiny_mvdream.py (ComfyUI's own
    LDM classes, run by the host's python); flags as that script's (--pt, --base sd15, --size sd21, ...)."""
    import subprocess
    from comfy_host import host_env
    env = host_env()
    subprocess.run([env["python"], os.path.join(ROOT, "tests", "host", "make_tiny_mvdream.py"),
                    "--comfyui", env["comfyui"], "--out", path, *flags], check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    return path


def tiny_mvdream(host, name: str = TINY_MVDREAM, *flags: str) -> str:
    """A tiny random MVDream checkpoint in the host's models/mvdream, written once; returns its name for the MVDream
    Prior."""
    return test_model(host, "mvdream", name, lambda path: write_tiny_mvdream(path, *flags))


def mvdream_sampler_prompt(ckpt_name: str, steps: int = 2) -> dict:
    """API graph: an MVDream checkpoint from models/mvdream -> Multi-View Sampler (4 views of "a snowman", 64²) ->
    PreviewImage."""
    return {"1": {"class_type": "Distill3DMVDreamPrior",
                  "inputs": {"ckpt_name": ckpt_name, "prompt": "a snowman", "negative_prompt": "",
                             "mode": "multi-view", "views": 4, "resolution": 64}},
            "2": {"class_type": "Distill3DMultiViewSampler",
                  "inputs": {"prior": ["1", 0], "views": 4, "elevation": 15.0, "azimuth_start": 0.0,
                             "distance": 1.8, "fov": 40.0, "steps": steps, "guidance_scale": 5.0,
                             "cfg_rescale": 0.0, "seed": 0}},
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}


def tiny_eg3d(host) -> str:
    """EG3D's generator at the parity tests' tiny size (scripts/make_eg3d_reference.GENERATOR_KWARGS: FFHQ's
    rendering settings, the 2X head), seeded, as the pack's safetensors in models/eg3d."""
    def write(path):
        import sys
        import torch
        sys.path.insert(0, os.path.join(ROOT, "scripts"))
        from core.gan.eg3d import TriplaneGenerator, save_generator
        from make_eg3d_reference import GENERATOR_KWARGS
        torch.manual_seed(0)
        save_generator(TriplaneGenerator(**GENERATOR_KWARGS), path)
    return test_model(host, "eg3d", "distill3d_test_tiny_eg3d.safetensors", write)


def world_vsd_nodes(**prior_inputs) -> dict:
    """A world VSD graph's nodes "1" (World Prior: 'a duck', view-aware, 32, with prior_inputs), "2" (cameras),
    "4" (VSD Loss) and "5" (Create NeuS), for tests to add their optimizers and outputs to."""
    return {
        "1": {"class_type": "Distill3DWorldPrior", "inputs": {"prompt": "a duck", "mode": "view-aware",
                                                              "resolution": "32", **prior_inputs}},
        "2": {"class_type": "Distill3DCameraDistribution",
              "inputs": {"elevation_min": -10.0, "elevation_max": 60.0, "azimuth_min": -180.0, "azimuth_max": 180.0,
                         "distance_min": 1.8, "distance_max": 1.8, "fov_min": 40.0, "fov_max": 40.0,
                         "uniform_sphere": False}},
        "4": {"class_type": "Distill3DVSDLoss",
              "inputs": {"prior": ["1", 0], "cameras": ["2", 0], "guidance_scale": 7.5, "views_per_step": 2,
                         "weighting": "sds", "t_min": 0.02, "t_max": 0.98, "t_max_end": 0.5, "t_schedule": "linear",
                         "cfg_rescale": 0.0, "view_dependent_prompts": True, "shading": "albedo", "grad_clip": 0.0,
                         "random_background": 0.5, "weight": 1.0, "estimator": "auto", "estimator_lr": 1e-3,
                         "estimator_steps": 0}},
        "5": {"class_type": "Distill3DCreateNeuS", "inputs": {"encoding": "auto", "background": "white",
                                                               "bound": 0.6, "seed": 0, "init_radius": 0.3}},
    }
