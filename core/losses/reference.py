"""Reference-view losses (DreamCraft3D's): masked RGB, mask, depth (negative Pearson) and normal (cosine)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..cameras import Cameras
from . import LossTerm, RayRequest, ViewRequest


class ReferenceViewsLoss(LossTerm):
    """Photometric fitting to known views: each step samples random pixels of the views and compares renders.

    images [N,H,W,3] in 0..1; masks [N,H,W] (1 = object); depths [N,H,W] (any monotone scale: the depth term is
    scale- and shift-invariant) and normals [N,H,W,3] (camera space, unit) are optional.
    """

    name = "reference"

    def __init__(self, images, cameras: Cameras, *, masks=None, depths=None, normals=None, rays_per_step: int = 2048,
                 rgb_weight: float = 1.0, mask_weight: float = 1.0, depth_weight: float = 0.0,
                 normal_weight: float = 0.0, weight: float = 1.0, shading: str = "albedo",
                 views_per_step: int = 4, free_space_weight: float = 0.0):
        super().__init__(weight)
        images = torch.as_tensor(images, dtype=torch.float32)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"reference images must be [N,H,W,3], got {tuple(images.shape)}")
        n, h, w, _ = images.shape
        if n == 0:
            raise ValueError("no reference views were given")
        if len(cameras) != n:
            raise ValueError(f"{n} reference images but {len(cameras)} cameras: give one camera per image")

        def check(x, name, shape):
            if x is None:
                return None
            x = torch.as_tensor(x, dtype=torch.float32)
            if tuple(x.shape) != shape:
                raise ValueError(f"reference {name} must be {list(shape)} to match the images, got {list(x.shape)}")
            return x

        self.images = images
        self.masks = check(masks, "masks", (n, h, w))
        self.depths = check(depths, "depths", (n, h, w))
        self.normals = check(normals, "normals", (n, h, w, 3))
        if self.depths is not None and self.masks is None:
            raise ValueError("a reference depth needs a mask (depth is compared on the object only)")
        self.cameras = cameras
        self.rays_per_step = rays_per_step
        self.views_per_step = views_per_step
        self.weights = dict(rgb=rgb_weight, mask=mask_weight, depth=depth_weight, normal=normal_weight,
                            free_space=free_space_weight)
        #: what the user should hear: a weight whose map is missing is skipped
        self.notes = [f"{kind}_weight is {self.weights[kind]:g} but no {kind} map was given, so that term is "
                      f"skipped: connect a {kind} map (an estimator node's output, to the reference's {kind} input) "
                      f"or set {kind}_weight to 0"
                      for kind, given in (("depth", depths), ("normal", normals))
                      if self.weights[kind] > 0 and given is None]
        if free_space_weight > 0 and masks is None:
            self.notes.append(f"free_space_weight is {free_space_weight:g} but no mask was given, so space carving "
                              f"is skipped: connect the views' mask, or set free_space_weight to 0")
        if free_space_weight > 0 and masks is not None and n >= 3:  # a set meant to carve: what it cannot show
            from ..costvolume import view_set_findings
            self.notes += list(view_set_findings(cameras, remedy="a hole shows only where a view sees background "
                                                                 "through it: add views from above and below"))
        self.shading = shading
        o, d = cameras.rays(h, w)
        axis = (-cameras.c2w[:, :3, 2])[:, None, None, :]
        self._rays = (o.reshape(-1, 3), d.reshape(-1, 3), (d * axis).sum(-1).reshape(-1))
        self._pending = None
        self._carving = (carving_rays(self._rays[0], self._rays[1], cameras, self.masks)
                         if free_space_weight > 0 and self.masks is not None else None)
        self._carve = None

    def begin(self, device):
        """The run's copies of the views and rays on `device`."""
        self._rays = tuple(r.to(device) for r in self._rays)
        if self._carving is not None:
            self._carving = self._carving.to(device)
        for name in ("images", "masks", "depths", "normals"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, v.to(device))
        self.cameras = self.cameras.to(device)

    def request(self, step, total, generator, field=None):
        if field is not None and not field.supports_rays:
            # a rasterized field renders whole views: take a few random ones and compare every pixel
            n, h, w, _ = self.images.shape
            k = min(self.views_per_step, n)
            views = torch.randperm(n, generator=generator)[:k].to(self._rays[0].device)
            self._pending = (views[:, None] * (h * w) + torch.arange(h * w, device=views.device)[None]).reshape(-1)
            self._flatten = True
            return ViewRequest(self.cameras[views.tolist()], h, w, shading=self.shading,
                               want_normals=self.weights["normal"] > 0 and self.normals is not None)
        self._flatten = False
        if self._carving is not None and len(self._carving):
            pick = torch.randint(0, len(self._carving), (FREE_RAYS,), generator=generator)
            self._carve = self._carving[pick.to(self._carving.device)]
        n_pix = self._rays[0].shape[0]
        idx = torch.randint(0, n_pix, (self.rays_per_step,), generator=generator).to(self._rays[0].device)
        self._pending = idx
        o, d, cos = self._rays
        return RayRequest(o[idx], d[idx], cos[idx], shading=self.shading,
                          want_normals=self.weights["normal"] > 0 and self.normals is not None)

    def loss(self, field, record, step, total):
        idx = self._pending
        if self._flatten:
            record = _flat(record)
        n, h, w, _ = self.images.shape
        target = self.images.reshape(-1, 3)[idx]
        logs = {}
        if self.masks is not None:
            m = self.masks.reshape(-1)[idx]
            rgb_l = ((record.rgb - target) ** 2).sum(-1).mul(m).sum() / m.sum().clamp_min(1.0) / 3
            mask_l = F.mse_loss(record.alpha, m)
            logs["mask"] = float(mask_l.detach())
        else:
            rgb_l = F.mse_loss(record.rgb, target)
            mask_l = torch.zeros((), device=target.device)
        logs["rgb"] = float(rgb_l.detach())
        total_l = self.weights["rgb"] * rgb_l + self.weights["mask"] * mask_l
        if self._carve is not None and getattr(field, "geometry", None) == "sdf" and not self._flatten:
            o, d, _ = self._rays
            free_l = free_space_loss(field, o[self._carve], d[self._carve])
            total_l = total_l + self.weights["free_space"] * free_l
            logs["free_space"] = float(free_l.detach())
        if self.depths is not None and self.weights["depth"] > 0:
            sel = self.masks.reshape(-1)[idx] > 0.5
            if sel.sum() > 8:
                depth_l = -pearson(record.depth[sel], self.depths.reshape(-1)[idx][sel])
                total_l = total_l + self.weights["depth"] * depth_l
                logs["depth"] = float(depth_l.detach())
        if self.normals is not None and self.weights["normal"] > 0 and record.normal is not None:
            sel = self.masks.reshape(-1)[idx] > 0.5 if self.masks is not None else torch.ones_like(idx, dtype=bool)
            view = idx // (h * w)
            R = self.cameras.c2w[view, :3, :3]
            cam_n = torch.einsum("rji,rj->ri", R, record.normal)  # world -> camera frame
            normal_l = (1 - F.cosine_similarity(cam_n[sel], self.normals.reshape(-1, 3)[idx][sel], dim=-1)).mean()
            total_l = total_l + self.weights["normal"] * normal_l
            logs["normal"] = float(normal_l.detach())
        return total_l, logs


def free_space_loss(field, origins: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Space carving for an SDF: every point of a ray that sees the background (mask < FREE) lies outside the
    object, so its SDF is pulled up to >= 0 there. The mask loss alone cannot open a hole that a surface already
    plugs: once the sharpness is high, only samples near the surface pass it gradients (a hex nut's hole stayed 92 %
    filled); this term reaches the plug's inside directly. origins, dirs [R,3]: background rays."""
    o, d = origins[:FREE_RAYS], dirs[:FREE_RAYS]
    b = float(field.bound)
    safe = torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
    t0, t1 = (-b - o) / safe, (b - o) / safe
    near = torch.minimum(t0, t1).amax(-1).clamp_min(0)
    far = torch.maximum(t0, t1).amin(-1)
    hit = far > near
    if not bool(hit.any()):
        return torch.zeros((), device=o.device)
    o, d, near, far = o[hit], d[hit], near[hit], far[hit]
    s = (torch.arange(FREE_SAMPLES, device=o.device) + torch.rand(len(o), FREE_SAMPLES, device=o.device)) / FREE_SAMPLES
    t = near[:, None] + (far - near)[:, None] * s
    sdf = field.geometry_value((o[:, None] + d[:, None] * t[..., None]).reshape(-1, 3))
    return F.relu(-sdf).mean()


def carving_rays(origins: torch.Tensor, dirs: torch.Tensor, cameras: Cameras, masks: torch.Tensor,
                 samples: int = 32, chunk: int = 8192) -> torch.Tensor:
    """Indices of the background pixels (mask < FREE) whose rays cross space that at least CARVE_SHARE of the
    views that see it cover with their masks: the rays that carve something (through a hole that the views from
    the side see filled, past a silhouette's edge). The rest of the background is empty for most views already;
    drawing carving rays from these alone reaches a hole's few rays every step. Points are taken across the unit
    cube's circumsphere, where Load Views puts the object."""
    from ..views import inside_each
    bg = torch.nonzero(masks.reshape(-1) < FREE)[:, 0]
    keep = []
    s = torch.linspace(-0.87, 0.87, samples)
    for part in bg.split(chunk):
        o, d = origins[part], dirs[part]
        t = (-(o * d).sum(-1, keepdim=True)) + s  # around the point of the ray nearest the origin
        pts = (o[:, None] + d[:, None] * t[..., None]).reshape(-1, 3)
        in_frame = inside_each(pts, cameras)
        seen = in_frame.sum(0)
        held = (inside_each(pts, cameras, masks).sum(0) >= CARVE_SHARE * seen) & (seen >= 2)
        keep.append(part[held.reshape(len(part), samples).any(1)])
    return torch.cat(keep) if keep else bg


#: a background ray carves where it crosses space this share of the views covers (a through-hole: every view
#: that does not see through it)
CARVE_SHARE = 0.6
#: a pixel sees the background (its whole ray is free space) below this mask value
FREE = 0.01
#: background rays, and points on each, that the free-space term looks at per step
FREE_RAYS, FREE_SAMPLES = 256, 16


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a = a - a.mean()
    b = b - b.mean()
    return (a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-8)


def _flat(record):
    """A view record [N,H,W,...] as a ray record [N*H*W,...]."""
    from ..render import RenderRecord

    def f(x):
        return None if x is None else x.reshape(-1, *x.shape[3:])
    return RenderRecord(rgb=f(record.rgb), alpha=f(record.alpha), depth=f(record.depth), normal=f(record.normal),
                        albedo=f(record.albedo), shading=record.shading, extras=record.extras)
