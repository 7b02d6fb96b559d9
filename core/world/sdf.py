"""Analytic signed distance functions with colors: the parts the primitive world is built from.

Every shape is a small tree of `Shape` nodes; `shape(points)` returns (sdf [P], albedo [P,3]). Primitives are exact
SDFs; subtraction and smooth union give bounds (Lipschitz <= 1), which is all sphere tracing needs.
Primitives are placed by a translation, a rotation (XYZ Euler angles in degrees) and a uniform scale, which keeps
their distances exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


def _rotation(euler_deg) -> torch.Tensor:
    rx, ry, rz = (math.radians(a) for a in euler_deg)
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    Rx = torch.tensor([[1, 0, 0], [0, cx, -sx], [0, sx, cx]], dtype=torch.float32)
    Ry = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=torch.float32)
    Rz = torch.tensor([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]], dtype=torch.float32)
    return Rz @ Ry @ Rx


class Shape:
    """A node of an SDF tree. Subclasses implement `evaluate(points) -> (sdf, albedo)`."""

    def __call__(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.evaluate(points)

    def evaluate(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        return self.evaluate(points)[0]

    # operators, so a catalogue reads like a construction: body | handle, cup - hole
    def __or__(self, other: "Shape") -> "Shape":
        return Union([self, other])

    def __sub__(self, other: "Shape") -> "Shape":
        return Subtract(self, other)


@dataclass
class Primitive(Shape):
    """An exact SDF in its local frame, placed by `offset`, `rotation` (degrees) and uniform `scale`."""

    color: tuple[float, float, float]
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0
    _R: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self):
        self._R = _rotation(self.rotation)

    def evaluate(self, points):
        R = self._R.to(points.device)
        local = ((points - torch.tensor(self.offset, device=points.device)) @ R) / self.scale
        d = self.local_sdf(local) * self.scale
        return d, torch.tensor(self.color, device=points.device, dtype=points.dtype).expand(points.shape[0], 3)

    def local_sdf(self, p: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Sphere(Primitive):
    radius: float = 0.5

    def local_sdf(self, p):
        return p.norm(dim=-1) - self.radius


@dataclass
class Box(Primitive):
    """A box of half extents `half`, its edges rounded by `rounding` (0 = sharp), inside the half extents."""

    half: tuple[float, float, float] = (0.5, 0.5, 0.5)
    rounding: float = 0.0

    def local_sdf(self, p):
        q = p.abs() - torch.tensor(self.half, device=p.device) + self.rounding
        outside = q.clamp_min(0).norm(dim=-1)
        inside = q.max(dim=-1).values.clamp_max(0)
        return outside + inside - self.rounding


@dataclass
class Cylinder(Primitive):
    """A capped cylinder along local Y: `radius`, half height `half_height`."""

    radius: float = 0.5
    half_height: float = 0.5

    def local_sdf(self, p):
        d = torch.stack([p[:, [0, 2]].norm(dim=-1) - self.radius, p[:, 1].abs() - self.half_height], -1)
        return d.max(dim=-1).values.clamp_max(0) + d.clamp_min(0).norm(dim=-1)


@dataclass
class Cone(Primitive):
    """A capped cone along local Y: radius `bottom_radius` at y=-half_height, `top_radius` at y=+half_height."""

    bottom_radius: float = 0.5
    top_radius: float = 0.0
    half_height: float = 0.5

    def local_sdf(self, p):
        h, r1, r2 = self.half_height, self.bottom_radius, self.top_radius
        qx = p[:, [0, 2]].norm(dim=-1)
        qy = p[:, 1]
        k2x, k2y = r2 - r1, 2 * h
        cap_r = torch.where(qy < 0, torch.full_like(qx, r1), torch.full_like(qx, r2))
        ca_x = qx - torch.minimum(qx, cap_r)
        ca_y = qy.abs() - h
        t = (((r2 - qx) * k2x + (h - qy) * k2y) / (k2x * k2x + k2y * k2y)).clamp(0, 1)
        cb_x = qx - r2 + k2x * t
        cb_y = qy - h + k2y * t
        sign = torch.where((cb_x < 0) & (ca_y < 0), -1.0, 1.0)
        return sign * torch.minimum(ca_x ** 2 + ca_y ** 2, cb_x ** 2 + cb_y ** 2).sqrt()


@dataclass
class Torus(Primitive):
    """A torus around local Y: ring radius `major`, tube radius `minor`."""

    major: float = 0.35
    minor: float = 0.12

    def local_sdf(self, p):
        qx = p[:, [0, 2]].norm(dim=-1) - self.major
        return torch.stack([qx, p[:, 1]], -1).norm(dim=-1) - self.minor


@dataclass
class Capsule(Primitive):
    """A capsule: the segment from `a` to `b` (local coordinates) swept by a sphere of `radius`."""

    a: tuple[float, float, float] = (0.0, -0.3, 0.0)
    b: tuple[float, float, float] = (0.0, 0.3, 0.0)
    radius: float = 0.15

    def local_sdf(self, p):
        a = torch.tensor(self.a, device=p.device)
        ba = torch.tensor(self.b, device=p.device) - a
        pa = p - a
        h = ((pa @ ba) / (ba @ ba)).clamp(0, 1)
        return (pa - h[:, None] * ba).norm(dim=-1) - self.radius


@dataclass
class Union(Shape):
    """Hard union; the albedo is that of the nearest part."""

    parts: list

    def evaluate(self, points):
        ds, cs = zip(*(p(points) for p in self.parts))
        d = torch.stack(ds, 0)
        idx = d.argmin(0)
        c = torch.stack(cs, 0)[idx, torch.arange(points.shape[0], device=points.device)]
        return d.min(0).values, c

    def __or__(self, other):
        return Union(self.parts + [other])


@dataclass
class SmoothUnion(Shape):
    """Polynomial smooth minimum of width `k` (meters); albedos blend across the seam."""

    a: Shape
    b: Shape
    k: float = 0.05

    def evaluate(self, points):
        da, ca = self.a(points)
        db, cb = self.b(points)
        h = (0.5 + 0.5 * (db - da) / self.k).clamp(0, 1)
        d = db + (da - db) * h - self.k * h * (1 - h)
        return d, cb + (ca - cb) * h[:, None]


@dataclass
class Subtract(Shape):
    """`a` with `b` carved out; the carved faces take `cut_color` (default: a's albedo)."""

    a: Shape
    b: Shape
    cut_color: tuple[float, float, float] | None = None

    def evaluate(self, points):
        da, ca = self.a(points)
        db, _ = self.b(points)
        d = torch.maximum(da, -db)
        if self.cut_color is not None:
            cut = (-db > da)[:, None]
            ca = torch.where(cut, torch.tensor(self.cut_color, device=points.device, dtype=ca.dtype), ca)
        return d, ca


@dataclass
class Intersect(Shape):
    a: Shape
    b: Shape

    def evaluate(self, points):
        da, ca = self.a(points)
        db, _ = self.b(points)
        return torch.maximum(da, db), ca


@dataclass
class Placed(Shape):
    """`inner` scaled by `scale` about the origin, then moved by `offset`: the same object framed as a picture shows
    it (a similarity keeps the distances exact)."""

    inner: Shape
    scale: float = 1.0
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def evaluate(self, points):
        local = (points - torch.tensor(self.offset, device=points.device, dtype=points.dtype)) / self.scale
        d, c = self.inner(local)
        return d * self.scale, c
