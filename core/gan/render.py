"""Triplane volume rendering as EG3D renders its generators' planes, computed the same way (parity: tests against
outputs of EG3D's own code, tests/data/eg3d_render_reference.safetensors, written by scripts/make_eg3d_reference.py).

Rays come from EG3D's camera conditioning c (core.cameras.to_eg3d); a point's features are the three planes'
bilinear samples (planes xy, xz and zx — EG3D's third plane is (z, x), kept for its trained models); a decoder
turns them into density and colour; the ray is integrated over stratified depths plus importance samples drawn
from the coarse pass, by the mid-point quadrature of EG3D's ray marcher. Random draws (the depth jitter, the
importance samples) come from torch's global generator in EG3D's order, so a seed reproduces its renders.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def eg3d_rays(c: torch.Tensor, resolution: int):
    """Ray origins and unit directions [N, res*res, 3] through the pixel centres of EG3D cameras c [N,25]; ray
    m = row * res + column, rows from the top."""
    if c.ndim != 2 or c.shape[1] != 25:
        raise ValueError(f"camera conditioning c must be [N,25], got {tuple(c.shape)}")
    cam2world, K = c[:, :16].view(-1, 4, 4), c[:, 16:].view(-1, 3, 3)
    n, m = c.shape[0], resolution * resolution
    fx, fy, cx, cy, skew = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 0, 1]
    centres = (torch.arange(resolution, dtype=torch.float32, device=c.device) * (1.0 / resolution)
               + 0.5 / resolution)
    rows, cols = torch.meshgrid(centres, centres, indexing="ij")
    u = cols.reshape(1, -1).expand(n, m)
    v = rows.reshape(1, -1).expand(n, m)
    x = (u - cx[:, None] + cy[:, None] * skew[:, None] / fy[:, None] - skew[:, None] * v / fy[:, None]) \
        / fx[:, None]
    y = (v - cy[:, None]) / fy[:, None]
    cam = torch.stack([x, y, torch.ones_like(x), torch.ones_like(x)], -1)
    world = torch.bmm(cam2world, cam.permute(0, 2, 1)).permute(0, 2, 1)[..., :3]
    origin = cam2world[:, :3, 3]
    return origin[:, None].repeat(1, m, 1), F.normalize(world - origin[:, None], dim=2)


def plane_coordinates(points: torch.Tensor) -> torch.Tensor:
    """[N,3,M,2]: each point's coordinates on the three planes, (x, y), (x, z) and (z, x)."""
    x, y, z = points.unbind(-1)
    return torch.stack([torch.stack([x, y], -1), torch.stack([x, z], -1), torch.stack([z, x], -1)], 1)


def sample_triplane(planes: torch.Tensor, points: torch.Tensor, box_warp: float = 1.0) -> torch.Tensor:
    """Features [N,3,M,C] of points [N,M,3] on planes [N,3,C,H,W] (the cube of side box_warp spans each plane;
    outside it, zeros)."""
    n, _, ch, h, w = planes.shape
    grid = plane_coordinates((2 / box_warp) * points).reshape(n * 3, 1, -1, 2)
    out = F.grid_sample(planes.reshape(n * 3, ch, h, w), grid.float(), mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out.permute(0, 3, 2, 1).reshape(n, 3, -1, ch)


def stratified_depths(n: int, m: int, start: float, end: float, count: int, device=None) -> torch.Tensor:
    """[N,M,D,1] depths: D evenly spaced from start to end, each moved forward by up to one spacing at random."""
    depths = torch.linspace(start, end, count, device=device).reshape(1, 1, count, 1).repeat(n, m, 1, 1)
    return depths + torch.rand_like(depths) * ((end - start) / (count - 1))


def march(colors: torch.Tensor, densities: torch.Tensor, depths: torch.Tensor, white_back: bool = False):
    """Mid-point quadrature along dim 2: colour [N,M,C] (mapped to -1..1), depth [N,M,1] (clamped to the sampled
    range), weights [N,M,S-1,1]. Densities enter as softplus(sigma - 1)."""
    deltas = depths[:, :, 1:] - depths[:, :, :-1]
    mid = lambda t: (t[:, :, :-1] + t[:, :, 1:]) / 2  # noqa: E731
    colors_mid, densities_mid, depths_mid = mid(colors), mid(densities), mid(depths)
    alpha = 1 - torch.exp(-F.softplus(densities_mid - 1) * deltas)
    transmitted = torch.cat([torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10], -2)
    weights = alpha * torch.cumprod(transmitted, -2)[:, :, :-1]
    rgb = torch.sum(weights * colors_mid, -2)
    total = weights.sum(2)
    depth = torch.sum(weights * depths_mid, -2) / total
    depth = torch.clamp(torch.nan_to_num(depth, float("inf")), torch.min(depths), torch.max(depths))
    if white_back:
        rgb = rgb + 1 - total
    return rgb * 2 - 1, depth, weights


def _sample_pdf(bins: torch.Tensor, weights: torch.Tensor, count: int, eps: float = 1e-5) -> torch.Tensor:
    """`count` samples per row from the piecewise-constant density `weights` over `bins` (inverse CDF)."""
    rows, n_w = weights.shape
    pdf = (weights + eps) / (weights + eps).sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)
    u = torch.rand(rows, count, device=bins.device).contiguous()
    idx = torch.searchsorted(cdf, u, right=True)
    pair = torch.stack([torch.clamp_min(idx - 1, 0), torch.clamp_max(idx, n_w)], -1).view(rows, 2 * count)
    cdf_g = torch.gather(cdf, 1, pair).view(rows, count, 2)
    bins_g = torch.gather(bins, 1, pair).view(rows, count, 2)
    denom = cdf_g[..., 1] - cdf_g[..., 0]
    denom[denom < eps] = 1
    return bins_g[..., 0] + (u - cdf_g[..., 0]) / denom * (bins_g[..., 1] - bins_g[..., 0])


def importance_depths(depths: torch.Tensor, weights: torch.Tensor, count: int) -> torch.Tensor:
    """[N,M,count,1] depths drawn where the coarse pass put its weight (max- then mean-smoothed, + 0.01)."""
    n, m, d, _ = depths.shape
    with torch.no_grad():
        z = depths.reshape(n * m, d)
        w = F.max_pool1d(weights.reshape(n * m, -1).unsqueeze(1).float(), 2, 1, padding=1)
        w = F.avg_pool1d(w, 2, 1).squeeze(1) + 0.01
        mids = 0.5 * (z[:, :-1] + z[:, 1:])
        return _sample_pdf(mids, w[:, 1:-1], count).detach().reshape(n, m, count, 1)


def render_triplane(planes, decoder, origins, directions, ray_start: float, ray_end: float, samples: int,
                    importance: int, box_warp: float = 1.0, white_back: bool = False):
    """Features [N,M,C] (colour channels first, -1..1), depth [N,M,1] and accumulated weight [N,M,1] of rays
    through triplanes [N,3,C,H,W]; decoder(features [N,3,P,C], directions [N,P,3]) -> {'sigma', 'rgb'}."""
    n, m, _ = origins.shape

    def run(depths):
        k = depths.shape[2]
        pts = (origins.unsqueeze(-2) + depths * directions.unsqueeze(-2)).reshape(n, -1, 3)
        dirs = directions.unsqueeze(-2).expand(-1, -1, k, -1).reshape(n, -1, 3)
        out = decoder(sample_triplane(planes, pts, box_warp), dirs)
        return out["rgb"].reshape(n, m, k, -1), out["sigma"].reshape(n, m, k, 1)
    depths = stratified_depths(n, m, ray_start, ray_end, samples, origins.device)
    colors, densities = run(depths)
    if importance > 0:
        _, _, weights = march(colors, densities, depths, white_back)
        fine = importance_depths(depths, weights, importance)
        colors_f, densities_f = run(fine)
        depths, order = torch.sort(torch.cat([depths, fine], -2), dim=-2)
        colors = torch.gather(torch.cat([colors, colors_f], -2), -2, order.expand(-1, -1, -1, colors.shape[-1]))
        densities = torch.gather(torch.cat([densities, densities_f], -2), -2, order)
    rgb, depth, weights = march(colors, densities, depths, white_back)
    return rgb, depth, weights.sum(2)
