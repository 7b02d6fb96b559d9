"""The Checkpoint Prior's model check against ComfyUI's own model types (run with the host's python and ComfyUI)."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SNIPPET = r'''
import importlib, sys, types
sys.path.insert(0, COMFYUI)
sys.argv = sys.argv[:1] + ["--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import comfy.latent_formats, comfy.model_base, comfy.model_sampling
pack = types.ModuleType("distill3d_pack"); pack.__path__ = [ROOT]; sys.modules["distill3d_pack"] = pack
cp = importlib.import_module("distill3d_pack.nodes.comfy_prior")

class Model:  # what a ModelPatcher exposes to the check
    def __init__(self, kind, sampling, fmt):
        self.model = types.SimpleNamespace(model_type=kind, latent_format=fmt)
        self._s = sampling
    def get_model_object(self, name):
        return self._s

flow = Model(comfy.model_base.ModelType.FLOW, object(), comfy.latent_formats.Flux())
try:
    cp.check_model(flow)
    print("ACCEPTED")
except cp.UnsupportedModelError as e:
    print("REFUSED:", e)
video = Model(comfy.model_base.ModelType.EPS, comfy.model_sampling.ModelSamplingDiscrete(), comfy.latent_formats.Wan21())
try:
    cp.check_model(video)
    print("ACCEPTED")
except cp.UnsupportedModelError as e:
    print("REFUSED:", e)
sd = Model(comfy.model_base.ModelType.V_PREDICTION, comfy.model_sampling.ModelSamplingDiscrete(), comfy.latent_formats.SD15())
cp.check_model(sd)
print("SD2-v ACCEPTED")
'''


def test_flow_and_video_models_are_refused_naming_what_works(host):
    code = f"COMFYUI = {host.comfyui!r}\nROOT = {ROOT!r}\n" + SNIPPET
    out = subprocess.run([host.python, "-c", code], capture_output=True, text=True, timeout=300, cwd=host.comfyui)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [l for l in out.stdout.splitlines() if l.startswith(("REFUSED", "ACCEPTED", "SD2-v"))]
    assert lines[0].startswith("REFUSED") and "prediction type is FLOW" in lines[0], lines
    assert "Supported: Stable Diffusion 1.x / 2.x (epsilon or v-prediction) and SDXL" in lines[0]
    assert lines[1].startswith("REFUSED") and "video or non-SD latent space" in lines[1], lines
    assert lines[2] == "SD2-v ACCEPTED"
