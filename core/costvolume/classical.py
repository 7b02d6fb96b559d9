"""The classical builder (no learned parts): silhouette carving (the visual hull of the masks) refined by
colour-variance photo-consistency, as a signed distance on the grid."""
from __future__ import annotations

import torch

from ..cameras import Cameras
from .views import VIEW_SIZE, VOLUME_BOUND, grid_centers, sample_views
from .volume import CostVolume


def _signed_distance(inside: torch.Tensor, voxel: float) -> torch.Tensor:
    """A signed distance grid (negative inside) from an occupancy grid, by Euclidean distance transforms."""
    from scipy.ndimage import distance_transform_edt
    occ = inside.cpu().numpy()
    if not occ.any():
        return torch.full(inside.shape, voxel * inside.shape[0], dtype=torch.float32)
    out = distance_transform_edt(~occ) - distance_transform_edt(occ)
    return torch.from_numpy(out).float() * voxel


def classical_volume(views: torch.Tensor, cameras: Cameras, resolution: int, rounds: int = 3,
                     colour_threshold: float = 0.02) -> CostVolume:
    """Silhouette carving then colour-variance photo-consistency, as a signed distance volume (channel 0)."""
    pts = grid_centers(resolution, device=views.device).reshape(-1, 3)
    cams = cameras.to(views.device)
    rgbm, valid = sample_views(views, cams, pts)  # [N,P,4]
    seen = valid.sum(0) >= 2
    # a voxel is in the hull when every view that sees it covers it with its mask
    inside = seen & ((rgbm[..., 3] >= 0.5) | ~valid).all(0)
    voxel = 2 * VOLUME_BOUND / resolution
    uv, depth = cams.project(pts, VIEW_SIZE)
    uv = uv.round().long().clamp(0, VIEW_SIZE - 1)
    pix = uv[..., 1] * VIEW_SIZE + uv[..., 0]  # [N,P]
    for _ in range(rounds):
        # visibility from the current occupancy: a per-view z-buffer of the occupied voxels
        zbuf = torch.full((len(cams), VIEW_SIZE * VIEW_SIZE), float("inf"), device=views.device)
        d_occ = torch.where(inside[None] & valid, depth, torch.full_like(depth, float("inf")))
        zbuf.scatter_reduce_(1, pix, d_occ, reduce="amin")
        visible = valid & inside[None] & (depth <= zbuf.gather(1, pix) + 1.5 * voxel)
        w = visible.float()[..., None]
        n = w.sum(0)
        mean = (rgbm[..., :3] * w).sum(0) / n.clamp_min(1)
        var = (((rgbm[..., :3] - mean) ** 2) * w).sum(0).sum(-1) / n[:, 0].clamp_min(1)
        carve = inside & (n[:, 0] >= 2) & (var > colour_threshold)
        if not carve.any():
            break
        inside = inside & ~carve
    sdf = _signed_distance(inside.reshape(resolution, resolution, resolution), voxel)
    return CostVolume(sdf[None].to(views.device), seen.reshape(resolution, resolution, resolution),
                      VOLUME_BOUND, "classical")
