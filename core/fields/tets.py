"""Tetrahedral grids and marching tetrahedra (differentiable), for DMTet.

The grid is a cube lattice split into 6 tetrahedra per cell along the main diagonal (Kuhn's subdivision), which
is conforming: neighbouring tetrahedra share whole faces, so the extracted surface is watertight.
"""
from __future__ import annotations

import itertools

import torch

# the 6 tetrahedra of the unit cell: paths from corner 000 to 111 adding one axis at a time
_CELL_TETS = []
for perm in itertools.permutations(range(3)):
    corner = [0, 0, 0]
    path = [tuple(corner)]
    for axis in perm:
        corner[axis] = 1
        path.append(tuple(corner))
    _CELL_TETS.append(path)

TET_EDGES = torch.tensor([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])


def tet_grid(resolution: int, bound: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertices [(R+1)^3, 3] over [-bound, bound]^3 and tetrahedra [6 R^3, 4] (vertex indices)."""
    if resolution < 2:
        raise ValueError(f"tet grid resolution must be at least 2, got {resolution}")
    r1 = resolution + 1
    c = torch.linspace(-bound, bound, r1)
    verts = torch.stack(torch.meshgrid(c, c, c, indexing="ij"), -1).reshape(-1, 3)
    i, j, k = torch.meshgrid(*(torch.arange(resolution),) * 3, indexing="ij")
    i, j, k = i.reshape(-1), j.reshape(-1), k.reshape(-1)

    def vid(di, dj, dk):
        return (i + di) * r1 * r1 + (j + dj) * r1 + (k + dk)

    tets = torch.stack([torch.stack([vid(*corner) for corner in path], -1) for path in _CELL_TETS], 1)
    return verts, tets.reshape(-1, 4)


def marching_tets(verts: torch.Tensor, tets: torch.Tensor, sdf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The surface sdf = 0 inside a tet mesh: vertices [M,3] (differentiable in verts and sdf) and outward faces.

    Each crossed edge gets one vertex, shared by every tetrahedron around it, at the linear zero crossing.
    """
    dev = verts.device
    tets = tets.to(dev)
    inside = sdf < 0
    code = inside[tets].sum(-1)
    valid = (code > 0) & (code < 4)
    t = tets[valid]
    if t.shape[0] == 0:
        return verts.new_zeros(0, 3), torch.zeros(0, 3, dtype=torch.long, device=dev)
    ins = inside[t]  # [T,4]
    edges = t[:, TET_EDGES.to(dev)]  # [T,6,2]
    crossed = ins[:, TET_EDGES[:, 0]] != ins[:, TET_EDGES[:, 1]]  # [T,6]
    # unique global edges among the crossed ones
    e_sorted = torch.sort(edges, -1).values
    key = e_sorted[..., 0] * verts.shape[0] + e_sorted[..., 1]
    uniq, inverse = torch.unique(key[crossed], return_inverse=True)
    a, b = uniq // verts.shape[0], uniq % verts.shape[0]
    sa, sb = sdf[a], sdf[b]
    w = (sa / (sa - sb))[:, None]
    new_verts = verts[a] + w * (verts[b] - verts[a])
    edge_vid = torch.full(crossed.shape, -1, dtype=torch.long, device=dev)
    edge_vid[crossed] = inverse

    n_in = ins.sum(-1)
    faces = []
    # one inside or one outside vertex: a triangle on its three edges
    for lone_inside in (True, False):
        sel = (n_in == 1) if lone_inside else (n_in == 3)
        if sel.any():
            ev = edge_vid[sel]
            faces.append(ev[ev >= 0].reshape(-1, 3))
    # two inside (a, b), two outside (c, d): the quad (a,c) (a,d) (b,d) (b,c) as two triangles
    sel = n_in == 2
    if sel.any():
        tt, ii, ev = t[sel], ins[sel], edge_vid[sel]
        order = torch.argsort((~ii).to(torch.int8), dim=-1, stable=True)  # inside vertices first
        a_, b_, c_, d_ = order.unbind(-1)
        edge_index = torch.full((4, 4), -1, dtype=torch.long, device=dev)
        for n, (p, q) in enumerate(TET_EDGES.tolist()):
            edge_index[p, q] = n
            edge_index[q, p] = n
        rows = torch.arange(ev.shape[0], device=dev)
        ac = ev[rows, edge_index[a_, c_]]
        ad = ev[rows, edge_index[a_, d_]]
        bd = ev[rows, edge_index[b_, d_]]
        bc = ev[rows, edge_index[b_, c_]]
        faces += [torch.stack([ac, ad, bd], -1), torch.stack([ac, bd, bc], -1)]
    faces = torch.cat(faces)
    # orient every face outward: its normal must point from the inside vertex to the outside one of its edge
    with torch.no_grad():
        v = new_verts.detach()
        n = torch.linalg.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
        out_dir = torch.where((sa < 0)[:, None], verts[b] - verts[a], verts[a] - verts[b])[faces[:, 0]]
        flip = (n * out_dir).sum(-1) < 0
    faces = torch.where(flip[:, None], faces[:, [0, 2, 1]], faces)
    return new_verts, faces
