"""Exact renders of SDF shapes by sphere tracing: albedo, Lambertian-shaded RGB, alpha, depth and normals.

These are the primitive world's ground truth: every fitted field and every prior of the pack is checked against
them. Supersampling (`supersample` > 1) gives antialiased edges and fractional alpha, like a real camera.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..cameras import Cameras, camera_light
from ..render import SHADINGS, RenderRecord, shade
from .sdf import Shape

BOUND_RADIUS = 0.9  # every world object lies inside this sphere (the unit cube's circumsphere is 0.866)


def sdf_normals(shape: Shape, points: torch.Tensor, h: float = 2e-4) -> torch.Tensor:
    """Unit normals by central differences of the SDF."""
    offsets = torch.eye(3, device=points.device) * h
    p = torch.cat([points + offsets[i] for i in range(3)] + [points - offsets[i] for i in range(3)])
    d = shape.sdf(p).reshape(6, -1)
    g = (d[:3] - d[3:]).T
    return F.normalize(g, dim=-1)


def sphere_trace(shape: Shape, origins: torch.Tensor, dirs: torch.Tensor, max_steps: int = 160,
                 eps: float = 2e-4, bound: float = BOUND_RADIUS) -> tuple[torch.Tensor, torch.Tensor]:
    """March rays [R,3] to the surface. Returns distance along the ray [R] and a hit mask [R]."""
    b = (origins * dirs).sum(-1)
    c = (origins * origins).sum(-1) - bound * bound
    disc = b * b - c
    inside = disc > 0
    sq = disc.clamp_min(0).sqrt()
    t = (-b - sq).clamp_min(0)
    t_far = -b + sq
    hit = torch.zeros_like(inside)
    active = inside & (t_far > 0)
    idx = active.nonzero().squeeze(-1)
    for _ in range(max_steps):
        if idx.numel() == 0:
            break
        p = origins[idx] + t[idx, None] * dirs[idx]
        d = shape.sdf(p)
        converged = d.abs() < eps * (1 + t[idx])
        hit[idx[converged]] = True
        t[idx] = t[idx] + torch.where(converged, torch.zeros_like(d), d)
        keep = (~converged) & (t[idx] < t_far[idx])
        idx = idx[keep]
    return t, hit


def render_shape(shape: Shape, cameras: Cameras, height: int, width: int | None = None,
                 shading: str = "lambertian", background=(1.0, 1.0, 1.0), supersample: int = 2,
                 ambient: float = 0.35, light_dirs: torch.Tensor | None = None, chunk: int = 262144) -> RenderRecord:
    """Render `shape` from every camera. `shading`: 'albedo', 'lambertian' or 'textureless' (white albedo)."""
    if shading not in SHADINGS:
        raise ValueError(f"shading must be one of {SHADINGS}, got '{shading}'")
    width = height if width is None else width
    if supersample < 1:
        raise ValueError(f"supersample must be at least 1, got {supersample}")
    H, W = height * supersample, width * supersample
    dev = cameras.device
    o, d = cameras.rays(H, W)
    n_cam = len(cameras)
    o, d = o.reshape(-1, 3), d.reshape(-1, 3)
    light = camera_light(cameras) if light_dirs is None else light_dirs.to(dev).expand(n_cam, 3)
    light = light[:, None, :].expand(n_cam, H * W, 3).reshape(-1, 3)
    view_axis = (-cameras.c2w[:, :3, 2])[:, None, :].expand(n_cam, H * W, 3).reshape(-1, 3)
    bg = torch.tensor(background, dtype=torch.float32, device=dev)

    rgb = bg.expand(o.shape[0], 3).clone()
    albedo = rgb.clone()
    alpha = torch.zeros(o.shape[0], device=dev)
    depth = torch.zeros(o.shape[0], device=dev)
    normal = torch.zeros(o.shape[0], 3, device=dev)
    for s in range(0, o.shape[0], chunk):
        sl = slice(s, s + chunk)
        t, hit = sphere_trace(shape, o[sl], d[sl])
        hi = hit.nonzero().squeeze(-1) + s
        if hi.numel() == 0:
            continue
        p = o[hi] + t[hi - s, None] * d[hi]
        _, col = shape(p)
        n = sdf_normals(shape, p)
        shaded = shade(col, n, light[hi], shading, ambient)
        rgb[hi] = shaded.clamp(0, 1)
        albedo[hi] = col.clamp(0, 1)
        alpha[hi] = 1.0
        depth[hi] = t[hi - s] * (d[hi] * view_axis[hi]).sum(-1)
        normal[hi] = n

    def pool(x):  # [N*H*W, C] -> [N, h, w, C] averaged over supersamples
        x = x.reshape(n_cam, H, W, -1).permute(0, 3, 1, 2)
        if supersample > 1:
            x = F.avg_pool2d(x, supersample)
        return x.permute(0, 2, 3, 1)

    a = pool(alpha[:, None])
    depth_p = pool((depth * alpha)[:, None]) / a.clamp_min(1e-6)
    normal_p = F.normalize(pool(normal), dim=-1) * (a > 0)
    return RenderRecord(rgb=pool(rgb), albedo=pool(albedo), alpha=a[..., 0], depth=depth_p[..., 0],
                        normal=normal_p, shading=shading)


def depth_image(depth: torch.Tensor, alpha: torch.Tensor, far_value: float = 0.2) -> torch.Tensor:
    """Depth [N,H,W] as a displayable map [N,H,W]: per view the nearest covered surface is 1, the farthest
    `far_value`, linear in between, and 0 where nothing is covered (the convention of monocular depth maps)."""
    covered = alpha > 0.5
    big = torch.finfo(depth.dtype).max
    near = torch.where(covered, depth, torch.full_like(depth, big)).flatten(1).min(1).values[:, None, None]
    far = torch.where(covered, depth, torch.full_like(depth, -big)).flatten(1).max(1).values[:, None, None]
    scaled = 1 - (1 - far_value) * (depth - near) / (far - near).clamp_min(1e-6)
    return torch.where(covered, scaled.clamp(far_value, 1), torch.zeros_like(depth))
