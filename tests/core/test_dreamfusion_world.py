"""DreamFusion and ProlificDreamer on the primitive world's exact prior: text -> 3D judged against the truth.

The recipe of workflows/dreamfusion_world.json (core.evaluate.dreamfusion_on_world: NeuS + eikonal, 300 steps of
SDS at 32², guidance 10, annealed t). Figures per object: bench/bench_sds_world.py.
"""
import functools

import pytest

from core.evaluate import dreamfusion_on_world, evaluate_field
from core.world import get_object

SOLID = ["cube", "sphere", "cylinder"]  # and the duck, in the VSD test below (one test, so one SDS run of it)


@functools.lru_cache(maxsize=None)  # the VSD test compares with the SDS run of the same object
def _run(name, method="sds"):
    obj = get_object(name)
    res = dreamfusion_on_world(obj, method=method)
    m = evaluate_field(res.field, obj, resolution=32)
    print(f"{method.upper()} {name}: IoU {m['iou']:.3f} held-out PSNR {m['psnr']:.2f} "
          f"silhouette IoU {m['silhouette_iou']:.3f} ({res.seconds:.0f} s)")
    assert res.stopped is None
    return res, m


def _check_sds(name, iou=0.6):
    res, m = _run(name)
    assert m["iou"] >= iou, m
    assert m["psnr"] >= 28.0
    sds = [h["sds/sds"] for h in res.history]
    assert sum(sds[-30:]) < sum(sds[:30])
    return m


@pytest.mark.heavy
@pytest.mark.parametrize("name", SOLID)
def test_dreamfusion_recovers_the_named_object(name):
    _check_sds(name)


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["snowman", "house"])
def test_dreamfusion_recovers_light_objects_on_random_backgrounds(name):
    """White and cream objects: on the field's white background alone an empty field matches them (the snowman
    reached IoU 0.15, only its hat, scarf and nose built); with half the steps over random colours, judged by the
    prior on those colours, the body is built (measured: snowman 0.86, house 0.80)."""
    res, m = _run(name)
    assert m["iou"] >= 0.7, m
    assert m["silhouette_iou"] >= 0.85, m


@pytest.mark.heavy
def test_dreamfusion_recovers_the_duck_and_prolificdreamer_comes_within_0_15_iou_of_it():
    """SDS on the duck (dreamfusion_world's recipe) as for the other objects; then VSD (prolificdreamer_world's):
    IoU within 0.15 of SDS's on the same object and budget (measured 0.81 against 0.93 with random backgrounds;
    0.85 against 0.90 without: SDS gained, VSD lost — see bench_sds_world.py), and the estimator's own
    loss falls to under half. One test, so that parallel workers never run the duck's SDS twice."""
    sds = _check_sds("duck")
    res, m = _run("duck", "vsd")
    assert m["iou"] >= sds["iou"] - 0.15, (m, sds)
    assert m["silhouette_iou"] >= 0.85
    est = [h["vsd/estimator"] for h in res.history]
    assert sum(est[-50:]) < 0.65 * sum(est[:50])  # measured 0.56 with random backgrounds (0.5 before them)
