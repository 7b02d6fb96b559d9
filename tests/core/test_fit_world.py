"""Photometric fitting of world objects from 24 true views at 64² (the floors of the fields issue).

Measured figures per object: bench/bench_fit_world.py. These runs take ~45 s each on 2 CPU cores.
"""
import pytest

from core.evaluate import evaluate_field, training_views
from core.recipes import fit_to_views
from core.fields.dmtet import DMTetField
from core.losses.reference import ReferenceViewsLoss
from core.optimize import optimize
from core.world import get_object, render_object

# snowman, duck, house: asymmetric. The snowman's fit is checked by the DMTet test below, which refines it (one fit,
# one worker). The torus (genus 1) has its own test; the cylinder (a second convex solid beside the cube) is left
# to bench_fit_world.py, to pay for it in test time.
NEUS_OBJECTS = ["cube", "duck", "house", "mushroom"]


def _neus_fit(name, seed=0):
    obj = get_object(name)
    res = fit_to_views(obj, "neus", seed=seed)
    assert res.stopped is None
    m = evaluate_field(res.field, obj)
    print(f"NEUS {name} {m}")
    assert m["iou"] >= 0.85 and m["psnr"] >= 25.0, m
    return res.field, m


@pytest.mark.heavy
@pytest.mark.parametrize("name", NEUS_OBJECTS)
def test_neus_fit_reaches_iou_and_held_out_psnr(name):
    _neus_fit(name)


@pytest.mark.heavy
def test_neus_fit_opens_the_torus_hole_from_a_sphere():
    """Genus 1 from a genus-0 start: seed 1 is one that, before the sharpness warm-up (core.fields.NeuSField),
    closed the hole into a plug (IoU 0.725, the hole's centre opaque from the front)."""
    import torch
    from core.cameras import orbit
    field, m = _neus_fit("torus", seed=1)
    assert m["iou"] >= 0.9, m
    with torch.no_grad():
        front = field.render_views(orbit(1, 0, 1.8, 40, 0.0), 64, perturb=False)
        centre = field.geometry_value(torch.zeros(1, 3))
    assert float(front.alpha[0, 32, 32]) < 0.05 and float(centre) > 0  # see-through, and empty at the centre


@pytest.mark.heavy
def test_neus_fit_of_the_snowman_and_its_dmtet_refinement_keep_iou_and_render_like_the_object():
    """The NeuS floors on the snowman; then a DMTet surface initialized from that fit and refined against the same
    views keeps its IoU (within 0.02) and renders like the object, and the NeuS field is left untouched."""
    obj = get_object("snowman")
    neus, m_neus = _neus_fit("snowman")
    neus_iou = m_neus["iou"]
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


@pytest.mark.heavy
def test_neus_fit_of_a_mug_by_silhouette_and_psnr():
    """The mug's cavity is seen only through its opening; NeuS closes it with a lid that renders the same, so
    volumetric IoU understates the fit (~0.38). Its held-out silhouettes and colors are what is checked."""
    obj = get_object("mug")
    m = evaluate_field(fit_to_views(obj, "neus").field, obj)
    print(f"NEUS mug {m}")
    assert m["silhouette_iou"] >= 0.9 and m["psnr"] >= 25.0, m


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["snowman", "duck"])
def test_nerf_fit_reaches_iou(name):
    obj = get_object(name)
    m = evaluate_field(fit_to_views(obj, "nerf").field, obj)
    print(f"NERF {name} {m}")
    assert m["iou"] >= 0.8 and m["psnr"] >= 25.0, m
