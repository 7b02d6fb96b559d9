"""The learned builder (GeoDream's): a 2D feature net on RGB + mask, the mean / variance aggregation, a dense 3D CNN
regressing the volume V, and the geometry decoder s(x) = f_g(E(x), V(x)); weights from scripts/train_cost_volume.py,
shipped in weights/."""
from __future__ import annotations

import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..cameras import Cameras
from .views import VOLUME_BOUND, aggregate, grid_centers, sample_views
from .volume import CostVolume


class FrequencyEmbedding(nn.Module):
    """E(x): x and sin/cos of x at octave frequencies (the decoder's positional input)."""

    def __init__(self, octaves: int = 4):
        super().__init__()
        self.register_buffer("freqs", (2.0 ** torch.arange(octaves)) * math.pi, persistent=False)
        self.out_dim = 3 + 6 * octaves

    def forward(self, x):
        a = x[..., None] * self.freqs.to(x)
        return torch.cat([x, a.sin().flatten(-2), a.cos().flatten(-2)], -1)


class GeometryDecoder(nn.Module):
    """f_g(E(x), V(x)) -> SDF; frozen when a field refines V."""

    def __init__(self, channels: int, hidden: int = 64, octaves: int = 4):
        super().__init__()
        self.embed = FrequencyEmbedding(octaves)
        self.net = nn.Sequential(nn.Linear(self.embed.out_dim + channels, hidden), nn.Softplus(beta=100),
                                 nn.Linear(hidden, hidden), nn.Softplus(beta=100), nn.Linear(hidden, 1))

    def forward(self, points, feats):
        return self.net(torch.cat([self.embed(points / VOLUME_BOUND), feats], -1))[:, 0]


def _conv3(cin, cout, stride=1):
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride, 1), nn.GroupNorm(4, cout), nn.ReLU())


class CostVolumeNet(nn.Module):
    """The learned builder: feature net -> mean/variance over views -> 3D CNN -> V; and the decoder f_g."""

    def __init__(self, features: int = 16, channels: int = 8, width: int = 16, hidden: int = 64):
        super().__init__()
        self.config = dict(features=features, channels=channels, width=width, hidden=hidden)
        self.feature_net = nn.Sequential(
            nn.Conv2d(4, features, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(features, features, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(features, features, 3, 1, 1))
        self.down = nn.Sequential(_conv3(2 * features + 1, width), _conv3(width, width))
        self.mid = nn.Sequential(_conv3(width, 2 * width, 2), _conv3(2 * width, 2 * width))
        self.up = _conv3(2 * width + width, width)
        self.out = nn.Conv3d(width, channels, 3, 1, 1)
        self.decoder = GeometryDecoder(channels, hidden)

    def build(self, views: torch.Tensor, cameras: Cameras, resolution: int, chunk: int = 65536) -> CostVolume:
        """views [N,4,S,S] from prepare_views -> CostVolume at resolution^3 (even)."""
        if resolution % 2:
            raise ValueError(f"the learned cost volume's grid size must be even, got {resolution}")
        feats = self.feature_net(views)
        pts = grid_centers(resolution, device=views.device).reshape(-1, 3)
        cams = cameras.to(views.device)
        mean, var, seen_frac = [], [], []
        for s in range(0, pts.shape[0], chunk):  # memory grows with views x chunk, not views x grid
            smp, valid = sample_views(feats, cams, pts[s:s + chunk])
            m, v, f = aggregate(smp, valid)
            mean.append(m), var.append(v), seen_frac.append(f)
        seen_frac = torch.cat(seen_frac)
        seen = (seen_frac * len(cams) >= 2 - 1e-6)
        x = torch.cat([torch.cat(mean), torch.cat(var), seen_frac[:, None]], -1) * seen[:, None]
        x = x.T.reshape(1, -1, resolution, resolution, resolution)
        d = self.down(x)
        m = self.mid(d)
        u = F.interpolate(m, scale_factor=2, mode="trilinear", align_corners=False)
        v = self.out(self.up(torch.cat([u, d], 1)))[0]
        return CostVolume(v, seen.reshape(resolution, resolution, resolution), VOLUME_BOUND, "learned",
                          self.decoder)

    # ---- files --------------------------------------------------------------------------------------------
    def save(self, path: str, metadata: dict | None = None) -> None:
        from safetensors.torch import save
        from ..files import write_replacing
        meta = {"config": json.dumps(self.config), "format": "distill3d-cost-volume-1"} | \
            {k: str(v) for k, v in (metadata or {}).items()}
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        write_replacing(path, save(tensors, metadata=meta))

    @classmethod
    def from_file(cls, path: str) -> "CostVolumeNet":
        """Weights from a safetensors file written by save(); a file of another architecture is refused naming
        the tensors that do not match."""
        from safetensors import safe_open
        if not os.path.isfile(path):
            raise ValueError(f"no cost-volume weights at {path}: train them with scripts/train_cost_volume.py")
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        if meta.get("format") != "distill3d-cost-volume-1" or "config" not in meta:
            raise ValueError(f"{path} is not a Distill3D cost-volume weights file (its metadata names no "
                             f"'distill3d-cost-volume-1' format and config)")
        net = cls(**json.loads(meta["config"]))
        want = net.state_dict()
        missing = sorted(set(want) - set(tensors))
        extra = sorted(set(tensors) - set(want))
        shape = sorted(k for k in set(want) & set(tensors) if want[k].shape != tensors[k].shape)
        if missing or extra or shape:
            def some(keys):
                return ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
            parts = [f"missing {some(missing)}" if missing else "", f"unexpected {some(extra)}" if extra else "",
                     "shape differs for " + some([f"{k} {tuple(tensors[k].shape)} != {tuple(want[k].shape)}"
                                                  for k in shape]) if shape else ""]
            raise ValueError(f"{path} is a cost-volume net of another architecture: "
                             + "; ".join(p for p in parts if p))
        net.load_state_dict(tensors)
        net.metadata = meta
        return net.eval()


def default_weights() -> str:
    """The weights shipped with the pack (scripts/train_cost_volume.py wrote them)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "weights", "cost_volume.safetensors")
