"""Triangle meshes: the one mesh type of the pack, extraction, occupancy queries and export."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh in the pack's coordinates (+Y up, meters; see core.cameras).

    vertices [V,3] float32, faces [F,3] int64 (counter-clockwise seen from outside), optional per-vertex colors
    [V,3] in 0..1 (display / sRGB values, as rendered), optional texture coordinates uv [V,2] (origin at the
    texture's bottom-left, glTF's v flipped on export) with a texture image [H,W,3] in 0..1. Tensors live on the
    CPU; values are never mutated in place.
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    vertex_colors: torch.Tensor | None = None
    uv: torch.Tensor | None = None
    texture: torch.Tensor | None = None

    def __post_init__(self):
        v = torch.as_tensor(self.vertices, dtype=torch.float32).detach().cpu()
        f = torch.as_tensor(self.faces, dtype=torch.int64).detach().cpu()
        if v.ndim != 2 or v.shape[1] != 3:
            raise ValueError(f"mesh vertices must be [V,3], got {tuple(v.shape)}")
        if f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"mesh faces must be [F,3], got {tuple(f.shape)}")
        if f.numel() and (int(f.min()) < 0 or int(f.max()) >= v.shape[0]):
            raise ValueError(f"mesh faces index vertices 0..{v.shape[0] - 1}, found {int(f.min())}..{int(f.max())}")
        object.__setattr__(self, "vertices", v)
        object.__setattr__(self, "faces", f)
        if self.vertex_colors is not None:
            c = torch.as_tensor(self.vertex_colors, dtype=torch.float32).detach().cpu()
            if c.shape != v.shape:
                raise ValueError(f"vertex colors must be [V,3] like the vertices {tuple(v.shape)}, got {tuple(c.shape)}")
            object.__setattr__(self, "vertex_colors", c.clamp(0, 1))
        if (self.uv is None) != (self.texture is None):
            raise ValueError("a textured mesh needs both uv coordinates and a texture image")
        if self.uv is not None:
            uv = torch.as_tensor(self.uv, dtype=torch.float32).detach().cpu()
            tex = torch.as_tensor(self.texture, dtype=torch.float32).detach().cpu()
            if uv.shape != (v.shape[0], 2):
                raise ValueError(f"uv must be [V,2] = [{v.shape[0]},2], got {list(uv.shape)}")
            if tex.ndim != 3 or tex.shape[-1] != 3:
                raise ValueError(f"texture must be [H,W,3], got {list(tex.shape)}")
            object.__setattr__(self, "uv", uv)
            object.__setattr__(self, "texture", tex.clamp(0, 1))

    @property
    def textured(self) -> bool:
        return self.uv is not None

    @property
    def has_texture_image(self) -> bool:
        """A texture of more than one texel: paint, not the single-texel placeholder of a bare uv layout (an
        unwrap's, or a glTF's uvs without an image)."""
        return self.uv is not None and self.texture.shape[0] * self.texture.shape[1] > 1

    @property
    def num_vertices(self) -> int:
        return self.vertices.shape[0]

    @property
    def num_faces(self) -> int:
        return self.faces.shape[0]

    def face_normals(self) -> torch.Tensor:
        v = self.vertices[self.faces]
        return torch.nn.functional.normalize(torch.linalg.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), dim=-1)

    def vertex_normals(self) -> torch.Tensor:
        v = self.vertices[self.faces]
        fn = torch.linalg.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])  # area-weighted
        n = torch.zeros_like(self.vertices).index_add_(0, self.faces.reshape(-1), fn.repeat_interleave(3, 0))
        return torch.nn.functional.normalize(n, dim=-1)

    def area(self) -> float:
        v = self.vertices[self.faces]
        return float(0.5 * torch.linalg.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]).norm(dim=-1).sum())

    def sample_surface(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n points uniformly distributed over the surface area."""
        v = self.vertices[self.faces]
        areas = 0.5 * torch.linalg.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]).norm(dim=-1)
        idx = torch.multinomial(areas, n, replacement=True, generator=generator)
        u = torch.rand(n, 2, generator=generator)
        flip = u.sum(-1) > 1
        u[flip] = 1 - u[flip]
        t = v[idx]
        return t[:, 0] + u[:, :1] * (t[:, 1] - t[:, 0]) + u[:, 1:] * (t[:, 2] - t[:, 0])

    def bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vertices.min(0).values, self.vertices.max(0).values


__all__ = ["Mesh"]
