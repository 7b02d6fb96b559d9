import torch

from core.fields.tets import marching_tets, tet_grid
from core.mesh import Mesh
from core.metrics import mesh_iou


def test_marching_tets_is_watertight_outward_and_exact_for_a_sphere():
    v, t = tet_grid(32, 0.6)
    assert t.shape[0] == 6 * 32 ** 3
    mv, mf = marching_tets(v, t, v.norm(dim=-1) - 0.35)
    mesh = Mesh(mv, mf)
    centers = mesh.vertices[mesh.faces].mean(1)
    assert ((mesh.face_normals() * centers).sum(-1) > 0).all()
    edges = torch.cat([mf[:, [0, 1]], mf[:, [1, 2]], mf[:, [2, 0]]]).sort(-1).values
    _, counts = torch.unique(edges, dim=0, return_counts=True)
    assert (counts == 2).all()
    assert mesh_iou(mesh, lambda p: p.norm(dim=-1) < 0.35, 96) > 0.98


def test_marching_tets_is_differentiable_in_the_sdf():
    v, t = tet_grid(8, 0.6)
    sdf = (v.norm(dim=-1) - 0.35).requires_grad_(True)
    mv, _ = marching_tets(v, t, sdf)
    mv.norm(dim=-1).sum().backward()
    assert sdf.grad.abs().sum() > 0

# The DMTet refinement of a NeuS fit: tests/core/test_fit_world.py (it reuses that file's snowman fit).
