"""Values in, runs inside: a loss or painter that ComfyUI caches and hands to several nodes and several prompts is
never changed by being used, so each use gives exactly what a fresh one gives (core.losses.LossTerm.start,
core.texture.paint.Painter.start)."""
import io

import numpy as np
from PIL import Image

from hostutil import world_vsd_nodes


def _images(host, entry, node: str) -> np.ndarray:
    files = sorted((f for f in host.output_files(entry) if f["node"] == node), key=lambda f: f["filename"])
    assert files, entry["outputs"].keys()
    return np.stack([np.asarray(Image.open(io.BytesIO(host.view(f))).convert("RGB")) for f in files])


def _figures(log: str) -> list[str]:
    """The log's loss figures and parameter change (not its seconds)."""
    return [line for line in log.splitlines() if "steps in" not in line]


def _optimize(field: str, preview_every: int) -> dict:
    return {"class_type": "Distill3DOptimizeField",
            "inputs": {"field": [field, 0], "loss": ["4", 0], "steps": 4, "learning_rate": 0.02,
                       "lr_schedule": "cosine", "samples_per_ray": 16, "seed": 0, "preview_every": preview_every,
                       "preview_resolution": 32}}


def _prompt(optimizers: dict, paint_resolution: int) -> dict:
    p = world_vsd_nodes() | {
        "20": {"class_type": "Distill3DWorldObject", "inputs": {"object": "duck", "prompt": ""}},
        "21": {"class_type": "Distill3DWorldTrueMesh", "inputs": {"object": ["20", 0], "resolution": paint_resolution}},
        "22": {"class_type": "Distill3DWorldPainter", "inputs": {"object": ["20", 0], "brightness_jitter": 0.2,
                                                                 "seed": 3}},
        "23": {"class_type": "Distill3DPaintViewSequence", "inputs": {
            "order": "fixed", "views": 4, "elevation": 15.0, "distance": 1.8, "fov": 40.0}},
        "24": {"class_type": "Distill3DPaintTexture", "inputs": {
            "mesh": ["21", 0], "painter": ["22", 0], "cameras": ["23", 0], "texture_size": 64, "resolution": 64,
            "blend": "adaptive", "blend_band": 0.04, "optimize_steps": 0}},
        "25": {"class_type": "PreviewImage", "inputs": {"images": ["24", 1]}},
    }
    for node, preview_every in optimizers.items():
        p[node] = _optimize("5", preview_every)
        p[node + "0"] = {"class_type": "PreviewImage", "inputs": {"images": [node, 1]}}
    return p


def test_a_cached_loss_and_painter_give_what_fresh_ones_give(host):
    """One VSD loss (its estimator a run's state) wired into two Optimize Field nodes of one graph; the same prompt
    queued again with the loss and painter cache hits; then everything fresh (the cache freed): the fields'
    renders and loss figures, and the brightness-drifting painter's views, are exactly equal in all runs."""
    host.post("/free", {"unload_models": False, "free_memory": True})
    first = host.run(_prompt({"6": 3, "7": 4}, 24))  # two Optimize Field nodes (preview_every: no effect on results)
    assert first["status"]["status_str"] == "success", first["status"]
    again = host.run(_prompt({"6": 5}, 25))  # the loss and the painter cached; Optimize and Paint run again
    assert again["status"]["status_str"] == "success", again["status"]
    host.post("/free", {"unload_models": False, "free_memory": True})
    fresh = host.run(_prompt({"6": 6}, 25))  # nothing cached
    assert fresh["status"]["status_str"] == "success", fresh["status"]

    renders = [_images(host, first, "60"), _images(host, first, "70"), _images(host, again, "60"),
               _images(host, fresh, "60")]
    logs = [_figures(first["outputs"]["6"]["text"][0]), _figures(first["outputs"]["7"]["text"][0]),
            _figures(again["outputs"]["6"]["text"][0]), _figures(fresh["outputs"]["6"]["text"][0])]
    assert any("vsd/estimator" in line for line in logs[0]), logs[0]
    for r, lg in zip(renders[1:], logs[1:]):
        assert np.array_equal(r, renders[0])
        assert lg == logs[0]
    painted_again, painted_fresh = _images(host, again, "25"), _images(host, fresh, "25")
    assert np.array_equal(painted_again, painted_fresh)
