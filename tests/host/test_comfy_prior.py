"""The Checkpoint Prior's model check against ComfyUI's own model types (run with the host's python and ComfyUI)."""
import pytest
import os
import subprocess

from comfy_host import host_snippet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SNIPPET = r'''
import comfy.latent_formats, comfy.model_base, comfy.model_sampling
cp = importlib.import_module("distill3d_pack.nodes.comfy.prior")

class Model:  # what a ModelPatcher exposes to the check
    def __init__(self, kind, sampling, fmt):
        self.model = types.SimpleNamespace(model_type=kind, latent_format=fmt)
        self._s = sampling
    def get_model_object(self, name):
        return self._s

class FlowSampling(comfy.model_sampling.ModelSamplingDiscreteFlow, comfy.model_sampling.CONST):
    pass
class CascadeSampling(comfy.model_sampling.StableCascadeSampling, comfy.model_sampling.EPS):
    pass
class DiscreteV(comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.V_PREDICTION):
    pass
cases = [("flow", Model(comfy.model_base.ModelType.FLOW, FlowSampling(), comfy.latent_formats.SD3())),
         ("video", Model(comfy.model_base.ModelType.V_PREDICTION, DiscreteV(),
                         comfy.latent_formats.Wan21())),
         ("cascade", Model(comfy.model_base.ModelType.STABLE_CASCADE, CascadeSampling(),
                           comfy.latent_formats.SC_Prior())),
         ("sd2-v", Model(comfy.model_base.ModelType.V_PREDICTION, DiscreteV(),
                         comfy.latent_formats.SD15()))]
for name, model in cases:
    try:
        cp.check_model(model)
        print(name, "ACCEPTED")
    except cp.UnsupportedModelError as e:
        print(name, "REFUSED:", e)
'''


def test_video_and_cascade_models_are_refused_naming_what_works(host):
    code = host_snippet(SNIPPET, host.comfyui)
    out = subprocess.run([host.python, "-c", code], capture_output=True, text=True, timeout=300, cwd=host.comfyui)
    assert out.returncode == 0, out.stderr[-3000:]
    said = {l.split()[0]: l for l in out.stdout.splitlines() if " ACCEPTED" in l or " REFUSED" in l}
    assert said["flow"] == "flow ACCEPTED" and said["sd2-v"] == "sd2-v ACCEPTED", said
    assert "REFUSED" in said["video"] and "(a video latent space)" in said["video"], said
    assert "REFUSED" in said["cascade"] and "a cascade model" in said["cascade"], said
    for name in ("video", "cascade"):
        assert "Supported: image models ComfyUI samples with a sigma schedule" in said[name]
        assert "Stable Diffusion 3 / 3.5, Flux.1" in said[name]


def _sds_prompt(prior_node: dict, steps: int = 3) -> dict:
    return {
        "1": prior_node,
        "2": {"class_type": "Distill3DCameraDistribution",
              "inputs": {"elevation_min": -10.0, "elevation_max": 60.0, "azimuth_min": -180.0, "azimuth_max": 180.0,
                         "distance_min": 1.5, "distance_max": 2.0, "fov_min": 40.0, "fov_max": 60.0,
                         "uniform_sphere": False}},
        "3": {"class_type": "Distill3DSDSLoss",
              "inputs": {"prior": ["1", 0], "cameras": ["2", 0], "guidance_scale": 20.0, "views_per_step": 1,
                         "weighting": "sds", "t_min": 0.02, "t_max": 0.98, "t_max_end": 0.5, "t_schedule": "linear",
                         "cfg_rescale": 0.0, "view_dependent_prompts": True, "shading": "albedo",
                         "grad_clip": 0.0, "weight": 1.0, "x0_form": False}},
        "4": {"class_type": "Distill3DCreateNeRF",
              "inputs": {"encoding": "auto", "background": "white", "bound": 0.6, "seed": 0,
                         "blob_density": 10.0, "blob_radius": 0.5}},
        "5": {"class_type": "Distill3DOptimizeField",
              "inputs": {"field": ["4", 0], "loss": ["3", 0], "steps": steps, "learning_rate": 0.01,
                         "lr_schedule": "cosine", "samples_per_ray": 16, "seed": 0, "preview_every": 1,
                         "preview_resolution": 32}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 1]}},
    }


def test_a_diffusers_if_folder_in_models_diffusers_drives_sds_in_the_host(host):
    """The Diffusers Prior node finds a (tiny, random) IF stage I folder in the host's models/diffusers and its
    SDS gradients reach the field; a folder name that is not there is refused naming what is."""
    import re
    import sys
    folder = os.path.join(host.base, "models", "diffusers", "distill3d-test-tiny-if")
    if not os.path.exists(os.path.join(folder, "model_index.json")):
        code = (f"import sys; sys.path.insert(0, {os.path.join(ROOT, 'tests')!r}); "
                f"from tiny_diffusers import make_tiny_if; make_tiny_if({folder!r})")
        subprocess.run([host.python, "-c", code], check=True, timeout=600)
    prompt = _sds_prompt({"class_type": "Distill3DDiffusersPrior",
                          "inputs": {"model": "distill3d-test-tiny-if", "prompt": "a rubber duck",
                                     "negative_prompt": "", "resolution": 0}})
    entry = host.run(prompt, timeout=900)
    assert entry["status"]["status_str"] == "success", entry["status"]
    log = entry["outputs"]["5"]["text"][0]
    print("DIFFUSERS_IF", log.replace("\n", " | "))
    assert "STOPPED" not in log
    assert float(re.search(r"parameter change: ([\d.e+-]+)", log).group(1)) > 1e-4
    prompt["1"]["inputs"]["model"] = "no-such-model"
    status, body = host.queue(prompt)
    assert status == 400 and "distill3d-test-tiny-if" in repr(body), body
    sys.stdout.flush()


@pytest.mark.heavy
def test_checkpoint_text_prior_drives_sds_with_view_prompts_and_vsd_in_latent_space(host):
    """Load Checkpoint (a random SD 1.5) -> Checkpoint Prior (Text): the CLIP encodes the prompt with
    view suffixes for SDS, and every VSD estimator works on the 4-channel latents — the LoRA one adapting ComfyUI's
    own U-Net (loaded in inference mode, frozen, shared with the prior); gradients reach the field."""
    import re
    from hostutil import random_sd15
    prompt = _sds_prompt({"class_type": "Distill3DCheckpointTextPrior",
                          "inputs": {"model": ["10", 0], "clip": ["10", 1], "vae": ["10", 2],
                                     "prompt": "a rubber duck", "negative_prompt": "blurry", "resolution": 64}})
    prompt["10"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": random_sd15(host)}}
    prompt["3"]["inputs"]["views_per_step"] = 4
    runs = [("Distill3DSDSLoss", {}), ("Distill3DVSDLoss", {"estimator": "auto"}),  # auto: the LoRA
            ("Distill3DVSDLoss", {"estimator": "prior + residual"}), ("Distill3DVSDLoss", {"estimator": "renders"})]
    for loss, extra in runs:
        prompt["3"]["class_type"] = loss
        if loss == "Distill3DVSDLoss":
            prompt["3"]["inputs"].pop("x0_form", None)
            prompt["3"]["inputs"].update(estimator_lr=1e-3, estimator_steps=0, **extra)
        entry = host.run(prompt, timeout=900)
        assert entry["status"]["status_str"] == "success", entry["status"]
        log = entry["outputs"]["5"]["text"][0]
        print("CHECKPOINT_TEXT", loss, extra, log.replace("\n", " | "))
        assert "STOPPED" not in log
        assert float(re.search(r"parameter change: ([\d.e+-]+)", log).group(1)) > 1e-4
        if loss == "Distill3DVSDLoss":
            assert re.search(r"vsd/estimator: [\d.]+ -> [\d.]+", log), log


EPS_V_SNIPPET = r'''
import torch
import comfy.sd
from comfy_extras.nodes_model_advanced import ModelSamplingDiscrete
cp = importlib.import_module("distill3d_pack.nodes.comfy.prior")
model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(CKPT)
with torch.inference_mode(False):
    g = torch.Generator().manual_seed(0)
    x_t = torch.randn(2, 4, 8, 8, generator=g)
    t = torch.tensor([150, 700])
    for sampling in ("eps", "v_prediction"):
        m = ModelSamplingDiscrete().patch(model, sampling, False)[0]
        pred = cp.ComfyModelPredictor(m, vae, 64, clip=clip)
        cond, _ = pred.condition("a rubber duck")
        eps = pred.predict_eps(x_t, t, cond)
        a = pred.alphas_cumprod[t].reshape(-1, 1, 1, 1)
        net = m.model.diffusion_model
        ts = m.get_model_object("model_sampling").timestep(((1 - a) / a).sqrt().flatten())
        raw = net(x_t, ts.float(), context=cond[0][0].expand(2, -1, -1)).float()
        want = raw if sampling == "eps" else a.sqrt() * raw + (1 - a).sqrt() * x_t
        err = float((eps - want).abs().max() / want.abs().max())
        print(f"{sampling} relative error {err:.2e}")
    try:
        cp.check_model(ModelSamplingDiscrete().patch(model, "lcm", False)[0])
        print("LCM ACCEPTED")
    except cp.UnsupportedModelError as e:
        print("LCM REFUSED:", e)
'''


@pytest.mark.heavy
def test_epsilon_and_v_prediction_match_the_raw_unet(host):
    """The predictor's epsilon equals the raw U-Net output under each parameterization — epsilon as is, v converted
    (eps = sqrt(a) v + sqrt(1 - a) x_t) — on the random SD 1.5 set to each by ComfyUI's Model Sampling Discrete
    node; an LCM-distilled sampling is refused."""
    from hostutil import random_sd15
    ckpt = os.path.join(host.base, "models", "checkpoints", random_sd15(host))
    code = host_snippet(EPS_V_SNIPPET, host.comfyui, CKPT=ckpt)
    out = subprocess.run([host.python, "-c", code], capture_output=True, text=True, timeout=600, cwd=host.comfyui)
    assert out.returncode == 0, out.stderr[-3000:]
    errors = dict(line.split(" relative error ") for line in out.stdout.splitlines() if "relative error" in line)
    print(errors)
    assert set(errors) == {"eps", "v_prediction"}
    assert all(float(e) < 1e-4 for e in errors.values()), errors
    assert "LCM REFUSED" in out.stdout and "model sampling is LCM's" in out.stdout, out.stdout[-2000:]
