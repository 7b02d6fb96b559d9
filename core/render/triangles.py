"""2D triangle coverage in pixel space, shared by the rasterizer (screen space) and texture baking (uv space)."""
from __future__ import annotations

import torch


def candidate_pixels(uv_f: torch.Tensor, height: int, width: int, pad: float):
    """All (face, pixel) pairs whose pixel center lies in the face's 2D bounding box grown by `pad` pixels."""
    lo = (uv_f.min(1).values - 0.5 - pad).ceil().long()
    hi = (uv_f.max(1).values - 0.5 + pad).floor().long()
    lo[:, 0].clamp_(0, width)
    lo[:, 1].clamp_(0, height)
    hi[:, 0].clamp_(-1, width - 1)
    hi[:, 1].clamp_(-1, height - 1)
    nx = (hi[:, 0] - lo[:, 0] + 1).clamp_min(0)
    ny = (hi[:, 1] - lo[:, 1] + 1).clamp_min(0)
    counts = nx * ny
    face = torch.repeat_interleave(torch.arange(uv_f.shape[0], device=uv_f.device), counts)
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(face.shape[0], device=uv_f.device) - start[face]
    px = lo[face, 0] + local % nx[face].clamp_min(1)
    py = lo[face, 1] + local // nx[face].clamp_min(1)
    return face, px, py


def edge_functions(p, a, b, c):
    """Signed areas (x2) of (b,c,p), (c,a,p), (a,b,p) and of (a,b,c): barycentrics up to normalization."""
    def cross(o, u, v):
        return (u[..., 0] - o[..., 0]) * (v[..., 1] - o[..., 1]) - (u[..., 1] - o[..., 1]) * (v[..., 0] - o[..., 0])
    return cross(b, c, p), cross(c, a, p), cross(a, b, p), cross(a, b, c)
