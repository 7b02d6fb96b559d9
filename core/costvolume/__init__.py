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
from .views import (BACKGROUND_BORDER_SHARE, CONSISTENT, THIN_PART_SHARE, VIEW_SIZE, VOLUME_BOUND, aggregate,
                    disagreeing_views, grid_centers, prepare_views, sample_views, silhouettes_explained, thin_part_lost)
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
        keep = [i for i in range(n) if i not in dropped]
        if dropped:
            views, cameras = views[keep], cameras[keep]
        if method == "classical":
            vol = classical_volume(views, cameras, resolution)
        else:
            net = net if net is not None else CostVolumeNet.from_file(default_weights())
            vol = net.to(device).build(views, cameras, resolution)
        vol.findings = view_set_findings(cameras) + grid_findings(views, cameras, resolution, keep)
    vol.dropped = tuple(dropped)
    return vol


#: views whose elevations span less than this (degrees) see the object from one height only
ONE_HEIGHT_SPAN = 10.0


#: what a view set that cannot carve is told to do, by default (the cost volume's views come from the sampler)
MORE_HEIGHTS = "add views above and below (Multi-View Sampler layout 'alternating', e.g. 20 / -10)"


def view_set_findings(cameras: Cameras, remedy: str = MORE_HEIGHTS) -> tuple[str, ...]:
    """What a view set cannot show, in words for the log: all views from one height (space under a table top or
    inside a cup, a hole facing up, hidden at that height, lies inside every silhouette), or all from one side of
    the horizon. `remedy`: what to do about the first, in the words of the node the views come from."""
    el = cameras.elevation.detach().float().cpu()
    lo, hi = float(el.min()), float(el.max())
    out = []
    if hi - lo < ONE_HEIGHT_SPAN:
        out.append(f"all {len(el)} views are within {hi - lo:.0f}° of elevation {(lo + hi) / 2:.0f}°: space hidden "
                   f"from that height (under a table top, inside a cup, between parts, a hole facing up) lies inside "
                   f"every silhouette and stays filled; {remedy}")
    elif lo > 0 or hi < 0:
        side = "above" if lo > 0 else "below"
        out.append(f"every view is from {side} the horizon (elevations {lo:.0f}..{hi:.0f}°): what only the other "
                   f"side shows (under a table top from above, inside a cup from below) cannot be carved")
    return tuple(out)


#: the grids a too-coarse volume is told to try instead (the Cost Volume Builder's grid_size goes to 128)
FINER_GRIDS = (48, 64, 96, 128)


def grid_findings(views: torch.Tensor, cameras: Cameras, resolution: int, numbers=None) -> tuple[str, ...]:
    """A part thinner than the grid's voxels (views.thin_part_lost over THIN_PART_SHARE of some view's mask), in
    words for the log, naming the smallest finer grid that holds it. numbers: each view's index in the user's set
    (the views a consistency check kept)."""
    lost = thin_part_lost(views, cameras, resolution)
    worst = int(lost.argmax())
    if float(lost[worst]) <= THIN_PART_SHARE:
        return ()
    finer = next((r for r in FINER_GRIDS if r > resolution
                  and float(thin_part_lost(views, cameras, r).max()) <= THIN_PART_SHARE), None)
    fix = (f"grid_size {finer} holds it" if finer else
           f"no grid up to {FINER_GRIDS[-1]}³ holds it: the part is thinner than the views resolve (give larger "
           f"views)")
    number = worst if numbers is None else numbers[worst]
    return (f"{float(lost[worst]):.0%} of view {number + 1}'s silhouette (counting from 1) is a part thinner than a "
            f"{resolution}³ grid's voxels ({2 * VOLUME_BOUND / resolution:.3f} units: a pole, a leg, a wire), missing "
            f"from the volume; {fix}",)


__all__ = ["BACKGROUND_BORDER_SHARE", "CONSISTENT", "CostVolume", "CostVolumeNet", "FrequencyEmbedding",
           "GeometryDecoder", "THIN_PART_SHARE", "VIEW_SIZE", "VOLUME_BOUND", "aggregate", "build_cost_volume",
           "classical_volume", "default_weights", "disagreeing_views", "grid_centers", "grid_findings", "prepare_views",
           "sample_views",
           "silhouettes_explained", "thin_part_lost", "view_set_findings", "volume_mesh"]
