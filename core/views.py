"""Posed views from disk: an image folder with a transforms.json (the nerfstudio / instant-ngp / Blender-synthetic
convention) brought into the pack's convention (core.cameras) and its object box.

transforms.json, as those tools write it: "frames", each with "file_path" (relative to the file; the extension may
be left off, as in Blender's synthetic scenes; it must lie inside the file's folder, symbolic links resolved, or the
frame is refused) and "transform_matrix" (camera-to-world, OpenGL camera axes: x right,
y up, looking down -z, as ours), optionally "mask_path"; intrinsics per frame or for all: "fl_x", "fl_y", "cx",
"cy" (pixels) or "camera_angle_x" / "camera_angle_y" (radians). Their worlds are z-up (Blender, nerfstudio,
instant-ngp's colmap2nerf); ours is y-up, so `up` says which.

What changes on the way in: frames are read in the natural order of their file names (stable whatever order the
file lists them in); each image is cut to the largest square centred on its principal point and resized (our
cameras are square-pixel, centred pinholes: non-square pixels are resampled first); the world is moved and
scaled so that the region every view sees (and, with masks, every mask covers: a visual hull) fills the unit cube
[-0.5, 0.5]^3 with a margin. With masks, that region comes from the views that agree (`agreeing_views`): a frame
whose mask the others do not explain — a frame of another scene, or one whose pose is off by more than a few
degrees — is left out of it and named in the notes; views whose masks share no point are refused, naming them.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field

import torch

from .cameras import Cameras, z_up_to_pack

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass
class PosedViews:
    """images [N,R,R,3] in 0..1 (over white where a mask cut them out), masks [N,R,R] (1 on the object) or None,
    cameras in the pack's convention, the frames' file names, and the world change applied:
    pack = (theirs' - center) * scale after the up-axis turn. `left_out`: the indices of frames the object box was
    made without (their masks disagree with the other views'; the frames themselves are still in the batch);
    `notes`: what the user should be told, one sentence per frame, each naming it."""
    images: torch.Tensor
    masks: torch.Tensor | None
    cameras: Cameras
    names: list[str]
    center: torch.Tensor
    scale: float
    left_out: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _natural_key(text: str):
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text)]


def _within(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


def _resolve_image(root: str, rel: str, frame: str, what: str = "image") -> str:
    """The file a frame names, which must lie inside the scene's folder: an absolute path, a '..' that climbs out
    or a symbolic link that leads out is refused naming the frame (a shared transforms.json must not read the
    server's other files)."""
    leaves = (f"frame '{frame}': its {what} '{rel}' {{}}: the files a transforms.json names must lie inside its "
              f"folder ({root}), given relative to it")
    if os.path.isabs(rel) or os.path.splitdrive(rel)[0] or rel.startswith(("\\\\", "//")):
        raise ValueError(leaves.format("is an absolute path"))
    real_root = os.path.realpath(root)
    path = os.path.normpath(os.path.join(real_root, rel))
    if not _within(real_root, path):
        raise ValueError(leaves.format("climbs out of the scene's folder"))
    for candidate in (path, *(path + ext for ext in IMAGE_EXTENSIONS)):  # Blender's scenes leave the extension off
        if os.path.isfile(candidate):
            if not _within(real_root, os.path.realpath(candidate)):
                raise ValueError(leaves.format("is a symbolic link (or lies under one) that leads out of the "
                                               "scene's folder"))
            return candidate
    raise ValueError(f"frame '{frame}': its {what} '{rel}' is not in {root} (looked for the name as given and with "
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


def inside_each(points: torch.Tensor, cameras: Cameras, masks: torch.Tensor | None = None,
                threshold: float = 0.5) -> torch.Tensor:
    """[N,P] bool: whether each point lies in front of and inside each view (and, with masks [N,R,R], inside its
    mask at `threshold`)."""
    w2c = torch.linalg.inv(cameras.c2w)
    pc = points @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3]  # [N,P,3] camera space, looking down -z
    depth = -pc[..., 2]
    tan = torch.tan(torch.deg2rad(cameras.fov) / 2)[:, None]
    grid = pc[..., :2] / (depth * tan).clamp_min(1e-12)[..., None]  # [-1,1]^2 across the image (y up)
    inside = (depth > 1e-6) & (grid.abs().amax(-1) <= 1)
    if masks is not None:
        grid = grid * torch.tensor([1.0, -1.0])  # grid_sample's y runs down the rows
        m = torch.nn.functional.grid_sample(masks[:, None].float(), grid[:, :, None, :], mode="bilinear",
                                            align_corners=False)
        inside &= m[:, 0, :, 0] >= threshold
    return inside


def seen_by_all(points: torch.Tensor, cameras: Cameras, masks: torch.Tensor | None = None,
                threshold: float = 0.5) -> torch.Tensor:
    """[P] bool: points in front of and inside every view (the intersection of the frusta); with masks [N,R,R]
    also inside every mask (the visual hull: silhouette carving)."""
    return inside_each(points, cameras, masks, threshold).all(0)


def _aimed(cameras: Cameras, names) -> torch.Tensor:
    """The point the views share (common_point); refuses a view that does not look at it, naming its frame."""
    c = common_point(cameras)
    uv, depth = cameras.project(c[None], 64)
    for i in range(len(cameras)):
        u, v = uv[i, 0].tolist()
        if not (depth[i, 0] > 0 and -8 <= u <= 72 and -8 <= v <= 72):
            raise ValueError(f"frame '{names[i]}' does not look at the region the other views share (the point "
                             f"nearest every optical axis, {[round(x, 3) for x in c.tolist()]}, falls outside it): "
                             f"is its pose from another scene, or in another convention?")
    return c


def _grid(center: torch.Tensor, half: float, resolution: int) -> torch.Tensor:
    axis = torch.linspace(-half, half, resolution)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3) + center


def _quoted(names, idx) -> str:
    return ", ".join(f"'{names[i]}'" for i in idx)


def _no_common_region(inside: torch.Tensor, names, masked: bool) -> ValueError:
    """The refusal when no grid point lies inside every view [N,P], naming the frames to look at: the pairs whose
    views (masks) share no point, else the frames without which the others would share a region."""
    n = len(names)
    what = "mask" if masked else "view"
    f = inside.float()
    share = (f @ f.T) > 0
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n) if not share[a, b]]
    if pairs:
        listed = "; ".join(f"'{names[a]}' and '{names[b]}'" for a, b in pairs[:8])
        more = f" (and {len(pairs) - 8} more pairs)" if len(pairs) > 8 else ""
        detail = f"these frames' {what}s have no point in common: {listed}{more}"
    else:
        count = inside.sum(0)
        alone = [i for i in range(n) if bool(((count == n - 1) & ~inside[i]).any())]
        detail = (f"every two {what}s meet, but not all {n}: without frame "
                  f"{' or '.join(_quoted(names, [i]) for i in alone)} the others would share a region" if alone else
                  f"every two {what}s meet, but not all {n} of {_quoted(names, range(n))} together")
    hint = " and that the masks are 1 on the object" if masked else ""
    return ValueError(f"no point lies inside every {what}: {detail}. Check those frames' poses{hint} (are they of "
                      f"this scene, in this convention?)")


def _hull_box(cameras: Cameras, masks: torch.Tensor | None, names, need: int, resolution: int = 48):
    """(lo, hi) [3] of the region inside at least `need` views (masks), found on a grid around the point the views
    share, then on a finer one around what it found; refuses views that share no region, naming their frames."""
    c = common_point(cameras)
    reach = float((cameras.position - c).norm(dim=-1).max())
    half = reach
    for _ in range(2):  # a coarse search, then a finer grid around what it found
        g = _grid(c, half, resolution)
        inside = inside_each(g, cameras, masks)
        keep = inside.sum(0) >= need
        if not keep.any():
            raise _no_common_region(inside, names, masks is not None)
        pts = g[keep]
        lo, hi = pts.min(0).values, pts.max(0).values
        step = 2 * half / (resolution - 1)
        lo, hi = lo - step, hi + step
        c, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * 1.05
    return lo, hi


def object_box(cameras: Cameras, masks: torch.Tensor | None = None, names=None, resolution: int = 48):
    """(center [3], size) of the region every view sees (with masks: the visual hull), found on a grid around the
    point the views share. Refuses a view that does not look at that point, and views that share no region, naming
    their frames."""
    names = names or [str(i) for i in range(len(cameras))]
    _aimed(cameras, names)
    lo, hi = _hull_box(cameras, masks, names, len(cameras), resolution)
    return (lo + hi) / 2, float((hi - lo).max())


# ---- which views agree ------------------------------------------------------------------------------------------
# A frame agrees with the others when nearly all of its mask lies where they see the object: each pixel of a true
# silhouette casts a ray that meets the object, and so the others' visual hull. A frame of another scene, or one
# whose pose is off by more than a few degrees, has mask pixels whose rays miss that hull (and it carves the hull,
# so that the others' masks go unexplained too). Judged on masks of CHECK_RES pixels dilated by one pixel, at up to
# CHECK_PIXELS pixels of each mask and CHECK_DEPTHS points along each ray, fewer with many frames (each point is
# looked up in every mask: CHECK_LOOKUPS bounds the work).
CHECK_RES = 48
CHECK_PIXELS = 512
CHECK_DEPTHS = 48
CHECK_LOOKUPS = 1.5e7
AGREE = 0.9        # the share of a frame's mask the other views must explain
TURN_LIMIT = 20.0  # degrees: how far a left-out frame's camera is turned to see whether its pose is what is off


def _ray_points(cameras: Cameras, pixels: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, depths: int):
    """Points [C,K,D,3] along each camera's rays through the pixels [K,2] (row, column) of a CHECK_RES image,
    spread between where the rays enter and leave the box [lo, hi], and which rays cross it [C,K]."""
    o, d = cameras.rays(CHECK_RES)
    o, d = o[:, pixels[:, 0], pixels[:, 1]], d[:, pixels[:, 0], pixels[:, 1]]  # [C,K,3]
    safe = torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
    t0, t1 = (lo - o) / safe, (hi - o) / safe
    near = torch.minimum(t0, t1).amax(-1).clamp_min(0)
    far = torch.maximum(t0, t1).amin(-1)
    s = (torch.arange(depths, dtype=o.dtype) + 0.5) / depths
    t = near[..., None] + (far - near).clamp_min(0)[..., None] * s
    return o[..., None, :] + d[..., None, :] * t[..., None], far > near


def _per_view(values: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """Means [...,n] of per-pixel values [...,K] over each view's pixels (owner [K]); 0 for a view without any."""
    total = torch.zeros(*values.shape[:-1], n).index_add_(-1, owner, values)
    count = torch.bincount(owner, minlength=n).clamp_min(1)
    return total / count


class _Agreement:
    """For every frame, rays through (up to CHECK_PIXELS of) its mask's pixels, sampled inside the region the views
    share, and which views' dilated masks hold each sample: enough to say how much of each frame's mask a subset of
    the others explains, for every subset the search below asks about."""

    def __init__(self, cameras: Cameras, masks: torch.Tensor, names, budget: int):
        self.cameras, n = cameras, len(cameras)
        m = torch.nn.functional.interpolate(masks[:, None].float(), size=(CHECK_RES, CHECK_RES), mode="area")[:, 0]
        self.dilated = torch.nn.functional.max_pool2d(m[:, None], 3, 1, 1)[:, 0]  # one pixel of tolerance
        # the region sampled: where all but `budget` views' masks hold the point (a stray frame cannot empty it)
        self.lo, self.hi = _hull_box(cameras, masks, names, n - budget)
        self.depths = CHECK_DEPTHS if n <= 40 else CHECK_DEPTHS * 2 // 3
        most = int(min(CHECK_PIXELS, max(32, CHECK_LOOKUPS / (n * n * self.depths))))
        self.pixels, points, valid, owner = [], [], [], []
        for j in range(n):
            px = torch.nonzero(m[j] >= 0.5)
            if len(px) > most:
                px = px[torch.linspace(0, len(px) - 1, most).round().long()]
            self.pixels.append(px)
            pts, ok = _ray_points(cameras[j], px, self.lo, self.hi, self.depths)
            points.append(pts[0].reshape(-1, 3))
            valid.append(ok[0])
            owner.append(torch.full((len(px),), j))
        self.points = torch.cat(points)                      # [T,3], T = pixels x depths
        self.valid = torch.cat(valid)                        # [K] the pixel's ray crosses the region
        self.owner = torch.cat(owner)                        # [K] the frame each pixel is of
        self.pixel = torch.arange(len(self.owner)).repeat_interleave(self.depths)  # [T] the pixel of each sample
        self.holds = torch.cat([inside_each(self.points, cameras[k:k + 16], self.dilated[k:k + 16])
                                for k in range(0, n, 16)])  # [N,T]
        self.holds &= self.valid[self.pixel]

    def _pixels_hit(self, held: torch.Tensor) -> torch.Tensor:
        """[...,K] float: whether any sample of each pixel's ray is held ([...,T] bool)."""
        out = torch.zeros(*held.shape[:-1], len(self.owner))
        return out.scatter_reduce_(-1, self.pixel.expand_as(held), held.float(), "amax")

    def explained(self, keep: torch.Tensor) -> torch.Tensor:
        """[N]: the share of each frame's mask whose rays meet the hull of the kept frames' masks (0 for a frame
        whose mask is empty)."""
        return _per_view(self._pixels_hit((self.holds | ~keep[:, None]).all(0)), self.owner, len(self.cameras))

    def without_each(self, keep: torch.Tensor) -> torch.Tensor:
        """[N,N]: row i, what `explained` gives with frame i also left out (rows of frames not kept: meaningless)."""
        n = len(self.cameras)
        votes = (self.holds & keep[:, None]).sum(0)
        kept = int(keep.sum())
        full = self._pixels_hit(votes == kept)                     # [K] explained whichever frame is left out
        short = torch.nonzero(votes == kept - 1)[:, 0]              # samples that one kept frame alone refuses
        refuser = ((~self.holds[:, short]) & keep[:, None]).float().argmax(0)
        rescued = torch.zeros(n, len(self.owner))                  # [i,K]: leaving frame i out explains the pixel
        rescued[refuser, self.pixel[short]] = 1.0
        return _per_view(torch.maximum(rescued, full), self.owner, n)

    def turn_scores(self, i: int, keep: torch.Tensor, thin: int = 1):
        """A function of rotations [C,3,3] (camera i turned about its centre, in its own frame) giving [C]: the least
        explained share among frame i's mask (by the kept frames' hull) and the kept frames' masks (by that hull
        carved by frame i so turned); on every `thin`-th pixel."""
        kept = torch.nonzero(keep)[:, 0]
        cams, dil = self.cameras[kept.tolist()], self.dilated[kept]
        counts = torch.bincount(self.owner, minlength=len(self.cameras))
        first = torch.cumsum(counts, 0) - counts                    # where each frame's pixels start
        used = (torch.arange(len(self.owner)) - first[self.owner]) % thin == 0  # every thin-th of each frame's
        held = (self.holds | ~keep[:, None]).all(0) & (keep[self.owner] & used)[self.pixel]  # kept samples in the hull
        pts, pix = self.points[held], self.pixel[held]
        mine = (self.owner == i) | ~used
        own_pixels = self.pixels[i][::thin]
        base = torch.zeros(len(self.owner))

        def scores(turns: torch.Tensor) -> torch.Tensor:
            c = len(turns)
            c2w = self.cameras.c2w[i].expand(c, 4, 4).clone()
            c2w[:, :3, :3] = c2w[:, :3, :3] @ turns
            cand = Cameras(c2w, self.cameras.fov[i].expand(c))
            rays, valid = _ray_points(cand, own_pixels, self.lo, self.hi, self.depths // 2)
            k, d = rays.shape[1:3]
            own = (inside_each(rays.reshape(-1, 3), cams, dil).all(0).reshape(c, k, d).any(-1) & valid)
            hit = base.expand(c, -1).clone()
            hit.scatter_reduce_(1, pix.expand(c, -1), inside_each(pts, cand, self.dilated[i].expand(c, -1, -1)).float(),
                                "amax")
            others = _per_view(hit[:, ~mine], self.owner[~mine], len(self.cameras))[:, kept].amin(-1)
            return torch.minimum(own.float().mean(-1), others)
        return scores


def _turns(pitch: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    """Rotations [C,3,3] about a camera's own x (pitch) then y (yaw) axes, angles in degrees."""
    p, y = torch.deg2rad(pitch), torch.deg2rad(yaw)
    one, zero = torch.ones_like(p), torch.zeros_like(p)
    rx = torch.stack([one, zero, zero, zero, p.cos(), -p.sin(), zero, p.sin(), p.cos()], -1).reshape(-1, 3, 3)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], -1).reshape(-1, 3, 3)
    return rx @ ry


def _best_turn(agreement: _Agreement, i: int, keep: torch.Tensor) -> tuple[float, float]:
    """(angle in degrees, score) of the turn of frame i's camera, up to TURN_LIMIT, that best fits its mask to the
    kept frames: a grid of 5-degree steps, then one of 1.25-degree steps around its best."""
    best, centre = (0.0, 0.0, -1.0), (0.0, 0.0)
    for offsets, thin in ((torch.linspace(-TURN_LIMIT, TURN_LIMIT, 9), 4), (torch.linspace(-2.5, 2.5, 5), 1)):
        score = agreement.turn_scores(i, keep, thin)
        pp, yy = torch.meshgrid(offsets + centre[0], offsets + centre[1], indexing="ij")
        pp, yy = pp.reshape(-1), yy.reshape(-1)
        scores = torch.cat([score(_turns(pp[k:k + 16], yy[k:k + 16])) for k in range(0, len(pp), 16)])
        k = int(scores.argmax())
        best = (float(pp[k]), float(yy[k]), float(scores[k]))
        centre = best[:2]
    p, y = math.radians(best[0]), math.radians(best[1])
    return math.degrees(math.acos(max(-1.0, min(1.0, math.cos(p) * math.cos(y))))), best[2]


def agreeing_views(cameras: Cameras, masks: torch.Tensor, names) -> tuple[list[int], list[str]]:
    """(the frames the object box is made from, notes naming the others and why). Frames whose masks the other
    views do not explain are left out one at a time (each time the one whose absence best mends the rest), as long
    as at most a quarter of them, and no more than leaves three, are enough for the rest to agree. If no such few
    frames are, all are kept and the note names those that agree least; if no region lies inside every mask but
    those few, the refusal names the frames."""
    n = len(cameras)
    budget = max(0, min(n // 4, n - 3))
    agreement = _Agreement(cameras, masks, names, budget)
    keep = torch.ones(n, dtype=torch.bool)
    shares = agreement.explained(keep)
    if float(shares.min()) >= AGREE:
        return list(range(n)), []
    left = []
    for _ in range(budget):
        trial = agreement.without_each(keep)  # [i,j]
        trial[:, ~keep] = 1.0
        trial[torch.arange(n), torch.arange(n)] = 1.0
        score = trial.amin(-1).masked_fill(~keep, -1.0)
        i = int(score.argmax())
        keep[i] = False
        left.append(i)
        if float(score[i]) >= AGREE:
            break
    final = agreement.explained(keep)
    if left and float(final[keep].min()) >= AGREE:
        notes = []
        for i in left:
            share = float(final[i])
            if len(agreement.pixels[i]) == 0:
                notes.append(f"frame '{names[i]}': its mask is empty (nothing of the object in it).")
                continue
            if share < AGREE:
                evidence = f"only {share:.0%} of its mask lies where they see the object"
            else:  # its own mask is explained, but it carves away what the others see
                carved = agreement.explained(keep | (torch.arange(n) == i)).masked_fill(~keep, 2.0)
                j = int(carved.argmin())
                evidence = (f"its mask cuts away part of the object they see: with it, only {float(carved[j]):.0%} "
                            f"of frame '{names[j]}''s mask is explained")
            angle, score = _best_turn(agreement, i, keep)
            if score >= AGREE:
                why = (f"its pose disagrees with the other views: it looks about {angle:.0f}° away from where they "
                       f"place the object ({evidence}; turned {angle:.0f}° it would fit them). Check its "
                       f"transform_matrix.")
            elif share < AGREE:
                why = (f"the other views do not explain its mask ({evidence}, and no turn of its camera up to "
                       f"{TURN_LIMIT:.0f}° mends that). Is it a frame of another scene, or is its pose far off?")
            else:
                why = (f"its mask disagrees with the other views ({evidence}, and no turn of its camera up to "
                       f"{TURN_LIMIT:.0f}° mends that). Is part of the object missing from its mask, or is it a "
                       f"frame of another scene?")
            notes.append(f"frame '{names[i]}': {why} The object box was made without it (the frame is still in the "
                         f"outputs: remove it from transforms.json if it does not belong).")
        return torch.nonzero(keep)[:, 0].tolist(), notes
    # no few frames account for the disagreement: all are kept, and the note names those that agree least
    worst = [i for i in shares.argsort().tolist() if float(shares[i]) < AGREE][:4]
    listed = ", ".join(f"'{names[i]}' ({float(shares[i]):.0%})" for i in worst)
    why = (f"with {n} frames none can be left out" if budget == 0 else
           f"leaving out {'up to ' if budget > 1 else ''}{budget} frame{'s' if budget > 1 else ''} would not mend it")
    return list(range(n)), [f"the views' masks do not agree and {why}: the share of each mask that the other views "
                            f"explain is lowest for {listed}. The object box was made from all frames; check those "
                            f"frames' poses and masks."]


def load_views(folder: str, resolution: int = 256, up: str = "+z", margin: float = 0.9,
               transforms: str = "transforms.json") -> PosedViews:
    """Read a posed image folder (see the module docstring) into the pack's convention and object box."""
    if up not in ("+z", "+y"):
        raise ValueError(f"up_axis must be '+z' (Blender, nerfstudio, instant-ngp) or '+y', got {up!r}")
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
            rgba[..., 3] = _read_mask(_resolve_image(root, str(fr["mask_path"]), name, "mask"), (h, w), name)
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
    _aimed(cams, labels)
    kept, notes = (agreeing_views(cams, mask_t, labels) if mask_t is not None else (list(range(len(cams))), []))
    center, size = object_box(cams[kept], None if mask_t is None else mask_t[kept], [labels[i] for i in kept])
    scale = margin / size
    moved = cams.c2w.clone()
    moved[:, :3, 3] = (moved[:, :3, 3] - center) * scale
    return PosedViews(torch.stack(images).clamp(0, 1), mask_t, Cameras(moved, cams.fov), names, center, scale,
                      [i for i in range(len(cams)) if i not in kept], notes)
