"""The primitive world: named analytic objects with exact renders, occupancy and meshes — the pack's ground truth.

    obj = get_object("mug")                      # or find_in_prompt("a photo of a coffee mug")
    rec = render_object(obj, orbit(8), 64)       # exact RGB / alpha / depth / normals
    mesh = true_mesh(obj)                        # marching cubes of the true SDF
"""
from __future__ import annotations

import weakref

import torch

from ..cameras import Cameras
from .catalogue import CATALOGUE, WorldObject, placed_object
from .lookup import UnknownObjectError, find_in_prompt, get_object, object_names
from .render import BOUND_RADIUS, RenderRecord, render_shape

#: the cube in which every world object lies, and over which occupancy and meshes are computed
WORLD_BOUNDS = (-0.5, 0.5)


def render_object(obj: WorldObject, cameras: Cameras, height: int, width: int | None = None, **kw) -> RenderRecord:
    """Exact renders of a world object (see core.world.render.render_shape for the options)."""
    return render_shape(obj.shape, cameras, height, width, **kw)


def sdf(obj: WorldObject, points: torch.Tensor) -> torch.Tensor:
    """The true signed distance (a bound where parts are blended or carved) at points [P,3]."""
    return obj.shape.sdf(points)


def occupancy(obj: WorldObject, points: torch.Tensor) -> torch.Tensor:
    """True inside/outside at points [P,3] (bool)."""
    return sdf(obj, points) < 0


def grid_points(resolution: int, bounds=WORLD_BOUNDS, device=None) -> torch.Tensor:
    """Cell centers of a resolution^3 grid over the cube `bounds`, as [R,R,R,3] (x, y, z index order)."""
    lo, hi = bounds
    step = (hi - lo) / resolution
    c = lo + step * (torch.arange(resolution, dtype=torch.float32, device=device) + 0.5)
    return torch.stack(torch.meshgrid(c, c, c, indexing="ij"), -1)


def true_mesh(obj: WorldObject, resolution: int = 128):
    """The object's surface: marching cubes of its SDF, with vertex colors from its albedo."""
    from ..mesh.extract import marching_cubes

    return marching_cubes(lambda p: obj.shape.sdf(p), resolution=resolution,
                          bounds=(WORLD_BOUNDS[0] - 0.05, WORLD_BOUNDS[1] + 0.05),
                          color_fn=lambda p: obj.shape(p)[1])


def true_surface_points(obj: WorldObject, n: int = 10000, seed: int = 0) -> torch.Tensor:
    """n points on the object's surface (on its 128³ true mesh, area-uniform, seeded): what surface figures
    (F-score, Chamfer) compare a result with. Cached per object: every judge of one object uses the same points."""
    cached = _SURFACE_POINTS.setdefault(obj, {})
    if (n, seed) not in cached:
        cached[n, seed] = true_mesh(obj, 128).sample_surface(n, torch.Generator().manual_seed(seed))
    return cached[n, seed]


_SURFACE_POINTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


__all__ = ["CATALOGUE", "WorldObject", "placed_object", "UnknownObjectError", "find_in_prompt", "get_object",
           "object_names", "render_object", "RenderRecord", "sdf", "occupancy", "grid_points", "true_mesh", "true_surface_points", "WORLD_BOUNDS",
           "BOUND_RADIUS"]
