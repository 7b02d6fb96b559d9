"""DreamFusion and ProlificDreamer on the primitive world's exact prior: text -> 3D judged against the truth.

The recipe of workflows/dreamfusion_world.json (core.evaluate.dreamfusion_on_world: NeuS + eikonal, 300 steps of
SDS at 32², guidance 10, annealed t). Figures per object: bench/bench_sds_world.py.
"""
import pytest

from core.evaluate import dreamfusion_on_world, evaluate_field
from core.world import get_object

SOLID = ["cube", "sphere", "duck", "cylinder"]


def _run(name, method="sds"):
    obj = get_object(name)
    res = dreamfusion_on_world(obj, method=method)
    m = evaluate_field(res.field, obj, resolution=32)
    print(f"{method.upper()} {name}: IoU {m['iou']:.3f} held-out PSNR {m['psnr']:.2f} "
          f"silhouette IoU {m['silhouette_iou']:.3f} ({res.seconds:.0f} s)")
    assert res.stopped is None
    return res, m


@pytest.mark.parametrize("name", SOLID)
def test_dreamfusion_recovers_the_named_object(name):
    res, m = _run(name)
    assert m["iou"] >= 0.6
    assert m["psnr"] >= 28.0
    sds = [h["sds/sds"] for h in res.history]
    assert sum(sds[-30:]) < sum(sds[:30])


def test_prolificdreamer_recovers_the_object_and_its_estimator_learns():
    """VSD's estimator learns the renders (its diffusion loss falls to under half) and the duck is recovered, but
    not yet as well as by SDS (IoU 0.62 against 0.90 in 300 steps; the issue's goal is within 0.1): with the exact
    prior, the guidance term alone drives the field until the residual estimator has learned the renders."""
    res, m = _run("duck", "vsd")
    assert m["iou"] >= 0.5 and m["silhouette_iou"] >= 0.7
    est = [h["vsd/estimator"] for h in res.history]
    assert sum(est[-50:]) < 0.5 * sum(est[:50])
