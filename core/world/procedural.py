"""Procedural objects: random compositions of the world's SDF primitives, an unlimited data set with an exact SDF
(GeoDream's cost-volume net is trained on them; the 16 catalogue objects stay held out).

Each object is 1-4 parts (sphere, box, cylinder, cone, torus, capsule) with random sizes, placements, rotations and
colours, unioned (sometimes smoothly), sometimes with a part carved out, then centred and scaled into the unit cube
as the catalogue's objects are."""
from __future__ import annotations

import torch

from .catalogue import WorldObject
from .sdf import Box, Capsule, Cone, Cylinder, Placed, Shape, SmoothUnion, Sphere, Subtract, Torus, Union


def _u(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def _colour(g: torch.Generator) -> tuple[float, float, float]:
    h, s, v = _u(g, 0, 1), _u(g, 0.1, 0.9), _u(g, 0.3, 0.95)  # any hue; pale to saturated; never black
    if _u(g, 0, 1) < 0.15:  # white and off-white (the snowman's body): the colour of the sampler's background
        s, v = s * 0.1, _u(g, 0.85, 1.0)
    k = [(n + h * 6) % 6 for n in (5, 3, 1)]
    return tuple(v - v * s * max(0.0, min(x, 4 - x, 1)) for x in k)


def random_part(g: torch.Generator, size: float = 1.0):
    """One primitive at a random place, rotation and colour; `size` scales its extent."""
    kind = int(torch.randint(6, (1,), generator=g))
    place = dict(color=_colour(g), offset=tuple(_u(g, -0.2, 0.2) * size for _ in range(3)),
                 rotation=tuple(_u(g, -90, 90) for _ in range(3)))
    r = lambda lo, hi: _u(g, lo, hi) * size  # noqa: E731
    if kind == 0:
        return Sphere(radius=r(0.12, 0.35), **place)
    if kind == 1:
        return Box(half=(r(0.06, 0.3), r(0.06, 0.3), r(0.06, 0.3)), rounding=r(0.0, 0.03), **place)
    if kind == 2:
        return Cylinder(radius=r(0.05, 0.28), half_height=r(0.08, 0.35), **place)
    if kind == 3:
        return Cone(bottom_radius=r(0.1, 0.3), top_radius=r(0.0, 0.12), half_height=r(0.1, 0.3), **place)
    if kind == 4:
        major = r(0.12, 0.3)
        return Torus(major=major, minor=min(r(0.03, 0.1), 0.6 * major), **place)
    return Capsule(a=(0.0, -r(0.05, 0.25), 0.0), b=(0.0, r(0.05, 0.25), 0.0), radius=r(0.04, 0.15), **place)


def random_shape(g: torch.Generator, fill: float = 0.9) -> Shape:
    """A random composition, centred and scaled so its bounding box fills `fill` of the unit cube."""
    n = int(torch.randint(1, 5, (1,), generator=g))
    parts = [random_part(g) for _ in range(n)]
    if n > 1 and _u(g, 0, 1) < 0.3:  # blended seams
        shape: Shape = parts[0]
        for p in parts[1:]:
            shape = SmoothUnion(shape, p, _u(g, 0.02, 0.08))
    else:
        shape = parts[0] if n == 1 else Union(parts)
    if _u(g, 0, 1) < 0.2:  # a part carved out: holes and cavities
        shape = Subtract(shape, random_part(g, 0.6))
    # its extent, from the SDF on a grid
    c = torch.linspace(-0.8, 0.8, 40)
    pts = torch.stack(torch.meshgrid(c, c, c, indexing="ij"), -1).reshape(-1, 3)
    inside = pts[shape.sdf(pts) < 0]
    if inside.shape[0] < 8:  # carved away to nothing: draw again
        return random_shape(g, fill)
    lo, hi = inside.min(0).values, inside.max(0).values
    scale = fill / max(float((hi - lo).max()), 1e-3)
    return Placed(shape, scale, tuple(float(x) for x in -(lo + hi) / 2 * scale))


def random_object(seed: int) -> WorldObject:
    """A procedural world object; the same seed gives the same object."""
    g = torch.Generator().manual_seed(seed)
    shape = random_shape(g, fill=_u(g, 0.6, 0.95))
    return WorldObject(f"procedural-{seed}", [], "a random composition of primitives", lambda: shape)


def random_view_set(g: torch.Generator, n_min: int = 3, n_max: int = 8, elevations=(-10.0, 50.0),
                    distance: float = 1.8, fov: float = 40.0):
    """3-8 cameras around the object: azimuths spread with jitter (a random start), random elevations."""
    from ..cameras import Cameras
    n = int(torch.randint(n_min, n_max + 1, (1,), generator=g))
    start = _u(g, 0, 360)
    az = [(start + 360.0 * i / n + _u(g, -0.25, 0.25) * 360.0 / n) % 360 for i in range(n)]
    el = [_u(g, *elevations) for _ in range(n)]
    return Cameras.from_spherical(el, az, distance, fov)


__all__ = ["random_object", "random_shape", "random_part", "random_view_set"]
