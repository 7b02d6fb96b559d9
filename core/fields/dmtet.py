"""DMTet: a surface as SDF values and vertex offsets on a tetrahedral grid, extracted by marching tetrahedra and
rendered by rasterization; its albedo comes from a volumetric field's color branch (kept trainable as the texture).
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from ..render import RenderRecord
from .interface import Optimizable
from .tets import marching_tets, tet_grid


class DMTetField(Optimizable):
    kind = "dmtet"
    geometry = "mesh"
    supports_rays = False

    def __init__(self, texture_field, resolution: int = 64, bound: float | None = None,
                 deform_scale: float = 0.5):
        super().__init__()
        self.bound = texture_field.bound if bound is None else bound
        self.resolution = resolution
        verts, tets = tet_grid(resolution, self.bound)
        self.register_buffer("grid_verts", verts)
        self.register_buffer("tets", tets)
        self.sdf = nn.Parameter(torch.zeros(verts.shape[0]))
        self.deform = nn.Parameter(torch.zeros(verts.shape[0], 3))
        self.deform_scale = deform_scale
        self.texture = texture_field  # its geometry branch is unused; its albedo is the texture
        self.background = texture_field.background

    @classmethod
    def from_field(cls, field, resolution: int = 64, level: float | None = None) -> "DMTetField":
        """Initialize from a NeuS (SDF at the grid vertices) or a NeRF (level minus density) field."""
        with torch.inference_mode(False):
            tex = field.clone()
            dev = next(tex.parameters()).device
            new = cls(tex, resolution).to(dev)
            with torch.no_grad():
                vals = torch.cat([tex.geometry_value(p) for p in new.grid_verts.split(65536)])
                if field.geometry == "sdf":
                    sdf = vals
                else:
                    from ..mesh.extract import NERF_SURFACE_DENSITY
                    sdf = ((NERF_SURFACE_DENSITY if level is None else level) - vals) / 100.0
                if not ((sdf < 0).any() and (sdf > 0).any()):
                    raise ValueError(f"the {field.kind} field has no surface inside its cube; optimize it first")
                new.sdf.copy_(sdf)
        return new

    @property
    def cell(self) -> float:
        return 2 * self.bound / self.resolution

    def surface(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The current mesh: vertices (differentiable in sdf and deform) and faces."""
        verts = self.grid_verts + torch.tanh(self.deform) * self.cell * self.deform_scale
        return marching_tets(verts, self.tets, self.sdf)

    def query(self, points):
        return self.texture.query(points)

    def param_groups(self, lr: float) -> list[dict]:
        tex = self.texture.param_groups(lr)
        return [{"params": [self.sdf], "lr": lr * 0.1, "name": "sdf"},
                {"params": [self.deform], "lr": lr * 0.1, "name": "deform"}] + \
            [dict(g, name="texture/" + g["name"]) for g in tex]

    def clone(self) -> "DMTetField":
        with torch.inference_mode(False):
            if not any(p.is_inference() for p in self.parameters()):
                return copy.deepcopy(self)
            new = DMTetField(self.texture.clone(), self.resolution, self.bound, self.deform_scale)
            dev = self.sdf.device
            new = new.to(dev)
            with torch.no_grad():
                new.sdf.copy_(self.sdf)
                new.deform.copy_(self.deform)
            return new

    def render_views(self, cameras, height, width=None, shading="albedo", want_normals=False, light_dirs=None,
                     ambient: float = 0.35, background=None, **_) -> RenderRecord:
        """Rasterize the surface; `background` as the volume renderer's (None: the texture field's own)."""
        from ..render.raster import render_surface

        verts, faces = self.surface()
        if faces.shape[0] == 0:
            raise ValueError("the DMTet surface is empty (every grid vertex is on one side)")
        return render_surface(verts, faces, lambda p: self.texture.query(p)[1], cameras, height, width,
                              shading=shading, light_dirs=light_dirs, ambient=ambient, background=background,
                              environment=self.background)

    def render_rays(self, *a, **k):
        raise NotImplementedError("a DMTet field renders whole views (rasterization), not ray batches")
