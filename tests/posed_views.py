"""A world object's renders written as a posed image folder, as nerfstudio would (a z-up world, moved and scaled),
for the Load Views tests in core and in the host."""
import json
import math
import os

import numpy as np
import torch
from PIL import Image

from core.cameras import _Z_UP_FROM_PACK
from core.world import render_object

FOV = 40.0
SHIFT, SCALE = torch.tensor([0.7, -0.3, 1.2]), 2.5  # their world = z-up turn of ours, scaled, then shifted


def theirs(c2w: torch.Tensor) -> torch.Tensor:
    m = _Z_UP_FROM_PACK @ c2w
    m = m.clone()
    m[:3, 3] = m[:3, 3] * SCALE + SHIFT
    return m


def write_scene(root, obj, cams, res=64, stretch_frame=None, pad=(6, 10)):
    """PNGs with alpha, listed in shuffled order; every image padded (top, right) so its principal point is off
    centre; one frame stretched 1.5x in x (non-square pixels)."""
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    rec = render_object(obj, cams, res, background=(1.0, 1.0, 1.0))
    black = render_object(obj, cams, res, background=(0.0, 0.0, 0.0))  # straight colour, as RGBA files hold it
    straight = black.rgb / black.alpha[..., None].clamp_min(1e-6)
    f = 0.5 * res / math.tan(math.radians(FOV) / 2)
    frames = []
    for i in range(len(cams)):
        rgba = torch.cat([straight[i].clamp(0, 1), rec.alpha[i][..., None]], -1)
        top, right = pad
        canvas = torch.ones(res + top, res + right, 4)
        canvas[..., 3] = 0
        canvas[top:, :res] = rgba
        fx = f
        img = Image.fromarray((canvas.numpy() * 255).round().astype(np.uint8), "RGBA")
        if i == stretch_frame:
            img = img.resize((int(1.5 * img.width), img.height), Image.BICUBIC)
            fx = 1.5 * f
        name = f"images/view_{i}.png"
        img.save(os.path.join(root, name))
        frames.append({"file_path": name, "transform_matrix": theirs(cams.c2w[i]).tolist(), "fl_x": fx, "fl_y": f,
                       "cx": res / 2 * (1.5 if i == stretch_frame else 1), "cy": top + res / 2,
                       "w": img.width, "h": img.height})
    order = np.random.default_rng(0).permutation(len(frames))
    with open(os.path.join(root, "transforms.json"), "w") as fh:
        json.dump({"frames": [frames[i] for i in order]}, fh)
    return rec


def add_frame(root, obj, cam, name, res=64, c2w=None):
    """One more frame in a written scene: `obj` rendered from `cam` (one pack camera) as `name` (an RGBA PNG,
    centred principal point), posed at theirs(cam) or at the given c2w (their world); returns the frame's entry."""
    rec = render_object(obj, cam, res, background=(0.0, 0.0, 0.0))
    rgba = torch.cat([(rec.rgb[0] / rec.alpha[0][..., None].clamp_min(1e-6)).clamp(0, 1), rec.alpha[0][..., None]], -1)
    os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
    Image.fromarray((rgba.numpy() * 255).round().astype(np.uint8), "RGBA").save(os.path.join(root, name))
    f = 0.5 * res / math.tan(math.radians(FOV) / 2)
    frame = {"file_path": name, "transform_matrix": (theirs(cam.c2w[0]) if c2w is None else c2w).tolist(),
             "fl_x": f, "fl_y": f, "cx": res / 2, "cy": res / 2, "w": res, "h": res}
    path = os.path.join(root, "transforms.json")
    with open(path) as fh:
        spec = json.load(fh)
    spec["frames"].append(frame)
    with open(path, "w") as fh:
        json.dump(spec, fh)
    return frame
