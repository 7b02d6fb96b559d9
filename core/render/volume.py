"""Volume rendering of NeRF (density) and NeuS (SDF) fields in pure torch.

Rays are clipped to the field's cube and sampled at stratified depths. Samples in empty cells of an occupancy
grid are never sent through the network; samples are processed in segments along the rays, and a ray whose
transmittance has fallen below `min_transmittance` stops (early termination). Image renders are chunked so
memory stays bounded at any resolution.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..cameras import Cameras, camera_light
from . import SHADINGS, RenderRecord, shade, view_backgrounds


def ray_box(origins, dirs, bound):
    """Entry and exit distances of rays through the cube [-bound, bound]^3 (exit <= entry: a miss)."""
    inv = 1.0 / torch.where(dirs.abs() < 1e-9, torch.full_like(dirs, 1e-9), dirs)
    t0 = (-bound - origins) * inv
    t1 = (bound - origins) * inv
    near = torch.minimum(t0, t1).max(-1).values.clamp_min(0)
    far = torch.maximum(t0, t1).min(-1).values
    return near, far


def render_rays(field, origins: torch.Tensor, dirs: torch.Tensor, n_samples: int = 64, perturb: bool = True,
                generator: torch.Generator | None = None, shading: str = "albedo", light_dirs=None,
                ambient: float = 0.35, want_normals: bool = False, occupancy=None, segment: int = 16,
                min_transmittance: float = 1e-4, depth_scale=None, background=None) -> RenderRecord:
    """Render a batch of rays [R,3]. Returns a RenderRecord of [R]-shaped tensors.

    depth_scale [R] converts distance along the ray into depth along the view axis (cosine to the axis);
    background [R,3] overrides the field's own background.
    """
    if shading not in SHADINGS:
        raise ValueError(f"shading must be one of {SHADINGS}, got '{shading}'")
    R, dev = origins.shape[0], origins.device
    need_normals = want_normals or shading != "albedo"
    near, far = ray_box(origins, dirs, field.bound)
    hit_box = far > near + 1e-6
    far = torch.where(hit_box, far, near + 1e-3)
    u = torch.linspace(0, 1, n_samples + 1, device=dev)
    if perturb:
        jitter = (torch.rand(R, 1, generator=generator).to(dev) - 0.5) / n_samples
        u = (u[None] + jitter).clamp(0, 1)
    else:
        u = u[None].expand(R, -1)
    t = near[:, None] + (far - near)[:, None] * u  # [R, N+1] edges
    sdf_mode = field.geometry == "sdf"
    inv_s = field.inv_s if sdf_mode else None

    T = torch.ones(R, device=dev)
    rgb = torch.zeros(R, 3, device=dev)
    albedo_acc = torch.zeros(R, 3, device=dev)
    depth = torch.zeros(R, device=dev)
    opacity = torch.zeros(R, device=dev)
    normal_acc = torch.zeros(R, 3, device=dev) if need_normals else None
    evaluated = 0
    active = hit_box.clone()
    for s0 in range(0, n_samples, segment):
        s1 = min(s0 + segment, n_samples)
        ray_idx = active.nonzero().squeeze(-1)
        if ray_idx.numel() == 0:
            break
        te = t[ray_idx, s0:s1 + 1]  # edges of this segment [r, k+1]
        o, d = origins[ray_idx], dirs[ray_idx]
        if sdf_mode:
            pts = o[:, None] + te[..., None] * d[:, None]  # evaluate at the edges
        else:
            pts = o[:, None] + (0.5 * (te[:, 1:] + te[:, :-1]))[..., None] * d[:, None]
        flat = pts.reshape(-1, 3)
        keep = occupancy.query(flat) if occupancy is not None else torch.ones(flat.shape[0], dtype=torch.bool,
                                                                               device=dev)
        geo = torch.full((flat.shape[0],), 1.0 if sdf_mode else 0.0, device=dev)
        alb = torch.zeros(flat.shape[0], 3, device=dev)
        if keep.any():
            g, a = field.query(flat[keep])
            geo = geo.index_put((keep.nonzero().squeeze(-1),), g)
            alb = alb.index_put((keep.nonzero().squeeze(-1),), a)
            evaluated += int(keep.sum())
        geo = geo.reshape(pts.shape[:2])
        alb = alb.reshape(*pts.shape[:2], 3)
        if sdf_mode:
            cdf = torch.sigmoid(geo * inv_s)
            alpha = ((cdf[:, :-1] - cdf[:, 1:] + 1e-5) / (cdf[:, :-1] + 1e-5)).clamp(0, 1)
            col = 0.5 * (alb[:, 1:] + alb[:, :-1])
            mid_pts = 0.5 * (pts[:, 1:] + pts[:, :-1])
        else:
            delta = te[:, 1:] - te[:, :-1]
            alpha = 1 - torch.exp(-geo * delta)
            col = alb
            mid_pts = pts
        Tseg = T[ray_idx]
        trans = torch.cumprod(torch.cat([Tseg[:, None], 1 - alpha + 1e-10], 1), 1)
        w = alpha * trans[:, :-1]  # [r, k]
        t_mid = 0.5 * (te[:, 1:] + te[:, :-1])
        shaded = col
        if need_normals:
            n = torch.zeros_like(mid_pts)
            sig = w > 1e-4
            if sig.any():
                n = n.index_put((sig.nonzero(as_tuple=True)), field.normals(mid_pts[sig]))
            normal_acc = normal_acc.index_add(0, ray_idx, (w[..., None] * n).sum(1))
            if shading != "albedo":
                ld = light_dirs[ray_idx][:, None].expand_as(n)
                shaded = shade(col, n, ld, shading, ambient)
        rgb = rgb.index_add(0, ray_idx, (w[..., None] * shaded).sum(1))
        albedo_acc = albedo_acc.index_add(0, ray_idx, (w[..., None] * col).sum(1))
        depth = depth.index_add(0, ray_idx, (w * t_mid).sum(1))
        opacity = opacity.index_add(0, ray_idx, w.sum(1))
        T = T.index_put((ray_idx,), trans[:, -1])
        active = active & (T > min_transmittance)
    bg = field.background(dirs) if background is None else background
    out_rgb = rgb + (1 - opacity)[:, None] * bg
    out_albedo = albedo_acc + (1 - opacity)[:, None] * bg
    if depth_scale is not None:
        depth = depth * depth_scale
    depth = depth / opacity.clamp_min(1e-6) * (opacity > 1e-6)
    normals = F.normalize(normal_acc, dim=-1) * (opacity[:, None] > 1e-6) if need_normals else None
    return RenderRecord(rgb=out_rgb, alpha=opacity.clamp(0, 1), depth=depth, normal=normals, albedo=out_albedo,
                        shading=shading, background=bg, extras={"samples_evaluated": evaluated})


def render_views(field, cameras: Cameras, height: int, width: int | None = None, chunk: int = 16384,
                 light_dirs=None, background=None, **kw) -> RenderRecord:
    """Render full images [N,H,W,...] from cameras, `chunk` rays at a time (bounded memory at any size).
    background: None (the field's own), one RGB colour or one per view [N,3], composited behind each view."""
    width = height if width is None else width
    o, d = cameras.rays(height, width)
    n = len(cameras)
    view_axis = (-cameras.c2w[:, :3, 2])[:, None, None, :].expand_as(d)
    cos = (d * view_axis).sum(-1)
    if light_dirs is None and kw.get("shading", "albedo") != "albedo":
        light_dirs = camera_light(cameras)
    ld = None if light_dirs is None else light_dirs[:, None, None, :].expand_as(d).reshape(-1, 3)
    bg = view_backgrounds(background, n, d.device)
    if bg is not None:
        bg = bg[:, None, None, :].expand_as(d).reshape(-1, 3)
    o, d, cos = o.reshape(-1, 3), d.reshape(-1, 3), cos.reshape(-1)
    parts = []
    for i in range(0, o.shape[0], chunk):
        sl = slice(i, i + chunk)
        rec = render_rays(field, o[sl], d[sl], depth_scale=cos[sl], light_dirs=None if ld is None else ld[sl],
                          background=None if bg is None else bg[sl], **kw)
        parts.append(rec)

    def cat(name):
        vals = [getattr(p, name) for p in parts]
        if vals[0] is None:
            return None
        v = torch.cat(vals)
        return v.reshape(n, height, width, *v.shape[1:])

    return RenderRecord(rgb=cat("rgb"), alpha=cat("alpha"), depth=cat("depth"), normal=cat("normal"),
                        albedo=cat("albedo"), shading=parts[0].shading, background=cat("background"),
                        extras={"samples_evaluated": sum(p.extras["samples_evaluated"] for p in parts)})
