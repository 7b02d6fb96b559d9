"""A world object's renders written as a posed image folder, as nerfstudio would (a z-up world, moved and scaled),
for the Load Views tests in core and in the host."""
import json
import math
import os

import numpy as np
import torch
from PIL import Image

from core.cameras import _Z_UP_FROM_PACK, Cameras
from core.mesh import Mesh
from core.render.raster import render_mesh
from core.world import render_object

FOV = 40.0
SHIFT, SCALE = torch.tensor([0.7, -0.3, 1.2]), 2.5  # their world = z-up turn of ours, scaled, then shifted


def theirs(c2w: torch.Tensor) -> torch.Tensor:
    m = _Z_UP_FROM_PACK @ c2w
    m = m.clone()
    m[:3, 3] = m[:3, 3] * SCALE + SHIFT
    return m


def _render(obj, cams, res, background):
    """A world object's renders, or a mesh's (its vertex colours, unshaded)."""
    if isinstance(obj, Mesh):
        return render_mesh(obj, cams, res, background=background)
    return render_object(obj, cams, res, background=background)


def write_scene(root, obj, cams, res=64, stretch_frame=None, pad=(6, 10)):
    """PNGs with alpha of a world object or a Mesh, listed in shuffled order; every image padded (top, right) so its
    principal point is off centre; one frame stretched 1.5x in x (non-square pixels)."""
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    rec = _render(obj, cams, res, (1.0, 1.0, 1.0))
    black = _render(obj, cams, res, (0.0, 0.0, 0.0))  # straight colour, as RGBA files hold it
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


def hex_nut(path, outer=0.34, hole=0.15, half_depth=0.11, segments=48):
    """A hex nut (a hexagonal prism with a round through-hole along Z, the pack's front axis) written to `path` as
    a PLY mesh with vertex colours, and its occupancy: (path, occupancy(points [P,3]) -> bool [P])."""
    import trimesh
    a = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    apothem = outer * math.cos(math.pi / 6)
    r_out = apothem / np.cos((a + np.pi / 6) % (np.pi / 3) - np.pi / 6)  # the hexagon, vertices at 0°, 60°, ...
    rings = [np.stack([r * np.cos(a), r * np.sin(a), np.full_like(a, z)], 1)
             for r, z in ((r_out, half_depth), (np.full_like(a, hole), half_depth), (r_out, -half_depth),
                          (np.full_like(a, hole), -half_depth))]
    v = np.concatenate(rings)
    n = segments
    faces = []
    for i in range(n):
        j = (i + 1) % n
        faces += [[i, j, n + j], [i, n + j, n + i]]                              # front face
        faces += [[2 * n + i, 3 * n + j, 2 * n + j], [2 * n + i, 3 * n + i, 3 * n + j]]  # back face
        faces += [[2 * n + i, 2 * n + j, j], [2 * n + i, j, i]]                  # outer wall
        faces += [[n + i, n + j, 3 * n + j], [n + i, 3 * n + j, 3 * n + i]]      # inner wall, facing the axis
    colours = np.tile([190, 190, 200, 255], (len(v), 1)).astype(np.uint8)
    trimesh.Trimesh(v, np.array(faces), vertex_colors=colours, process=False).export(path)

    def occupancy(p):
        r = p[:, :2].norm(dim=-1)
        ang = torch.atan2(p[:, 1], p[:, 0])
        edge = apothem / torch.cos(torch.remainder(ang + math.pi / 6, math.pi / 3) - math.pi / 6)
        return (r <= edge) & (r >= hole) & (p[:, 2].abs() <= half_depth)
    return path, occupancy


def read_mesh(path) -> Mesh:
    """A mesh file (anything trimesh reads) as the pack's Mesh, with its vertex colours."""
    import trimesh
    m = trimesh.load(path, process=False)
    colours = torch.as_tensor(np.asarray(m.visual.vertex_colors)[:, :3] / 255.0, dtype=torch.float32)
    return Mesh(torch.as_tensor(np.asarray(m.vertices), dtype=torch.float32),
                torch.as_tensor(np.asarray(m.faces), dtype=torch.int64), colours)


def nut_scene(root, views: int = 24, res: int = 64):
    """The hex nut written as a PLY file, read back and rendered into a posed folder (`views` training views), read
    by Load Views: (PosedViews, the nut's occupancy in Load Views' frame, the point at its hole's centre there, the
    hole's axis)."""
    from core.evaluate import training_views
    from core.views import load_views
    path, occupancy = hex_nut(os.path.join(root, "nut.ply"))
    cams = training_views(views)
    write_scene(os.path.join(root, "scene"), read_mesh(path), cams, res=res)
    loaded = load_views(os.path.join(root, "scene"), resolution=res)
    a = torch.cat([cams.position, torch.ones(len(cams), 1)], 1)  # the frame change Load Views made: x * k + t
    fit = torch.linalg.lstsq(a, loaded.cameras.position).solution
    k, t = float(fit[:3].diagonal().mean()), fit[3]
    return loaded, (lambda p: occupancy((p - t) / k)), t, torch.tensor([0.0, 0.0, 1.0])


def user_picture(obj, zoom: float = 1.0, shift=(0, 0), size: int = 160):
    """A user's picture of a world object, made outside core: its front view at elevation 15, zoomed about the
    picture's centre and shifted (rows, columns) by image resampling, on white, with Load Image's mask (1 - alpha)."""
    rec = render_object(obj, Cameras.from_spherical([15.0], [0.0], 1.8, 40.0), size, shading="albedo")
    rgba = torch.cat([rec.rgb[0], rec.alpha[0][..., None]], -1).permute(2, 0, 1)[None]
    theta = torch.tensor([[[1 / zoom, 0, -2 * shift[1] / size], [0, 1 / zoom, -2 * shift[0] / size]]])
    grid = torch.nn.functional.affine_grid(theta, rgba.shape, align_corners=False)
    out = torch.nn.functional.grid_sample(rgba, grid, align_corners=False)[0].permute(1, 2, 0)
    alpha = out[..., 3:]
    return (out[..., :3] + 1 - alpha)[None], (1 - alpha[..., 0])[None]
