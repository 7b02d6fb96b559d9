"""The World Prior's family inputs in a real host: a prompt's words over K members run; words the family lacks,
two objects in one prompt and K out of range are node errors that say what works, and the host keeps serving.
And its multi-view mode sampled at a view set it was not made for (six views above and below)."""
from hostutil import world_vsd_nodes


def _graph(prompt: str, members: int) -> dict:
    return world_vsd_nodes(prompt=prompt, members=members, member_seed=3) | {
        "6": {"class_type": "Distill3DOptimizeField",
              "inputs": {"field": ["5", 0], "loss": ["4", 0], "steps": 3, "learning_rate": 0.02,
                         "lr_schedule": "cosine", "samples_per_ray": 16, "seed": 0, "preview_every": 0,
                         "preview_resolution": 32}},
        "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 1]}},
    }


def _errors(body) -> str:
    return repr(body.get("node_errors")) + repr(body.get("error"))


def test_family_prompts_run_and_bad_words_are_node_errors(host):
    entry = host.run(_graph("a tall red mug", 3))
    assert entry["status"]["status_str"] == "success", entry["status"]
    for prompt, members, expected in [
            ("a green snowman", 2, ["snowman family has no green member", "colours: white"]),
            ("a tall sphere", 2, ["sphere family has no 'tall'", "big, small"]),
            ("a duck on a table", 2, ["names 2 objects (duck, table)"]),
            ("a duck", 0, ["smaller than min"])]:
        status, body = host.queue(_graph(prompt, members))
        assert status == 400, (prompt, body)
        text = _errors(body)
        assert all(e in text for e in expected), (prompt, text)
    assert host.run(_graph("a duck", 1))["status"]["status_str"] == "success"


def test_the_multi_view_sampler_samples_six_views_alternating_above_and_below(host):
    """Issue 30: Zero123++'s view set (six views, 20° / -10° alternating, azimuth 30 + 60 i) from the World Prior
    node made for MVDream's four: the sampler denoises the six as one group, and each view is the duck's true view
    at its camera (the views from below included); the cameras go on to the Cost Volume Builder."""
    import io

    import numpy as np
    import torch
    from PIL import Image
    from core.cameras import alternating_orbit
    from core.metrics import psnr
    from core.world import get_object, render_object
    graph = {
        "1": {"class_type": "Distill3DWorldPrior", "inputs": {"prompt": "a duck", "mode": "multi-view",
                                                              "resolution": "32"}},
        "2": {"class_type": "Distill3DMultiViewSampler",
              "inputs": {"prior": ["1", 0], "views": 6, "elevation": 20.0, "azimuth_start": 30.0, "distance": 1.8,
                         "fov": 40.0, "steps": 20, "guidance_scale": 7.5, "cfg_rescale": 0.0, "seed": 0,
                         "layout": "alternating", "second_elevation": -10.0}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
        "4": {"class_type": "Distill3DCostVolumeBuilder",
              "inputs": {"images": ["2", 0], "cameras": ["2", 1], "method": "classical", "grid_size": 32,
                         "weights": "distill3d (shipped)", "drop_disagreeing": True}},
        "5": {"class_type": "Distill3DSaveMesh", "inputs": {"mesh": ["4", 1], "filename_prefix": "distill3d/test_six",
                                                             "format": "glb"}},
    }
    entry = host.run(graph)
    assert entry["status"]["status_str"] == "success", entry["status"]
    files = [f for f in host.output_files(entry) if f["node"] == "3"]
    views = torch.stack([torch.from_numpy(np.asarray(Image.open(io.BytesIO(host.view(f))).convert("RGB"),
                                                     dtype=np.float32)) / 255 for f in files])
    truth = render_object(get_object("duck"), alternating_orbit(6, 20.0, -10.0), 32, shading="albedo").rgb
    scores = [psnr(v[None], t[None]) for v, t in zip(views, truth)]
    print("SIX_VIEWS PSNR per view", [round(x, 1) for x in scores])
    assert len(views) == 6 and min(scores) >= 20.0
