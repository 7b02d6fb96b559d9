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
                 views_per_step: int = 4):
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
        self.weights = dict(rgb=rgb_weight, mask=mask_weight, depth=depth_weight, normal=normal_weight)
        #: what the user should hear: a weight whose map is missing is skipped
        self.notes = [f"{kind}_weight is {self.weights[kind]:g} but no {kind} map was given, so that term is "
                      f"skipped: connect a {kind} map (an estimator node's output, to the reference's {kind} input) "
                      f"or set {kind}_weight to 0"
                      for kind, given in (("depth", depths), ("normal", normals))
                      if self.weights[kind] > 0 and given is None]
        self.shading = shading
        o, d = cameras.rays(h, w)
        axis = (-cameras.c2w[:, :3, 2])[:, None, None, :]
        self._rays = (o.reshape(-1, 3), d.reshape(-1, 3), (d * axis).sum(-1).reshape(-1))
        self._pending = None

    def begin(self, device):
        """The run's copies of the views and rays on `device`."""
        self._rays = tuple(r.to(device) for r in self._rays)
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
