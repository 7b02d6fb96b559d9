"""Photometric fitting of world objects from 24 true views at 64² (the floors of the fields issue).

Measured figures per object: bench/bench_fit_world.py. These runs take ~45 s each on 2 CPU cores.
"""
import pytest

from core.evaluate import evaluate_field, fit_to_views
from core.world import get_object

# snowman, duck, house: asymmetric. The torus is left out: from the sphere it starts as, NeuS does not open its
# hole within 600 steps (IoU 0.73; see bench_fit_world.py).
NEUS_OBJECTS = ["cube", "cylinder", "snowman", "duck", "house", "mushroom"]


@pytest.mark.parametrize("name", NEUS_OBJECTS)
def test_neus_fit_reaches_iou_and_held_out_psnr(name):
    obj = get_object(name)
    res = fit_to_views(obj, "neus")
    assert res.stopped is None
    m = evaluate_field(res.field, obj)
    print(f"NEUS {name} {m}")
    assert m["iou"] >= 0.85 and m["psnr"] >= 25.0, m


def test_neus_fit_of_a_mug_by_silhouette_and_psnr():
    """The mug's cavity is seen only through its opening; NeuS closes it with a lid that renders the same, so
    volumetric IoU understates the fit (~0.38). Its held-out silhouettes and colors are what is checked."""
    obj = get_object("mug")
    m = evaluate_field(fit_to_views(obj, "neus").field, obj)
    print(f"NEUS mug {m}")
    assert m["silhouette_iou"] >= 0.9 and m["psnr"] >= 25.0, m


@pytest.mark.parametrize("name", ["snowman", "duck"])
def test_nerf_fit_reaches_iou(name):
    obj = get_object(name)
    m = evaluate_field(fit_to_views(obj, "nerf").field, obj)
    print(f"NERF {name} {m}")
    assert m["iou"] >= 0.8 and m["psnr"] >= 25.0, m
