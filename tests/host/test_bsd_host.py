"""BSD in the real host with the user's own checkpoint (a random full-size SD 1.5): a few boosted steps through
Checkpoint Prior (Text) on a frozen mesh, the boosted model saved as a LoRA that ComfyUI's own LoraLoader applies,
computing what the adapter computed, and the base checkpoint untouched."""
import hashlib
import os
import re
import subprocess
import uuid

import pytest

from comfy_host import host_snippet

LORA_SNIPPET = r'''
import logging, torch
import comfy.sd, comfy.utils, folder_paths
import comfy.model_management as mm
from nodes import LoraLoaderModelOnly
from safetensors.torch import safe_open
lora_mod = importlib.import_module("distill3d_pack.core.priors.lora")
cams = importlib.import_module("distill3d_pack.core.cameras")
folder_paths.add_model_folder_path("checkpoints", os.path.join(BASE, "models", "checkpoints"))
folder_paths.add_model_folder_path("loras", os.path.join(BASE, "models", "loras"))
unloaded = []
class Catch(logging.Handler):
    def emit(self, record):
        if "lora key not loaded" in record.getMessage() or "NOT LOADED" in record.getMessage():
            unloaded.append(record.getMessage())
logging.getLogger().addHandler(Catch())
# one U-Net in memory (no CLIP, no VAE): the other test worker may hold another model at the same time
model = comfy.sd.load_checkpoint_guess_config(CKPT, output_vae=False, output_clip=False)[0]
net = model.model.diffusion_model
g = torch.Generator().manual_seed(0)
x = torch.randn(1, 4, 8, 8, generator=g); ctx = torch.randn(1, 77, 768, generator=g)

def unet_out(m):
    mm.load_models_gpu([m])  # applies the patcher's LoRA patches to the shared weights
    with torch.no_grad():
        out = m.model.diffusion_model(x, torch.tensor([500.0]), context=ctx).float()
    mm.unload_all_models()  # and takes them off again
    return out

base = unet_out(model)
# parity: an adapter with random (non-zero) weights, written as a LoRA file, through ComfyUI's LoRA loader equals
# the adapter itself (its camera at one view, baked into the time embedding's bias)
with torch.inference_mode(False):
    lora_mod.freeze(net)
    lora = lora_mod.LoRA(net, net.time_embed, rank=4)
    torch.manual_seed(1)
    with torch.no_grad():
        for u in lora.up:
            u.normal_(0, 0.02)
        lora.camera[2].weight.normal_(0, 0.02)
    c2w = cams.Cameras.from_spherical([20.0], [30.0], 1.8, 40.0).c2w
    with torch.no_grad():
        plain = net(x, torch.tensor([500.0]), context=ctx).float()
        with lora.active(c2w):
            want = net(x, torch.tensor([500.0]), context=ctx).float()
    tensors = lora_mod.comfy_lora_tensors(lora, c2w)
    lora.detach_hooks()
os.makedirs(os.path.dirname(os.path.join(BASE, "models", "loras", PARITY)), exist_ok=True)
comfy.utils.save_torch_file(tensors, os.path.join(BASE, "models", "loras", PARITY))
got = unet_out(LoraLoaderModelOnly().load_lora_model_only(model, PARITY, 1.0)[0])
print("PARITY", float((got - want).abs().max() / want.abs().max()), "ADAPTER_EFFECT",
      float((want - plain).abs().max() / want.abs().max()), "UNLOADED", len(unloaded))
# the file Save Boosted LoRA wrote: every key applies and it changes the U-Net
with safe_open(os.path.join(BASE, "models", "loras", SAVED), "pt") as f:
    print("TRIGGER", f.metadata()["trigger_prompt"])
saved = unet_out(LoraLoaderModelOnly().load_lora_model_only(model, SAVED, 1.0)[0])
print("SAVED_CHANGE", float((saved - base).abs().max()), "UNLOADED", len(unloaded))
'''


def _sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


@pytest.mark.heavy
def test_bsd_boosts_the_users_checkpoint_and_saves_a_lora_comfyui_loads(host):
    from hostutil import random_sd15
    ckpt_name = random_sd15(host, full=True)  # the real size
    ckpt = os.path.join(host.base, "models", "checkpoints", ckpt_name)
    before = _sha(ckpt)
    name = f"distill3d_test/bsd_{uuid.uuid4().hex[:8]}"
    prompt = {
        "10": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt_name}},
        "1": {"class_type": "Distill3DCheckpointTextPrior",
              "inputs": {"model": ["10", 0], "clip": ["10", 1], "vae": ["10", 2], "prompt": "a rubber duck",
                         "negative_prompt": "", "resolution": 64}},
        "2": {"class_type": "Distill3DCameraDistribution",
              "inputs": {"elevation_min": -10.0, "elevation_max": 45.0, "azimuth_min": -180.0, "azimuth_max": 180.0,
                         "distance_min": 1.8, "distance_max": 1.8, "fov_min": 40.0, "fov_max": 40.0,
                         "uniform_sphere": False}},
        "3": {"class_type": "Distill3DBSDLoss",
              "inputs": {"prior": ["1", 0], "cameras": ["2", 0], "guidance_scale": 7.5, "views_per_step": 1,
                         "weighting": "sds", "t_min": 0.02, "t_max": 0.98, "t_max_end": 0.5, "t_schedule": "linear",
                         "cfg_rescale": 0.0, "view_dependent_prompts": True, "shading": "albedo", "grad_clip": 0.0,
                         "random_background": 0.0, "weight": 1.0, "estimator": "prior + residual", "estimator_lr": 1e-3, "estimator_steps": 0,
                         "augment_every": 4, "augment_views": 2, "augment_t_start": 0.5, "augment_t_end": 0.2,
                         "sdedit_steps": 1, "finetune_fraction": 1.0, "finetune_steps": 1, "finetune_lr": 1e-3,
                         "token": "sks", "class_word": "duck"}},
        "4": {"class_type": "Distill3DWorldObject", "inputs": {"object": "duck", "prompt": ""}},
        "7": {"class_type": "Distill3DWorldTrueMesh", "inputs": {"object": ["4", 0], "resolution": 32}},
        "8": {"class_type": "Distill3DTextureStage",
              "inputs": {"mesh": ["7", 0], "texture": "densegrid", "mesh_resolution": 64, "seed": 0}},
        "5": {"class_type": "Distill3DOptimizeField",
              "inputs": {"field": ["8", 0], "loss": ["3", 0], "steps": 4, "learning_rate": 0.01,
                         "lr_schedule": "constant", "samples_per_ray": 16, "seed": 0, "preview_every": 1,
                         "preview_resolution": 32}},
        "9": {"class_type": "Distill3DSaveBoostedLoRA", "inputs": {"loss": ["3", 0], "field": ["5", 0], "name": name}},
    }
    entry = host.run(prompt, timeout=900)
    assert entry["status"]["status_str"] == "success", entry["status"]
    log = entry["outputs"]["5"]["text"][0]
    print("BSD_HOST", log.replace("\n", " | "))
    assert "STOPPED" not in log
    assert float(re.search(r"parameter change: ([\d.e+-]+)", log).group(1)) > 1e-4
    assert re.search(r"bsd/finetune: [\d.]+ -> [\d.]+", log), log  # the DreamBooth adapter trained
    saved = name + ".safetensors"
    assert os.path.exists(os.path.join(host.base, "models", "loras", saved))

    # the same file again (named with its extension, so only this node runs again): refused, nothing overwritten
    prompt["9"]["inputs"]["name"] = saved
    again = host.run(prompt, timeout=900)
    assert again["status"]["status_str"] == "error"
    assert "never overwritten" in str(again["status"]), again["status"]

    host.post("/free", {"unload_models": True, "free_memory": True})  # the server's copy of the checkpoint
    parity = f"distill3d_test/parity_{uuid.uuid4().hex[:8]}.safetensors"
    code = host_snippet(LORA_SNIPPET, host.comfyui, CKPT=ckpt, BASE=host.base, SAVED=saved, PARITY=parity)
    out = subprocess.run([host.python, "-c", "import os\n" + code], capture_output=True, text=True, timeout=600,
                         cwd=host.comfyui)
    assert out.returncode == 0, out.stderr[-3000:]
    print(out.stdout)
    assert "TRIGGER a sks duck" in out.stdout
    change, unloaded = re.search(r"SAVED_CHANGE ([\d.e+-]+) UNLOADED (\d+)", out.stdout).groups()
    assert float(change) > 0 and unloaded == "0", out.stdout  # every key applied, and it changes the U-Net
    err, effect, unloaded = re.search(r"PARITY ([\d.e+-]+) ADAPTER_EFFECT ([\d.e+-]+) UNLOADED (\d+)",
                                      out.stdout).groups()
    assert float(err) < 1e-4 and float(effect) > 1e-2 and unloaded == "0", out.stdout
    assert _sha(ckpt) == before  # the user's checkpoint is bit-identical
