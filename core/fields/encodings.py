"""Input encodings for neural fields. Every encoding maps points in [-1, 1]^3 to features [P, out_dim].

- FrequencyEncoding: sin/cos at octave frequencies (NeRF's positional encoding).
- HashGridEncoding: Instant-NGP's multiresolution hash grid, pure torch; `tcnn` backend where tiny-cuda-nn imports.
- DenseGridEncoding: multiresolution dense feature grids (trilinear via grid_sample): fast on a CPU.
- TriplaneEncoding: EG3D's three axis-aligned feature planes.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..accel import cuda_extension_available

# Instant-NGP's spatial hash primes (the first is 1 so that the hash of the x axis stays coherent).
HASH_PRIMES = (1, 2654435761, 805459861)


class FrequencyEncoding(nn.Module):
    def __init__(self, n_frequencies: int = 6, include_input: bool = True):
        super().__init__()
        self.n_frequencies = n_frequencies
        self.include_input = include_input
        self.register_buffer("freqs", (2.0 ** torch.arange(n_frequencies)) * math.pi, persistent=False)
        self.out_dim = 3 * 2 * n_frequencies + (3 if include_input else 0)

    def forward(self, x):
        xf = x[..., None] * self.freqs  # [P,3,F]
        enc = torch.cat([xf.sin(), xf.cos()], -1).flatten(-2)
        return torch.cat([x, enc], -1) if self.include_input else enc


def hash_grid_resolutions(n_levels: int, base_resolution: int, max_resolution: int) -> list[int]:
    scale = math.exp((math.log(max_resolution) - math.log(base_resolution)) / max(n_levels - 1, 1))
    return [int(math.floor(base_resolution * scale ** level)) for level in range(n_levels)]


class HashGridEncoding(nn.Module):
    """Multiresolution hash encoding (Müller et al. 2022), trilinear, in pure torch.

    Level l has resolution N_l between base_resolution and max_resolution (geometric). A point x in [-1,1]^3 maps to
    u = (x+1)/2 * N_l; its 8 surrounding lattice vertices index a table of 2^log2_hashmap_size entries, directly
    when the level's (N_l+1)^3 vertices fit, else by the spatial hash XOR(v_i * prime_i) mod table size.
    """

    def __init__(self, n_levels: int = 16, features_per_level: int = 2, log2_hashmap_size: int = 19,
                 base_resolution: int = 16, max_resolution: int = 2048, init_scale: float = 1e-4):
        super().__init__()
        self.n_levels, self.features = n_levels, features_per_level
        self.table_size = 2 ** log2_hashmap_size
        self.config = dict(n_levels=n_levels, features_per_level=features_per_level,
                           log2_hashmap_size=log2_hashmap_size, base_resolution=base_resolution,
                           max_resolution=max_resolution)
        res = hash_grid_resolutions(n_levels, base_resolution, max_resolution)
        self.register_buffer("resolutions", torch.tensor(res, dtype=torch.float32), persistent=False)
        sizes = [min((r + 1) ** 3, self.table_size) for r in res]
        self.register_buffer("level_sizes", torch.tensor(sizes, dtype=torch.int64), persistent=False)
        self.register_buffer("dense", torch.tensor([(r + 1) ** 3 <= self.table_size for r in res]),
                             persistent=False)
        self.register_buffer("offsets", torch.tensor([0, *torch.tensor(sizes).cumsum(0).tolist()[:-1]]),
                             persistent=False)
        self.embeddings = nn.Parameter(torch.empty(sum(sizes), features_per_level).uniform_(-init_scale, init_scale))
        corners = torch.tensor([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=torch.int64)
        self.register_buffer("corners", corners, persistent=False)
        self.out_dim = n_levels * features_per_level

    def corner_indices(self, vertex: torch.Tensor) -> torch.Tensor:
        """Table rows [P,L,8] of integer lattice vertices [P,L,8,3]."""
        res1 = (self.resolutions.long() + 1)[None, :, None]
        dense_idx = vertex[..., 0] + vertex[..., 1] * res1 + vertex[..., 2] * res1 * res1
        h = vertex[..., 0] * HASH_PRIMES[0]
        h = torch.bitwise_xor(h, vertex[..., 1] * HASH_PRIMES[1])
        h = torch.bitwise_xor(h, vertex[..., 2] * HASH_PRIMES[2])
        idx = torch.where(self.dense[None, :, None], dense_idx, h)
        return torch.remainder(idx, self.level_sizes[None, :, None]) + self.offsets[None, :, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = ((x.clamp(-1, 1) + 1) * 0.5)[:, None, :] * self.resolutions[None, :, None]  # [P,L,3]
        base = u.floor().clamp_max(self.resolutions[None, :, None] - 1)
        frac = u - base
        vertex = base.long()[:, :, None, :] + self.corners[None, None]  # [P,L,8,3]
        w = torch.where(self.corners[None, None].bool(), frac[:, :, None, :], 1 - frac[:, :, None, :]).prod(-1)
        feats = self.embeddings[self.corner_indices(vertex)]  # [P,L,8,F]
        return (feats * w[..., None]).sum(2).reshape(x.shape[0], -1)


class TcnnHashGridEncoding(nn.Module):
    """The same hash grid through tiny-cuda-nn (CUDA only). Its parameters are tcnn's own layout."""

    def __init__(self, n_levels=16, features_per_level=2, log2_hashmap_size=19, base_resolution=16,
                 max_resolution=2048):
        super().__init__()
        import tinycudann as tcnn

        scale = math.exp((math.log(max_resolution) - math.log(base_resolution)) / max(n_levels - 1, 1))
        self.enc = tcnn.Encoding(3, {"otype": "HashGrid", "n_levels": n_levels,
                                     "n_features_per_level": features_per_level,
                                     "log2_hashmap_size": log2_hashmap_size,
                                     "base_resolution": base_resolution, "per_level_scale": scale})
        self.out_dim = n_levels * features_per_level

    def forward(self, x):
        return self.enc(((x.clamp(-1, 1) + 1) * 0.5).contiguous()).float()


def tcnn_available(device) -> bool:
    return cuda_extension_available(device, "tinycudann")


def make_hash_grid(backend: str = "auto", device="cpu", **config) -> nn.Module:
    """A hash grid on the chosen backend: 'torch', 'tcnn', or 'auto' (tcnn where it imports on CUDA)."""
    if backend not in ("auto", "torch", "tcnn"):
        raise ValueError(f"hash grid backend must be 'auto', 'torch' or 'tcnn', got '{backend}'")
    if backend == "tcnn" and not tcnn_available(device):
        raise RuntimeError("backend 'tcnn' needs tiny-cuda-nn installed and a CUDA device; use 'auto' or 'torch'")
    if backend == "tcnn" or (backend == "auto" and tcnn_available(device)):
        return TcnnHashGridEncoding(**config)
    return HashGridEncoding(**config)


class DenseGridEncoding(nn.Module):
    """Multiresolution dense feature grids, trilinearly interpolated and concatenated."""

    def __init__(self, resolutions=(16, 32, 64), features: int = 4, init_scale: float = 1e-4):
        super().__init__()
        self.resolutions = tuple(resolutions)
        self.grids = nn.ParameterList(
            [nn.Parameter(torch.empty(1, features, r, r, r).uniform_(-init_scale, init_scale)) for r in resolutions])
        self.out_dim = features * len(resolutions)

    def forward(self, x):
        g = x.clamp(-1, 1)[None, :, None, None, :]  # grid_sample wants (x, y, z) -> (W, H, D)
        outs = [F.grid_sample(grid, g, mode="bilinear", align_corners=True).reshape(grid.shape[1], -1).T
                for grid in self.grids]
        return torch.cat(outs, -1)


class TriplaneEncoding(nn.Module):
    """Features on the XY, XZ and YZ planes; a point's feature is their sum (or concatenation)."""

    def __init__(self, resolution: int = 128, features: int = 16, reduce: str = "sum", init_scale: float = 0.1):
        super().__init__()
        if reduce not in ("sum", "concat"):
            raise ValueError(f"triplane reduce must be 'sum' or 'concat', got '{reduce}'")
        self.planes = nn.Parameter(torch.randn(3, features, resolution, resolution) * init_scale)
        self.reduce = reduce
        self.out_dim = features * (3 if reduce == "concat" else 1)

    def sample_planes(self, planes: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """planes [3,F,R,R] (or a batch [B,3,F,R,R] with x [B,P,3]) -> features [P, out_dim]."""
        x = x.clamp(-1, 1)
        coords = torch.stack([x[..., [0, 1]], x[..., [0, 2]], x[..., [1, 2]]], 0)  # [3,P,2]
        feats = F.grid_sample(planes, coords[:, :, None, :], mode="bilinear", align_corners=True)  # [3,F,P,1]
        feats = feats[..., 0].permute(0, 2, 1)  # [3,P,F]
        return feats.sum(0) if self.reduce == "sum" else torch.cat(list(feats), -1)

    def forward(self, x):
        return self.sample_planes(self.planes, x)


def make_encoding(kind: str, backend: str = "auto", device="cpu", **kw) -> nn.Module:
    """Encodings by name: 'hashgrid', 'densegrid', 'triplane', 'frequency'."""
    if kind == "hashgrid":
        return make_hash_grid(backend, device, **kw)
    if kind == "densegrid":
        return DenseGridEncoding(**kw)
    if kind == "triplane":
        return TriplaneEncoding(**kw)
    if kind == "frequency":
        return FrequencyEncoding(**kw)
    raise ValueError(f"unknown encoding '{kind}'; choose hashgrid, densegrid, triplane or frequency")
