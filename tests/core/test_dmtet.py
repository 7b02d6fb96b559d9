import torch

from core.evaluate import evaluate_field, fit_to_views, held_out_views, training_views
from core.fields.dmtet import DMTetField
from core.fields.tets import marching_tets, tet_grid
from core.losses.reference import ReferenceViewsLoss
from core.mesh import Mesh
from core.metrics import mesh_iou, psnr
from core.optimize import optimize
from core.world import get_object, render_object


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


def test_dmtet_refined_from_neus_keeps_its_iou_and_renders_like_the_object():
    obj = get_object("snowman")
    neus = fit_to_views(obj, "neus").field
    neus_iou = evaluate_field(neus, obj)["iou"]
    dm = DMTetField.from_field(neus, 48)
    cams = training_views(24)
    ref = render_object(obj, cams, 64, shading="albedo")
    res = optimize(dm, [ReferenceViewsLoss(ref.rgb, cams, masks=ref.alpha)], 120, lr=0.01, seed=0,
                   lr_schedule="constant")
    assert res.stopped is None
    m = evaluate_field(res.field, obj)
    print(f"DMTET snowman neus IoU {neus_iou:.3f} -> dmtet {m}")
    assert m["iou"] >= neus_iou - 0.02
    assert m["psnr"] >= 25
    # the neus field the DMTet came from is untouched (a clone was refined)
    assert evaluate_field(neus, obj)["iou"] == neus_iou
