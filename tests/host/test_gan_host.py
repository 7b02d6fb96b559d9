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


def _tiny_generator(host) -> str:
    def write(path):
        import torch
        from core.gan.eg3d import TriplaneGenerator, save_generator
        from make_eg3d_reference import GENERATOR_KWARGS
        torch.manual_seed(0)
        save_generator(TriplaneGenerator(**GENERATOR_KWARGS), path)
    return hostutil.test_model(host, "eg3d", "distill3d_test_tiny_eg3d.safetensors", write)


def _samples_prompt(name: str) -> dict:
    return {
        "1": {"class_type": "Distill3DLoadGenerator", "inputs": {"generator_name": name}},
        "2": {"class_type": "Distill3DGeneratorSamples", "inputs": {
            "generator": ["1", 0], "seed": 0, "count": 3, "truncation_psi": 0.7, "azimuth": 20.0, "elevation": 5.0,
            "fov": 13.37, "rendering_resolution": 16}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "tests/gan_samples"}},
    }


def test_a_generator_from_models_eg3d_gives_one_sample_per_seed(host):
    entry = host.run(_samples_prompt(_tiny_generator(host)))
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
    assert host.run(_samples_prompt(_tiny_generator(host)))["status"]["status_str"] == "success"
