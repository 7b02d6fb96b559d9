"""3D GAN generators in the real host: a generator in models/eg3d loads and its samples come out as images; a
.pkl there that asks for code is refused by name, the code never runs, and the server keeps serving."""
import io
import os
import pickle
import sys

import numpy as np
from PIL import Image

from comfy_host import ROOT
import hostutil

sys.path.insert(0, os.path.join(ROOT, "scripts"))


def _samples_prompt(name: str) -> dict:
    return {
        "1": {"class_type": "Distill3DLoadGenerator", "inputs": {"generator_name": name}},
        "2": {"class_type": "Distill3DGeneratorSamples", "inputs": {
            "generator": ["1", 0], "seed": 0, "count": 3, "truncation_psi": 0.7, "azimuth": 20.0, "elevation": 5.0,
            "fov": 13.37, "rendering_resolution": 16}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "tests/gan_samples"}},
    }


def test_a_generator_from_models_eg3d_gives_one_sample_per_seed(host):
    entry = host.run(_samples_prompt(hostutil.tiny_eg3d(host)))
    assert entry["status"]["status_str"] == "success", entry["status"]
    files = [f for f in host.output_files(entry) if f["node"] == "3"]
    imgs = [np.asarray(Image.open(io.BytesIO(host.view(f))).convert("RGB"), dtype=np.float32) / 255 for f in files]
    assert len(imgs) == 3 and all(i.shape == (128, 128, 3) for i in imgs)
    diffs = [float(np.abs(imgs[a] - imgs[b]).mean()) for a, b in ((0, 1), (0, 2), (1, 2))]
    print(f"GAN samples: mean pairwise difference {diffs}")
    assert min(diffs) > 0.01  # three seeds, three different samples


class _Reduces:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def test_a_snapshot_that_asks_for_code_is_refused_and_nothing_runs(host, tmp_path):
    marker = tmp_path / "ran"
    name = "distill3d_test_malicious.pkl"
    path = os.path.join(host.base, "models", "eg3d", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({"G_ema": _Reduces(os.system, f"touch {marker}")}, f)
    try:
        entry = host.run(_samples_prompt(name))
    finally:
        os.remove(path)  # not left in the host's list of generators
    assert entry["status"]["status_str"] == "error"
    message = str(entry["status"]["messages"])
    assert "asks for posix.system" in message and "refused" in message, message[-800:]
    assert not marker.exists()
    assert host.run(_samples_prompt(hostutil.tiny_eg3d(host)))["status"]["status_str"] == "success"


def test_adaptation_with_one_latent_and_the_relative_distance_loss_is_refused_with_the_reason(host):
    prompt = {
        "1": {"class_type": "Distill3DLoadGenerator", "inputs": {"generator_name": hostutil.tiny_eg3d(host)}},
        "2": {"class_type": "Distill3DWorldPrior", "inputs": {"prompt": "a red mug", "mode": "view-aware",
                                                              "resolution": "32"}},
        "3": {"class_type": "Distill3DAdaptGenerator", "inputs": {
            "generator": ["1", 0], "prior": ["2", 0], "steps": 2, "learning_rate": 0.002, "batch": 1,
            "guidance_scale": 10.0, "relative_distance_weight": 1.0, "reconstruction_weight": 0.0,
            "source_prompt": "", "truncation_psi": 1.0, "samples_per_ray": 16, "seed": 0, "preview_every": 0}},
        "4": {"class_type": "Distill3DGeneratorGrid", "inputs": {
            "generator": ["3", 0], "seed": 0, "count": 2, "columns": 2, "truncation_psi": 1.0, "azimuth": 0.0,
            "elevation": 0.0, "fov": 13.37, "images": "super-resolved"}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    }
    entry = host.run(prompt)
    assert entry["status"]["status_str"] == "error"
    message = str(entry["status"]["messages"])
    assert "relative distance loss" in message and "batch of 1" in message and "no pairs" in message, message


def test_text_to_avatar_scores_candidates_by_clip_when_clip_models_are_connected(host):
    """ComfyUI's CLIP vision (a random Zero123 checkpoint's ViT-L/14) and CLIP text (the random SD 1.5's CLIP-L)
    score the candidates; the log says so and the avatar comes out as a field that meshes."""
    prompt = {
        "1": {"class_type": "Distill3DLoadGenerator", "inputs": {"generator_name": "distill3d: mugs (shipped)"}},
        "2": {"class_type": "Distill3DWorldPrior", "inputs": {"prompt": "a mug", "mode": "view-aware",
                                                              "resolution": "32"}},
        "3": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": hostutil.random_zero123(host)}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": hostutil.random_sd15(host)}},
        "5": {"class_type": "Distill3DTextToAvatar", "inputs": {
            "generator": ["1", 0], "prior": ["2", 0], "candidates": 3, "seed": 0, "steps": 2, "learning_rate": 0.01,
            "generator_lr_scale": 0.1, "tv_weight": 1.0, "batch": 2, "guidance_scale": 10.0, "samples_per_ray": 16,
            "preview_every": 0, "clip_vision": ["3", 1], "clip": ["4", 1], "clip_text": "a photo of a red mug"}},
        "6": {"class_type": "Distill3DExtractMesh", "inputs": {"field": ["5", 0], "resolution": 32, "level": -1.0,
                                                               "remove_floaters": 0.05}},
        "7": {"class_type": "Distill3DSaveMesh", "inputs": {"mesh": ["6", 0], "filename_prefix": "tests/avatar_clip",
                                                            "format": "glb"}},
    }
    entry = host.run(prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    log = entry["outputs"]["5"]["text"][0]
    assert "minus CLIP similarity" in log and log.startswith("chose seed"), log
    scores = [float(x) for x in __import__("re").findall(r"\d+: (-?[\d.]+)", log.split("\n")[0])]
    assert len(scores) == 3 and all(-1 <= s <= 1 for s in scores) and len(set(scores)) == 3, log
    assert [f for f in host.output_files(entry) if f["filename"].endswith(".glb")]
