"""DreamFusion on the primitive world's exact prior: text -> 3D judged against the truth (ProlificDreamer: the host).

The recipe of workflows/dreamfusion_world.json (core.recipes.dreamfusion_on_world: NeuS + eikonal, 300 steps of
SDS at 32², guidance 10, annealed t). Figures per object: bench/bench_sds_world.py.
"""
import pytest

from core.evaluate import evaluate_field
from core.recipes import dreamfusion_on_world
from core.world import get_object

# The duck is judged in the host, on the shipped workflows themselves (the same recipe): dreamfusion_world (SDS)
# and prolificdreamer_world (VSD, its estimator's loss) in tests/workflow_checks.py; running it here too cost 280 s.
SOLID = ["cube", "sphere", "cylinder"]


def _run(name):
    obj = get_object(name)
    res = dreamfusion_on_world(obj, method="sds")
    m = evaluate_field(res.field, obj, resolution=32)
    print(f"SDS {name}: IoU {m['iou']:.3f} held-out PSNR {m['psnr']:.2f} "
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
