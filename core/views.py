"""Posed views from disk: an image folder with a transforms.json (the nerfstudio / instant-ngp / Blender-synthetic
convention) brought into the pack's convention (core.cameras) and its object box.

transforms.json, as those tools write it: "frames", each with "file_path" (relative to the file; the extension may
be left off, as in Blender's synthetic scenes) and "transform_matrix" (camera-to-world, OpenGL camera axes: x right,
y up, looking down -z, as ours), optionally "mask_path"; intrinsics per frame or for all: "fl_x", "fl_y", "cx",
"cy" (pixels) or "camera_angle_x" / "camera_angle_y" (radians). Their worlds are z-up (Blender, nerfstudio,
instant-ngp's colmap2nerf); ours is y-up, so `up` says which.

What changes on the way in: frames are read in the natural order of their file names (stable whatever order the
file lists them in); each image is cut to the largest square centred on its principal point and resized (our
cameras are square-pixel, centred pinholes: non-square pixels are resampled first); the world is moved and
scaled so that the region every view sees (and, with masks, every mask covers: a visual hull) fills the unit cube
[-0.5, 0.5]^3 with a margin.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass

import torch

from .cameras import Cameras, z_up_to_pack

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass
class PosedViews:
    """images [N,R,R,3] in 0..1 (over white where a mask cut them out), masks [N,R,R] (1 on the object) or None,
    cameras in the pack's convention, the frames' file names, and the world change applied:
    pack = (theirs' - center) * scale after the up-axis turn."""
    images: torch.Tensor
    masks: torch.Tensor | None
    cameras: Cameras
    names: list[str]
    center: torch.Tensor
    scale: float


def _natural_key(text: str):
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text)]


def _resolve_image(root: str, rel: str, frame: str) -> str:
    path = os.path.normpath(os.path.join(root, rel))
    if os.path.isfile(path):
        return path
    for ext in IMAGE_EXTENSIONS:  # Blender's synthetic scenes leave the extension off
        if os.path.isfile(path + ext):
            return path + ext
    raise ValueError(f"frame '{frame}': its image '{rel}' is not in {root} (looked for the name as given and with "
                     f"{', '.join(IMAGE_EXTENSIONS)})")


def _rigid(matrix, frame: str) -> torch.Tensor:
    """A 4x4 camera-to-world matrix from a frame's 'transform_matrix' (3x4 or 4x4), refusing anything that is not a
    rotation and a translation (scaled or sheared matrices would silently warp the cameras)."""
    try:
        m = torch.tensor(matrix, dtype=torch.float64)
    except (TypeError, ValueError):
        raise ValueError(f"frame '{frame}': transform_matrix is not a 3x4 or 4x4 table of numbers") from None
    if m.shape == (3, 4):
        m = torch.cat([m, torch.tensor([[0.0, 0, 0, 1]], dtype=m.dtype)])
    if m.shape != (4, 4) or not torch.isfinite(m).all():
        raise ValueError(f"frame '{frame}': transform_matrix must be a finite 3x4 or 4x4 matrix, got shape "
                         f"{tuple(m.shape)}")
    r = m[:3, :3]
    err = float((r.T @ r - torch.eye(3, dtype=m.dtype)).abs().max())
    if err > 1e-3 or float(torch.linalg.det(r)) < 0 or (m[3] - torch.tensor([0.0, 0, 0, 1], dtype=m.dtype)).abs().max() > 1e-6:
        raise ValueError(f"frame '{frame}': transform_matrix is not rigid (its 3x3 part must be a rotation: "
                         f"R^T R deviates from I by {err:.3g}, det {float(torch.linalg.det(r)):.3g}); scaled, sheared "
                         f"or mirrored camera matrices are not camera poses")
    return m


def _intrinsics(spec: dict, width: int, height: int, frame: str) -> tuple[float, float, float, float]:
    """(fl_x, fl_y, cx, cy) in pixels of this image, from the frame's keys over the file's."""
    fx, fy = spec.get("fl_x"), spec.get("fl_y")
    if fx is None and spec.get("camera_angle_x") is not None:
        fx = 0.5 * width / math.tan(float(spec["camera_angle_x"]) / 2)
    if fy is None and spec.get("camera_angle_y") is not None:
        fy = 0.5 * height / math.tan(float(spec["camera_angle_y"]) / 2)
    fx, fy = (fy if fx is None else fx), (fx if fy is None else fy)
    if fx is None:
        raise ValueError(f"frame '{frame}': no intrinsics (fl_x / fl_y or camera_angle_x, for the frame or the "
                         f"whole file)")
    sx = width / float(spec["w"]) if spec.get("w") else 1.0  # intrinsics given for another image size
    sy = height / float(spec["h"]) if spec.get("h") else 1.0
    cx = float(spec["cx"]) * sx if spec.get("cx") is not None else width / 2
    cy = float(spec["cy"]) * sy if spec.get("cy") is not None else height / 2
    fx, fy = float(fx) * sx, float(fy) * sy
    if fx <= 0 or fy <= 0:
        raise ValueError(f"frame '{frame}': focal lengths must be positive, got {fx:g}, {fy:g}")
    return fx, fy, cx, cy


def _read_rgba(path: str) -> torch.Tensor:
    from PIL import Image
    import numpy as np
    with Image.open(path) as im:
        im = im.convert("RGBA")
        return torch.from_numpy(np.asarray(im).copy()).float() / 255.0  # [H,W,4]


def _read_mask(path: str, size: tuple[int, int], frame: str) -> torch.Tensor:
    from PIL import Image
    import numpy as np
    with Image.open(path) as im:
        if im.size != (size[1], size[0]):
            raise ValueError(f"frame '{frame}': its mask is {im.size[0]}x{im.size[1]} but its image "
                             f"{size[1]}x{size[0]}")
        return torch.from_numpy(np.asarray(im.convert("L")).copy()).float() / 255.0


def _square_crop(rgba: torch.Tensor, fx: float, fy: float, cx: float, cy: float, resolution: int, frame: str):
    """The largest square centred on the principal point, with square pixels, resized: ([R,R,C], vertical fov)."""
    img = rgba.permute(2, 0, 1)[None]  # [1,C,H,W]
    h, w = img.shape[-2:]
    if abs(fx - fy) > 1e-3 * fy:  # non-square pixels: resample x so one pixel is as wide as it is tall
        new_w = max(1, round(w * fy / fx))
        img = torch.nn.functional.interpolate(img, size=(h, new_w), mode="bilinear", align_corners=False,
                                              antialias=True)
        cx, w = cx * new_w / w, new_w
    half = min(cx, w - cx, cy, h - cy)
    if half < 4:
        raise ValueError(f"frame '{frame}': its principal point ({cx:.1f}, {cy:.1f}) lies at the image's edge: no "
                         f"centred view can be cut from it")
    # crop [cy-half, cy+half) x [cx-half, cx+half) by resampling (sub-pixel centres stay exact)
    ys = (cy - half + (torch.arange(resolution) + 0.5) * (2 * half / resolution)) / h * 2 - 1
    xs = (cx - half + (torch.arange(resolution) + 0.5) * (2 * half / resolution)) / w * 2 - 1
    if 2 * half > 2 * resolution:  # shrinking a lot: smooth first so the samples do not alias
        k = int(2 * half / resolution)
        img = torch.nn.functional.avg_pool2d(img, k, stride=1, padding=k // 2, count_include_pad=False)[..., :h, :w]
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx, gy], -1)[None]
    out = torch.nn.functional.grid_sample(img, grid, mode="bilinear", align_corners=False)[0]
    fov = math.degrees(2 * math.atan(half / fy))
    return out.permute(1, 2, 0), fov


def common_point(cameras: Cameras) -> torch.Tensor:
    """The point nearest to every camera's optical axis (least squares): where the views look together."""
    o = cameras.position.double()
    d = -cameras.c2w[:, :3, 2].double()  # viewing direction: -Z of each camera
    eye = torch.eye(3, dtype=o.dtype)
    proj = eye[None] - d[:, :, None] * d[:, None, :]  # [N,3,3]: removes the component along each axis
    a, b = proj.sum(0), (proj @ o[:, :, None]).sum(0)[:, 0]
    return torch.linalg.lstsq(a, b).solution.float()


def seen_by_all(points: torch.Tensor, cameras: Cameras, masks: torch.Tensor | None = None,
                threshold: float = 0.5) -> torch.Tensor:
    """[P] bool: points in front of and inside every view (the intersection of the frusta); with masks [N,R,R]
    also inside every mask (the visual hull: silhouette carving)."""
    res = masks.shape[-1] if masks is not None else 64
    uv, depth = cameras.project(points, res)
    inside = (depth > 1e-6) & (uv >= 0).all(-1) & (uv <= res).all(-1)
    if masks is not None:
        grid = (uv / res * 2 - 1)[:, :, None, :]  # [N,P,1,2]
        m = torch.nn.functional.grid_sample(masks[:, None].float(), grid, mode="bilinear", align_corners=False)
        inside &= m[:, 0, :, 0] >= threshold
    return inside.all(0)


def object_box(cameras: Cameras, masks: torch.Tensor | None = None, names=None, resolution: int = 48):
    """(center [3], size) of the region every view sees (with masks: the visual hull), found on a grid around the
    point the views share. Refuses a view that does not look at that point, naming its frame."""
    names = names or [str(i) for i in range(len(cameras))]
    c = common_point(cameras)
    uv, depth = cameras.project(c[None], 64)
    for i in range(len(cameras)):
        u, v = uv[i, 0].tolist()
        if not (depth[i, 0] > 0 and -8 <= u <= 72 and -8 <= v <= 72):
            raise ValueError(f"frame '{names[i]}' does not look at the region the other views share (the point "
                             f"nearest every optical axis, {[round(x, 3) for x in c.tolist()]}, falls outside it): "
                             f"is its pose from another scene, or in another convention?")
    reach = float((cameras.position - c).norm(dim=-1).max())
    half = reach
    for _ in range(2):  # a coarse search, then a finer grid around what it found
        axis = torch.linspace(-half, half, resolution)
        g = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3) + c
        keep = seen_by_all(g, cameras, masks)
        if not keep.any():
            what = "mask" if masks is not None else "view"
            raise ValueError(f"no point lies inside every {what}: the views share no region (check the poses"
                             f"{' and that the masks are 1 on the object' if masks is not None else ''})")
        pts = g[keep]
        lo, hi = pts.min(0).values, pts.max(0).values
        step = 2 * half / (resolution - 1)
        lo, hi = lo - step, hi + step
        c, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * 1.05
    return c, float((hi - lo).max())


def load_views(folder: str, resolution: int = 256, up: str = "+z", margin: float = 0.9,
               transforms: str = "transforms.json") -> PosedViews:
    """Read a posed image folder (see the module docstring) into the pack's convention and object box."""
    if up not in ("+z", "+y"):
        raise ValueError(f"up must be '+z' (Blender, nerfstudio, instant-ngp) or '+y', got {up!r}")
    path = os.path.join(folder, transforms)
    if not os.path.isfile(path):
        raise ValueError(f"no {transforms} in {folder}: Load Views needs the cameras of the images (nerfstudio's "
                         f"or instant-ngp's transforms.json, camera-to-world matrices)")
    try:
        with open(path) as f:
            spec = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    frames = spec.get("frames") if isinstance(spec, dict) else None
    if not frames or not isinstance(frames, list):
        raise ValueError(f"{path} has no 'frames' list")
    root = os.path.dirname(path)
    for i, fr in enumerate(frames):
        if not isinstance(fr, dict) or "file_path" not in fr or "transform_matrix" not in fr:
            raise ValueError(f"frame {i} of {path} needs 'file_path' and 'transform_matrix'")
    frames = sorted(frames, key=lambda fr: _natural_key(str(fr["file_path"])))
    if len(frames) < 2:
        raise ValueError(f"{path} holds {len(frames)} frame; posed views need at least 2")
    images, masks, c2ws, fovs, names, labels = [], [], [], [], [], []
    any_mask = False
    for fr in frames:
        name = str(fr["file_path"])
        img_path = _resolve_image(root, name, name)
        c2w = _rigid(fr["transform_matrix"], name)
        rgba = _read_rgba(img_path)
        h, w = rgba.shape[:2]
        if fr.get("mask_path"):
            rgba[..., 3] = _read_mask(_resolve_image(root, str(fr["mask_path"]), name), (h, w), name)
            any_mask = True
        elif (rgba[..., 3] < 1).any():
            any_mask = True
        fx, fy, cx, cy = _intrinsics({**spec, **fr}, w, h, name)
        sq, fov = _square_crop(rgba, fx, fy, cx, cy, resolution, name)
        a = sq[..., 3:].clamp(0, 1)
        images.append(sq[..., :3] * a + (1 - a))  # over white where masked out
        masks.append(a[..., 0])
        c2ws.append(c2w.float())
        fovs.append(fov)
        names.append(os.path.basename(img_path))
        labels.append(name)
    c2w = torch.stack(c2ws)
    if up == "+z":
        c2w = z_up_to_pack(c2w)
    cams = Cameras(c2w, torch.tensor(fovs))
    mask_t = torch.stack(masks) if any_mask else None
    center, size = object_box(cams, mask_t, labels)
    scale = margin / size
    moved = cams.c2w.clone()
    moved[:, :3, 3] = (moved[:, :3, 3] - center) * scale
    return PosedViews(torch.stack(images).clamp(0, 1), mask_t, Cameras(moved, cams.fov), names, center, scale)
