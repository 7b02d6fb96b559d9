"""The volumetric fields: NeRF (density) and NeuS (SDF) on one base, Field.

A field maps world points [P,3] (inside the cube [-bound, bound]^3) to a geometry value (density or SDF) and an
albedo in one pass (`query`), gives normals, its parameter groups with learning rates, and a config that rebuilds
it; it is rendered by core.render.volume.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .encodings import make_encoding
from .interface import Optimizable


class Background(nn.Module):
    """The color behind the object: a solid color, or DreamFusion's environment MLP of the ray direction."""

    def __init__(self, kind: str = "solid", color=(1.0, 1.0, 1.0), hidden: int = 32):
        super().__init__()
        if kind not in ("solid", "mlp"):
            raise ValueError(f"background must be 'solid' or 'mlp', got '{kind}'")
        self.kind = kind
        self.register_buffer("color", torch.tensor(color, dtype=torch.float32))
        if kind == "mlp":
            from .encodings import FrequencyEncoding
            self.enc = FrequencyEncoding(4)
            self.net = nn.Sequential(nn.Linear(self.enc.out_dim, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def forward(self, dirs: torch.Tensor) -> torch.Tensor:
        if self.kind == "solid":
            return self.color.to(dirs.device).expand(dirs.shape[0], 3)
        return torch.sigmoid(self.net(self.enc(dirs)))


def mlp(in_dim: int, out_dim: int, hidden: int = 64, layers: int = 2) -> nn.Sequential:
    mods, d = [], in_dim
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.Softplus(beta=100)]
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)


class Field(Optimizable):
    """Base of the volumetric fields. Subclasses set `geometry` ('density' or 'sdf') and implement `_geometry`."""

    kind = "field"
    geometry = "density"

    def __init__(self, encoding: str = "densegrid", encoding_config: dict | None = None, bound: float = 0.6,
                 hidden: int = 64, layers: int = 2, background: str = "solid", background_color=(1.0, 1.0, 1.0),
                 backend: str = "auto", device="cpu"):
        super().__init__()
        self.config = dict(encoding=encoding, encoding_config=dict(encoding_config or {}), bound=bound,
                           hidden=hidden, layers=layers, background=background,
                           background_color=tuple(background_color), backend=backend)
        self.bound = bound
        self.encoding = make_encoding(encoding, backend=backend, device=device, **(encoding_config or {}))
        self.net = mlp(self.encoding.out_dim + 3, 4, hidden, layers)
        self.background = Background(background, background_color)

    # ---- evaluation -------------------------------------------------------------------------------------------
    def features(self, points: torch.Tensor) -> torch.Tensor:
        x = points / self.bound
        return self.net(torch.cat([self.encoding(x), x], -1))

    def query(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Geometry value [P] (density >= 0 or SDF) and albedo [P,3] in 0..1."""
        h = self.features(points)
        return self._geometry(points, h[:, 0]), torch.sigmoid(h[:, 1:4])

    def geometry_value(self, points: torch.Tensor) -> torch.Tensor:
        return self.query(points)[0]

    def _geometry(self, points, raw):  # pragma: no cover - abstract
        raise NotImplementedError

    def gradient(self, points: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
        """d geometry / d x by central differences (works with every encoding; cheaper than double backward)."""
        offs = torch.eye(3, device=points.device) * eps
        p = torch.cat([points + offs[0], points + offs[1], points + offs[2],
                       points - offs[0], points - offs[1], points - offs[2]])
        v = self.geometry_value(p).reshape(6, -1)
        return ((v[:3] - v[3:]) / (2 * eps)).T

    def normals(self, points: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
        """Unit outward normals: the SDF gradient, or minus the density gradient."""
        g = self.gradient(points, eps)
        return F.normalize(g if self.geometry == "sdf" else -g, dim=-1)

    # ---- rendering --------------------------------------------------------------------------------------------
    supports_rays = True

    def render_rays(self, origins, dirs, **kw):
        from ..render.volume import render_rays
        return render_rays(self, origins, dirs, **kw)

    def render_views(self, cameras, height, width=None, **kw):
        from ..render.volume import render_views
        return render_views(self, cameras, height, width, **kw)

    # ---- optimization -------------------------------------------------------------------------------------------
    def param_groups(self, lr: float) -> list[dict]:
        """Adam groups: grids learn fast, networks slower (Instant-NGP / threestudio practice)."""
        return [{"params": list(self.encoding.parameters()), "lr": lr, "name": "encoding"},
                {"params": list(self.net.parameters()), "lr": lr * 0.1, "name": "network"},
                {"params": list(self.background.parameters()), "lr": lr * 0.1, "name": "background"}]

    def clone(self) -> "Field":
        """An independent copy with plain (not inference-mode) tensors, ready to be optimized."""
        with torch.inference_mode(False):
            new = copy.deepcopy(self) if not any(p.is_inference() for p in self.parameters()) else self._rebuild()
        return new

    def _rebuild(self) -> "Field":
        dev = next(self.parameters()).device
        new = type(self)(**self.config, device=dev).to(dev)
        with torch.no_grad():
            for (_, p_new), (_, p_old) in zip(new.state_dict().items(), self.state_dict().items()):
                p_new.copy_(p_old)
        return new


class NeRFField(Field):
    """DreamFusion's NeRF: density with a Gaussian-like blob at the center at initialization, and albedo."""

    kind = "nerf"
    geometry = "density"

    def __init__(self, blob_density: float = 10.0, blob_radius: float = 0.5, **kw):
        super().__init__(**kw)
        self.config.update(blob_density=blob_density, blob_radius=blob_radius)
        self.blob_density, self.blob_radius = blob_density, blob_radius

    def _geometry(self, points, raw):
        blob = self.blob_density * (1 - points.norm(dim=-1) / self.blob_radius)
        return F.softplus(raw + blob)


class NeuSField(Field):
    """NeuS: an SDF that starts as a sphere, rendered through the logistic CDF with a learned sharpness.

    The sharpness s is capped while a run warms up (`sharpness_warmup`, a fraction of the run: the cap grows
    geometrically from `sharpness_start` to `sharpness_end`). Once s is large the renderer's alpha saturates and
    only samples within ~1/s of the surface pass gradients, so a part that must vanish (the sphere's inside where a
    torus has its hole) is no longer pushed from within: measured on the torus fitted to 24 true views, seeds 1
    and 2 closed the hole into a plug (IoU 0.725 / 0.714) without the cap, opened it (IoU 0.96) with it.
    """

    kind = "neus"
    geometry = "sdf"

    def __init__(self, init_radius: float = 0.3, init_variance: float = 0.3, sharpness_warmup: float = 0.5,
                 sharpness_start: float = 20.0, sharpness_end: float = 2000.0, **kw):
        super().__init__(**kw)
        if not 0.0 <= sharpness_warmup <= 1.0:
            raise ValueError(f"sharpness_warmup is a fraction of the run, 0..1; got {sharpness_warmup}")
        self.config.update(init_radius=init_radius, init_variance=init_variance, sharpness_warmup=sharpness_warmup,
                           sharpness_start=sharpness_start, sharpness_end=sharpness_end)
        self.sharpness = (sharpness_warmup, sharpness_start, sharpness_end)
        self.init_radius = init_radius
        self.variance = nn.Parameter(torch.tensor(float(init_variance)))
        with torch.no_grad():  # start exactly at the sphere: the network's geometry output begins at zero
            self.net[-1].weight[0].mul_(0.01)
            self.net[-1].bias[0].zero_()

    def _geometry(self, points, raw):
        return raw + points.norm(dim=-1) - self.init_radius

    max_inv_s: float | None = None  # a ceiling on the sharpness, set per step by anneal()

    def anneal(self, step: int, total: int):
        warmup, start, end = self.sharpness
        x = step / max(warmup * total, 1e-9)
        self.max_inv_s = None if x >= 1 else start * (end / start) ** x

    @property
    def inv_s(self) -> torch.Tensor:
        """The logistic sharpness s (NeuS's 1/standard deviation), exp(10 * variance), clamped for stability."""
        return torch.exp(self.variance * 10.0).clamp(1.0, self.max_inv_s or 1e4)

    def param_groups(self, lr: float) -> list[dict]:
        return super().param_groups(lr) + [{"params": [self.variance], "lr": lr, "name": "variance"}]
