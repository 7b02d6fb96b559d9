"""The texture stage's field: frozen geometry, a free texture (DreamCraft3D's texture boosting, after any pipeline).

The surface is a fixed triangle mesh (a DMTet's, a field's extracted surface, or any mesh); the texture is the
colour branch of a volumetric field (dense or hash grid + small MLP) queried at the surface points that the
rasterizer finds, so textures can be optimized at a higher resolution than the geometry stage rendered, without
a UV atlas (Bake Texture unwraps and bakes it for export). Only the texture and the background learn.
"""
from __future__ import annotations

import copy

import torch

from ..mesh import Mesh
from .interface import Optimizable

TEXTURES = ("source", "densegrid", "hashgrid")
#: a fresh texture's grids: finer than a geometry-stage field's (16, 32, 64), as the texture stage renders larger
FRESH_TEXTURE = {"densegrid": {"resolutions": (32, 64, 128), "features": 4},
                 "hashgrid": {"n_levels": 12, "base_resolution": 16, "max_resolution": 512, "log2_hashmap_size": 17}}


class TexturedMeshField(Optimizable):
    kind = "textured_mesh"
    geometry = "mesh"
    supports_rays = False

    def __init__(self, vertices: torch.Tensor, faces: torch.Tensor, texture_field):
        super().__init__()
        if faces.shape[0] == 0:
            raise ValueError("the geometry has no surface (no faces): optimize the geometry first, or extract it "
                             "at another level")
        self.register_buffer("vertices", vertices.detach().float().clone())
        self.register_buffer("faces", faces.detach().long().clone())
        self.texture = texture_field  # its geometry branch is unused; its albedo is the texture
        self.background = texture_field.background
        self.bound = texture_field.bound

    @classmethod
    def from_source(cls, source, texture: str = "source", mesh_resolution: int = 128,
                    background_color=(1.0, 1.0, 1.0), seed: int = 0) -> "TexturedMeshField":
        """Freeze `source`'s geometry: a field (DMTet: its surface; NeuS / NeRF: marching cubes at
        `mesh_resolution`) or a core Mesh. texture 'source' keeps the source field's colours as the start (its
        colour branch, cloned); 'densegrid' / 'hashgrid' start a fresh, finer texture (grey)."""
        from . import make_field
        from ..mesh.clean import remove_small_components
        from ..mesh.extract import field_mesh

        if texture not in TEXTURES:
            raise ValueError(f"texture must be one of {', '.join(TEXTURES)}, got '{texture}'")
        with torch.inference_mode(False), torch.no_grad():
            if isinstance(source, Mesh):
                if texture == "source":
                    raise ValueError("a mesh has no texture field to start from: choose a fresh 'densegrid' or "
                                     "'hashgrid' texture (Bake Texture can bake its vertex colours afterwards)")
                verts, faces, src = source.vertices, source.faces, None
            elif source.geometry == "mesh":  # a textured mesh or DMTet: their surface and texture field
                verts, faces = source.surface()
                src = source.texture
            else:
                mesh = remove_small_components(field_mesh(source, mesh_resolution, with_colors=False), 0.05)
                verts, faces, src = mesh.vertices, mesh.faces, source
            if faces.shape[0] == 0:
                raise ValueError("the source has no surface: optimize it first")
            dev = verts.device if src is None else next(src.parameters()).device
            extent = float(verts.abs().max())
            if texture == "source":
                tex = src.clone()
            else:
                bound = max(0.6, extent * 1.05) if src is None else src.bound
                torch.manual_seed(seed)
                tex = make_field("nerf", encoding=texture, encoding_config=FRESH_TEXTURE[texture], bound=bound,
                                 background_color=tuple(background_color), device=dev).to(dev)
            if extent > tex.bound:
                raise ValueError(f"the mesh reaches {extent:.2f} from the centre, beyond the texture's cube "
                                 f"(±{tex.bound:.2f}): normalize it first")
            return cls(verts.to(dev), faces.to(dev), tex)

    def surface(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vertices, self.faces

    def query(self, points):
        return self.texture.query(points)

    def param_groups(self, lr: float) -> list[dict]:
        return [dict(g, name="texture/" + g["name"]) for g in self.texture.param_groups(lr)]

    def clone(self) -> "TexturedMeshField":
        with torch.inference_mode(False):
            if not any(p.is_inference() for p in self.parameters()) and not self.vertices.is_inference():
                return copy.deepcopy(self)
            return TexturedMeshField(self.vertices.clone(), self.faces.clone(), self.texture.clone())

    def render_views(self, cameras, height, width=None, shading="albedo", want_normals=False, light_dirs=None,
                     ambient: float = 0.35, background=None, **_):
        from ..render.raster import render_surface
        return render_surface(self.vertices, self.faces, lambda p: self.texture.query(p)[1], cameras, height,
                              width, shading=shading, light_dirs=light_dirs, ambient=ambient,
                              background=background, environment=self.background)

    def render_rays(self, *a, **k):
        raise NotImplementedError("a textured mesh renders whole views (rasterization), not ray batches")
