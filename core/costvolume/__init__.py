"""GeoDream's cost volume: posed views -> a 3D geometry prior on a voxel grid, before any score distillation.

Every voxel centre is projected into every view; what the views say there (2D features, sampled bilinearly) is
aggregated by its mean and variance across the views that see it, so any number of views works and one view
that disagrees raises the variance instead of dictating the result. Voxels seen by fewer than two views are
outside the views' frusta and skipped (zero, flagged unseen).

Two builders, one output (CostVolume, whose `sdf(points)` is the geometry prior):
- learned (CostVolumeNet): a small 2D feature net on RGB + mask, the mean / variance aggregation, a dense 3D CNN
  (pure torch, no sparse convolution) regressing the volume V, and a geometry decoder s(x) = f_g(E(x), V(x)).
  Weights from scripts/train_cost_volume.py (procedural objects; the catalogue held out), shipped in weights/.
- classical (no learned parts): silhouette carving (the visual hull of the masks) refined by colour-variance
  photo-consistency (surface voxels whose colour disagrees across the views that see them are carved), as a
  signed distance on the grid.

Modules: views.py (preparing, sampling, aggregating and checking the views), learned.py, classical.py, volume.py
(CostVolume and its mesh); build_cost_volume (here) runs either builder.
"""
from __future__ import annotations

import torch

from ..cameras import Cameras
from .classical import classical_volume
from .learned import CostVolumeNet, FrequencyEmbedding, GeometryDecoder, default_weights
from .views import (BACKGROUND_BORDER_SHARE, CONSISTENT, VIEW_SIZE, VOLUME_BOUND, aggregate, disagreeing_views,
                    grid_centers, prepare_views, sample_views, silhouettes_explained)
from .volume import CostVolume, volume_mesh


def build_cost_volume(images: torch.Tensor, cameras: Cameras, masks: torch.Tensor | None = None,
                      resolution: int = 32, method: str = "learned", net: CostVolumeNet | None = None,
                      device="cpu", drop_disagreeing: bool = True) -> CostVolume:
    """The Cost Volume Builder: views (IMAGE [N,H,W,3]) + cameras (+ masks) -> CostVolume. With
    `drop_disagreeing`, views whose silhouettes the others contradict are left out (listed in `.dropped`)."""
    if method not in ("learned", "classical"):
        raise ValueError(f"cost volume method must be 'learned' or 'classical', got {method!r}")
    if resolution < 8 or resolution > 256:
        raise ValueError(f"grid size must be within 8..256, got {resolution}")
    views, cameras = prepare_views(images.to(device), cameras.to(device), None if masks is None else masks.to(device))
    n = views.shape[0]
    need = n * resolution ** 3 * 16  # the classical builder's samples: 4 channels a view and voxel, float32
    if method == "classical" and need > 8 * 2 ** 30:
        largest = int((8 * 2 ** 30 / (n * 16)) ** (1 / 3)) // 8 * 8
        raise ValueError(f"a classical volume of {resolution}³ over {n} views needs ~{need / 2 ** 30:.0f} GiB: use "
                         f"at most {largest}³")
    with torch.no_grad():
        dropped = disagreeing_views(views, cameras) if drop_disagreeing else []
        if dropped:
            keep = [i for i in range(n) if i not in dropped]
            views, cameras = views[keep], cameras[keep]
        if method == "classical":
            vol = classical_volume(views, cameras, resolution)
        else:
            net = net if net is not None else CostVolumeNet.from_file(default_weights())
            vol = net.to(device).build(views, cameras, resolution)
    vol.dropped = tuple(dropped)
    vol.findings = view_set_findings(cameras)
    return vol


#: views whose elevations span less than this (degrees) see the object from one height only
ONE_HEIGHT_SPAN = 10.0


def view_set_findings(cameras: Cameras) -> tuple[str, ...]:
    """What a view set cannot show, in words for the log: all views from one height (space under a table top or
    inside a cup, hidden at that height, lies inside every silhouette), or all from one side of the horizon."""
    el = cameras.elevation.detach().float().cpu()
    lo, hi = float(el.min()), float(el.max())
    out = []
    if hi - lo < ONE_HEIGHT_SPAN:
        out.append(f"all {len(el)} views are within {hi - lo:.0f}° of elevation {(lo + hi) / 2:.0f}°: space hidden "
                   f"from that height (under a table top, inside a cup, between parts) lies inside every silhouette "
                   f"and stays filled; add views above and below (Multi-View Sampler layout 'alternating', e.g. "
                   f"20 / -10)")
    elif lo > 0 or hi < 0:
        side = "above" if lo > 0 else "below"
        out.append(f"every view is from {side} the horizon (elevations {lo:.0f}..{hi:.0f}°): what only the other "
                   f"side shows (under a table top from above, inside a cup from below) cannot be carved")
    return tuple(out)


__all__ = ["BACKGROUND_BORDER_SHARE", "CONSISTENT", "CostVolume", "CostVolumeNet", "FrequencyEmbedding",
           "GeometryDecoder", "VIEW_SIZE", "VOLUME_BOUND", "aggregate", "build_cost_volume", "classical_volume",
           "default_weights", "disagreeing_views", "grid_centers", "prepare_views", "sample_views",
           "silhouettes_explained", "view_set_findings", "volume_mesh"]
