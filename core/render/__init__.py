"""Renderers and the one record they all return (volume rendering of fields, mesh rasterization, sphere tracing)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

SHADINGS = ("albedo", "lambertian", "textureless", "normal")


def shade(albedo, normals, light_dirs, shading: str, ambient: float = 0.35):
    """The pack's shading: 'albedo' as is; 'lambertian' albedo * (ambient + (1 - ambient) max(0, n.l));
    'textureless' the same with a white albedo (shows geometry only); 'normal' the world-space normal as a colour,
    n / 2 + 1/2 (the normal renders that geometry stages judge: DreamCraft3D's, Fantasia3D's)."""
    if shading not in SHADINGS:
        raise ValueError(f"shading must be one of {SHADINGS}, got '{shading}'")
    if shading == "albedo":
        return albedo
    if shading == "normal":
        return normals * 0.5 + 0.5
    base = torch.ones_like(albedo) if shading == "textureless" else albedo
    lam = (normals * light_dirs).sum(-1, keepdim=True).clamp_min(0)
    return base * (ambient + (1 - ambient) * lam)


@dataclass
class RenderRecord:
    """What every renderer returns. Leading dims are [N,H,W] for images or [R] for ray batches.

    rgb and albedo are composited over the background; alpha is coverage; depth is the distance along the view
    axis (alpha-weighted, 0 where empty); normal holds unit world-space normals (zeros where empty) or None when
    the renderer was not asked for them; background is the colour behind each pixel that rgb was composited
    over (what a prior that knows the background judges against); extras carries renderer-specific figures.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    normal: torch.Tensor | None = None
    albedo: torch.Tensor | None = None
    shading: str = "albedo"
    background: torch.Tensor | None = None
    extras: dict = field(default_factory=dict)

    def camera_normals(self, cameras) -> torch.Tensor:
        """Image normals in each camera's frame (+X right, +Y up, +Z towards the viewer)."""
        R = cameras.c2w[:, :3, :3].to(self.normal.device)
        return torch.einsum("nji,nhwj->nhwi", R, self.normal)


def view_backgrounds(background, n: int, device) -> torch.Tensor | None:
    """A per-view solid background as [N,3] (from one colour [3] or per-view colours [N,3]); None stays None."""
    if background is None:
        return None
    bg = torch.as_tensor(background, dtype=torch.float32, device=device)
    if bg.ndim == 1:
        bg = bg.expand(n, 3)
    if bg.shape != (n, 3):
        raise ValueError(f"a background is one RGB colour or one per view ({n}, 3); got {tuple(bg.shape)}")
    return bg
