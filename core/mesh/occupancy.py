"""Inside/outside of a closed mesh on a regular grid, by ray parity along +Z (exact, vectorized, no extra deps)."""
from __future__ import annotations

import numpy as np
import torch

from . import Mesh


def voxelize(mesh: Mesh, resolution: int, bounds: tuple[float, float] = (-0.5, 0.5)) -> torch.Tensor:
    """Occupancy [R,R,R] (x, y, z index order) of the cell centers of a resolution^3 grid over `bounds`.

    A cell center is inside when a ray from it towards -Z crosses the surface an odd number of times. The mesh
    should be closed; the parity rule is then exact up to the grid's sampling.
    """
    lo, hi = bounds
    step = (hi - lo) / resolution
    centers = lo + step * (np.arange(resolution) + 0.5)
    # A tiny irrational shift of the ray columns keeps them off shared edges and vertices of the mesh.
    jitter = step * np.array([1.234567e-4, 2.345678e-4])
    v = mesh.vertices.numpy().astype(np.float64)
    tri = v[mesh.faces.numpy()]  # [F,3,3]
    xy = tri[..., :2] - (lo + jitter)  # column space: column i center at (i + 0.5) * step
    i0 = np.clip(np.ceil(xy[..., 0].min(1) / step - 0.5), 0, resolution).astype(np.int64)
    i1 = np.clip(np.floor(xy[..., 0].max(1) / step - 0.5), -1, resolution - 1).astype(np.int64)
    j0 = np.clip(np.ceil(xy[..., 1].min(1) / step - 0.5), 0, resolution).astype(np.int64)
    j1 = np.clip(np.floor(xy[..., 1].max(1) / step - 0.5), -1, resolution - 1).astype(np.int64)
    ni = np.maximum(i1 - i0 + 1, 0)
    nj = np.maximum(j1 - j0 + 1, 0)
    counts = ni * nj
    crossings = np.zeros((resolution, resolution, resolution + 1), dtype=np.int32)
    total = int(counts.sum())
    if total == 0:
        return torch.zeros(resolution, resolution, resolution, dtype=torch.bool)
    # Expand every (triangle, candidate column) pair, in bounded batches of triangles.
    order = np.arange(len(tri))
    batch_limit = 4_000_000
    start = 0
    cum = np.cumsum(counts)
    while start < len(order):
        base = cum[start - 1] if start > 0 else 0
        stop = int(np.searchsorted(cum, base + batch_limit, side="right"))
        stop = max(stop, start + 1)
        sel = order[start:stop]
        c = counts[sel]
        tri_idx = np.repeat(sel, c)
        local = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
        ci = i0[tri_idx] + local // np.maximum(nj[tri_idx], 1)
        cj = j0[tri_idx] + local % np.maximum(nj[tri_idx], 1)
        px = (ci + 0.5) * step
        py = (cj + 0.5) * step
        a, b, cc = xy[tri_idx, 0], xy[tri_idx, 1], xy[tri_idx, 2]
        # barycentric coordinates of the column in the projected triangle
        det = (b[:, 0] - a[:, 0]) * (cc[:, 1] - a[:, 1]) - (cc[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
        ok = np.abs(det) > 1e-18
        with np.errstate(divide="ignore", invalid="ignore"):
            w1 = ((px - a[:, 0]) * (cc[:, 1] - a[:, 1]) - (cc[:, 0] - a[:, 0]) * (py - a[:, 1])) / det
            w2 = ((b[:, 0] - a[:, 0]) * (py - a[:, 1]) - (px - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
            w0 = 1 - w1 - w2
        inside = ok & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        z = tri[tri_idx, 0, 2] * w0 + tri[tri_idx, 1, 2] * w1 + tri[tri_idx, 2, 2] * w2
        ci, cj, z = ci[inside], cj[inside], z[inside]
        # the crossing counts for every cell center above it: first cell index k with center > z
        k = np.clip(np.ceil((z - lo) / step - 0.5), 0, resolution).astype(np.int64)
        np.add.at(crossings, (ci, cj, k), 1)
        start = stop
    parity = np.cumsum(crossings, axis=2)[:, :, :resolution] % 2
    return torch.from_numpy(parity.astype(bool))
