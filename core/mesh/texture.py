"""UV unwrapping (xatlas) and baking a color function into a texture with padding."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..deps import require
from . import Mesh


def unwrap(mesh: Mesh) -> Mesh:
    """The mesh re-indexed with xatlas texture coordinates (vertices split along seams)."""
    xatlas = require("xatlas", "Bake Texture (UV unwrapping)")

    if mesh.num_faces == 0:
        raise ValueError("cannot unwrap a mesh without faces")
    vmapping, indices, uvs = xatlas.parametrize(mesh.vertices.numpy(), mesh.faces.numpy().astype(np.uint32))
    vm = torch.from_numpy(vmapping.astype(np.int64))
    colors = None if mesh.vertex_colors is None else mesh.vertex_colors[vm]
    return Mesh(mesh.vertices[vm], torch.from_numpy(indices.astype(np.int64)), colors, torch.from_numpy(uvs),
                torch.zeros(1, 1, 3))


def dilate(texture: torch.Tensor, filled: torch.Tensor, iterations: int) -> torch.Tensor:
    """Grow the filled texels outward by `iterations` texels (mean of filled neighbours): seams stay clean under
    filtering and mipmaps."""
    tex = texture.permute(2, 0, 1)[None]
    m = filled[None, None].float()
    k = torch.ones(1, 1, 3, 3)
    for _ in range(iterations):
        s = F.conv2d(tex * m, k.expand(3, 1, 3, 3), padding=1, groups=3)
        n = F.conv2d(m, k, padding=1)
        grow = (n > 0) & (m == 0)
        tex = torch.where(grow, s / n.clamp_min(1), tex)
        m = torch.where(grow, torch.ones_like(m), m)
    return tex[0].permute(1, 2, 0)


@torch.no_grad()
def texel_hits(mesh: Mesh, size: int):
    """The texels of a size x size texture that the mesh's uv triangles cover: (face, px, py, barycentrics [K,3]),
    texel (px, py) counted from the top-left (uv's v points up). A texel on a shared edge may appear twice."""
    from ..render.triangles import candidate_pixels, edge_functions
    pix_uv = torch.stack([mesh.uv[:, 0] * size, (1 - mesh.uv[:, 1]) * size], -1)
    tri_uv = pix_uv[mesh.faces]
    face, px, py = candidate_pixels(tri_uv, size, size, pad=0.0)
    p = torch.stack([px.float() + 0.5, py.float() + 0.5], -1)
    w0, w1, w2, area = edge_functions(p, tri_uv[face, 0], tri_uv[face, 1], tri_uv[face, 2])
    ok = area.abs() > 1e-12
    s = torch.sign(area)
    inside = ok & (w0 * s >= -1e-6) & (w1 * s >= -1e-6) & (w2 * s >= -1e-6)
    bary = torch.stack([w0[inside], w1[inside], w2[inside]], -1) / area[inside, None]
    return face[inside], px[inside], py[inside], bary


@torch.no_grad()
def bake(mesh: Mesh, color_fn=None, size: int = 512, padding: int = 4, chunk: int = 262144) -> Mesh:
    """A textured copy of `mesh` (unwrapped first if it has no uv): every texel covered by a triangle in uv space
    takes color_fn(the 3D point it maps to) — or, without a color_fn, the mesh's own vertex colors interpolated
    there (a vertex-colored mesh becomes a textured one); empty texels next to charts are filled by dilation."""
    if size < 8:
        raise ValueError(f"texture size must be at least 8, got {size}")
    if color_fn is None and mesh.vertex_colors is None:
        raise ValueError("the mesh has no vertex colors to bake: connect a field whose albedo is baked instead")
    m = mesh if mesh.textured else unwrap(mesh)
    face, px, py, bary = texel_hits(m, size)
    if color_fn is None:
        colors = (bary[..., None] * m.vertex_colors[m.faces[face]]).sum(1)
    else:
        pos = (bary[..., None] * m.vertices[m.faces[face]]).sum(1)
        colors = torch.cat([color_fn(pos[i:i + chunk]).float().cpu() for i in range(0, pos.shape[0], chunk)])
    tex = torch.zeros(size * size, 3)
    tex[py * size + px] = colors.clamp(0, 1)
    filled = torch.zeros(size * size, dtype=torch.bool)
    filled[py * size + px] = True
    tex = dilate(tex.reshape(size, size, 3), filled.reshape(size, size), padding)
    return Mesh(m.vertices, m.faces, m.vertex_colors, m.uv, tex)


def sample_texture(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear texture lookup: uv [...,2] (v up) -> colors [...,3]."""
    grid = torch.stack([uv[..., 0] * 2 - 1, (1 - uv[..., 1]) * 2 - 1], -1).reshape(1, -1, 1, 2)
    out = F.grid_sample(texture.permute(2, 0, 1)[None].to(uv), grid, mode="bilinear", align_corners=False)
    return out[0, :, :, 0].T.reshape(*uv.shape[:-1], 3)
