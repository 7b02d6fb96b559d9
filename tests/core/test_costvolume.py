"""GeoDream's cost volume: aggregation invariant to the views' number and order, the classical and the learned
(shipped weights) builders judged by IoU on held-out catalogue objects, robustness to a view of another object,
the weights file's checks, one training step, and the cost-volume NeuS field."""
import os
import sys

import pytest
import torch

from core.cameras import Cameras, orbit
from core.costvolume import (CostVolumeNet, aggregate, build_cost_volume, default_weights, prepare_views,
                             sample_views)
from core.fields import make_field
from core.world import get_object, grid_points, occupancy, render_object

CAMS = orbit(4, 15.0, 1.8, 40.0)


def _views(name, cams=CAMS):
    rec = render_object(get_object(name), cams, 64, shading="albedo", supersample=1)
    return rec.rgb, rec.alpha


def _iou(vol, name, grid=48):
    pts = grid_points(grid).reshape(-1, 3)
    pred, true = vol.sdf(pts) < 0, occupancy(get_object(name), pts)
    return float((pred & true).sum() / (pred | true).sum().clamp_min(1))


def test_aggregation_is_invariant_to_the_views_order_and_count():
    """Mean and variance over the views that see a point: the same for the views shuffled, and for every view
    given twice (so 4 or 8 views of the same evidence agree)."""
    torch.manual_seed(0)
    maps = torch.rand(4, 5, 16, 16)
    pts = (torch.rand(500, 3) - 0.5) * 0.8
    s, v = sample_views(maps, CAMS, pts)
    mean, var, frac = aggregate(s, v)
    perm = torch.tensor([2, 0, 3, 1])
    s2, v2 = sample_views(maps[perm], CAMS[perm.tolist()], pts)
    m2, var2, _ = aggregate(s2, v2)
    s3, v3 = sample_views(torch.cat([maps, maps]), Cameras.cat([CAMS, CAMS]), pts)
    m3, var3, frac3 = aggregate(s3, v3)
    assert torch.allclose(mean, m2, atol=1e-6) and torch.allclose(var, var2, atol=1e-6)
    assert torch.allclose(mean, m3, atol=1e-6) and torch.allclose(var, var3, atol=1e-6)
    assert torch.allclose(frac, frac3)


def test_classical_volume_carves_the_visual_hull_from_four_views():
    """No learned parts: from 4 views at elevation 15 with masks, the sphere and the duck (64³ grid)."""
    for name, floor in (("sphere", 0.85), ("duck", 0.8)):
        rgb, alpha = _views(name)
        vol = build_cost_volume(rgb, CAMS, alpha, resolution=64, method="classical")
        assert vol.seen.float().mean() > 0.3
        assert _iou(vol, name) > floor, name


def test_the_builder_refuses_bad_views():
    rgb, alpha = _views("cube")
    with pytest.raises(ValueError, match="4 views but 3 cameras"):
        build_cost_volume(rgb, CAMS[:3], alpha, method="classical")
    with pytest.raises(ValueError, match="at least 2 views"):
        build_cost_volume(rgb[:1], CAMS[:1], alpha[:1], method="classical")
    with pytest.raises(ValueError, match="masks .* do not match"):
        build_cost_volume(rgb, CAMS, alpha[:, :32, :32], method="classical")
    with pytest.raises(ValueError, match="'learned' or 'classical'"):
        build_cost_volume(rgb, CAMS, alpha, method="sparse")


def test_a_weights_file_of_another_architecture_names_the_tensors(tmp_path):
    path = str(tmp_path / "other.safetensors")
    CostVolumeNet(features=8).save(path)
    assert CostVolumeNet.from_file(path).config["features"] == 8  # its own config rebuilds it
    from safetensors.torch import load_file, save_file
    tensors = load_file(path)
    tensors["out.weight"] = tensors["out.weight"][:4]
    del tensors["decoder.net.0.bias"]
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    save_file(tensors, path, metadata=meta)
    with pytest.raises(ValueError, match="another architecture: missing decoder.net.0.bias; shape differs for "
                                         "out.weight"):
        CostVolumeNet.from_file(path)
    save_file(tensors, path)
    with pytest.raises(ValueError, match="not a Distill3D cost-volume weights file"):
        CostVolumeNet.from_file(path)


def test_one_training_step_lowers_the_loss_on_a_fixed_batch():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
    import train_cost_volume as train
    torch.manual_seed(0)
    net = CostVolumeNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    example = train.training_example(123)
    views, cams, pts, d = example
    with torch.no_grad():
        before = float(train.sdf_loss(net.build(views, cams, 16).sdf(pts), d))
    train.train_step(net, opt, example, 16)
    with torch.no_grad():
        after = float(train.sdf_loss(net.build(views, cams, 16).sdf(pts), d))
    assert after < before, (before, after)


@pytest.fixture(scope="module")
def shipped():
    if not os.path.exists(default_weights()):
        pytest.fail(f"the shipped weights are missing ({default_weights()}): scripts/train_cost_volume.py writes "
                    f"them")
    return CostVolumeNet.from_file(default_weights())


def test_shipped_weights_are_small_and_say_how_they_were_made(shipped):
    assert os.path.getsize(default_weights()) < 20e6
    meta = shipped.metadata
    assert meta["trained_by"] == "scripts/train_cost_volume.py" and int(meta["steps"]) > 0 and "seed" in meta


def test_learned_volume_on_held_out_objects_and_a_disagreeing_view(shipped):
    """The catalogue is never trained on. From 4 views at elevation 15 (masks read off the white background, as
    the node does): floors on a few objects; 8 views do not do worse than 4. One view replaced by a view of
    another object: issue 15's goal (IoU moves by less than 0.1) is NOT met by the shipped weights (measured: the
    duck 0.86 -> 0.47 with a chair's view, although a third of the training sets held such a view); asserted is
    only that it stays above that floor, so a regression shows."""
    ious = {}
    for name in ("sphere", "duck", "house"):
        rgb, _ = _views(name)
        views, cams = prepare_views(rgb, CAMS)
        with torch.no_grad():
            ious[name] = _iou(shipped.build(views, cams, 32), name)
    print("learned IoU", ious)
    assert ious["sphere"] > 0.8 and ious["duck"] > 0.7 and ious["house"] > 0.6, ious
    rgb, _ = _views("duck")
    other, _ = _views("chair")
    rgb_bad = rgb.clone()
    rgb_bad[2] = other[2]
    with torch.no_grad():
        bad = _iou(shipped.build(*prepare_views(rgb_bad, CAMS), 32), "duck")
        cams8 = orbit(8, 15.0, 1.8, 40.0)
        eight = _iou(shipped.build(*prepare_views(_views("duck", cams8)[0], cams8), 32), "duck")
    print("duck: one view of a chair", bad, "8 views", eight)
    assert bad > 0.4
    assert eight > ious["duck"] - 0.05


def test_cost_volume_neus_starts_at_the_prior_and_learns_only_the_volume_and_texture():
    rgb, alpha = _views("duck")
    vol = build_cost_volume(rgb, CAMS, alpha, resolution=32, method="classical")
    field = make_field("costvolume-neus", cost_volume=vol, encoding="densegrid",
                       encoding_config=dict(resolutions=(16, 32), features=2), volume_lr=0.5, volume_decay=0.1)
    pts = (torch.rand(300, 3) - 0.5) * 0.9
    assert torch.allclose(field.geometry_value(pts), vol.sdf(pts), atol=1e-5)
    groups = {g["name"]: g for g in field.param_groups(0.01)}
    assert groups["volume"]["lr"] == pytest.approx(0.005) and groups["volume"]["decay"] == 0.1
    clone = field.clone()
    assert torch.allclose(clone.geometry_value(pts), vol.sdf(pts), atol=1e-5)
    with torch.no_grad():
        clone.volume.add_(0.05)
    assert torch.allclose(field.geometry_value(pts), vol.sdf(pts), atol=1e-5)  # a clone never touches the prior
