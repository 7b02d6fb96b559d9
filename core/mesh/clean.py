"""Mesh clean-up: drop floaters (small disconnected pieces) that fitting leaves in empty space."""
from __future__ import annotations

import numpy as np
import torch

from . import Mesh


def remove_small_components(mesh: Mesh, min_fraction: float = 0.05) -> Mesh:
    """Keep the connected components whose area is at least `min_fraction` of the largest one's."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if mesh.num_faces == 0:
        return mesh
    f = mesh.faces.numpy()
    n = mesh.num_vertices
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    _, labels = connected_components(coo_matrix((np.ones_like(rows), (rows, cols)), shape=(n, n)), directed=False)
    face_label = labels[f[:, 0]]
    v = mesh.vertices[mesh.faces]
    areas = 0.5 * torch.linalg.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]).norm(dim=-1).numpy()
    comp_area = np.bincount(face_label, weights=areas)
    keep_comp = comp_area >= min_fraction * comp_area.max()
    keep_face = keep_comp[face_label]
    used = np.zeros(n, dtype=bool)
    used[f[keep_face].reshape(-1)] = True
    remap = -np.ones(n, dtype=np.int64)
    remap[used] = np.arange(used.sum())
    sel = torch.from_numpy(used)
    return Mesh(mesh.vertices[sel], torch.from_numpy(remap[f[keep_face]]),
                None if mesh.vertex_colors is None else mesh.vertex_colors[sel],
                None if mesh.uv is None else mesh.uv[sel], mesh.texture)
