"""GeoDream's cost volume: aggregation invariant to the views' number and order, the classical and the learned
(shipped weights) builders judged by IoU on held-out catalogue objects, robustness to a view of another object,
the weights file's checks, one training step, and the cost-volume NeuS field."""
import os
import sys

import pytest
import torch
import torch.nn.functional as F

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
    another object (a chair's): the builder finds it by silhouette consistency and leaves it out, so the IoU moves
    by less than 0.1 (issue 15's goal); the net alone, given that view, still stays above a floor (it saw such
    views in training: measured 0.86 -> 0.47), so a regression in either shows."""
    ious = {}
    for name in ("sphere", "duck", "house"):
        rgb, _ = _views(name)
        ious[name] = _iou(build_cost_volume(rgb, CAMS, net=shipped), name)
    print("learned IoU", ious)
    assert ious["sphere"] > 0.8 and ious["duck"] > 0.7 and ious["house"] > 0.6, ious
    rgb, _ = _views("duck")
    other, _ = _views("chair")
    rgb_bad = rgb.clone()
    rgb_bad[2] = other[2]
    vol = build_cost_volume(rgb_bad, CAMS, net=shipped)
    bad = _iou(vol, "duck")
    kept = _iou(build_cost_volume(rgb_bad, CAMS, net=shipped, drop_disagreeing=False), "duck")
    cams8 = orbit(8, 15.0, 1.8, 40.0)
    eight = _iou(build_cost_volume(_views("duck", cams8)[0], cams8, net=shipped), "duck")
    print("duck: one view of a chair", bad, "(kept:", kept, ") 8 views", eight)
    assert vol.dropped == (2,)
    assert abs(bad - ious["duck"]) < 0.1
    assert kept > 0.4
    assert eight > ious["duck"] - 0.05


def test_silhouette_consistency_finds_the_one_view_of_another_object():
    """Views of one object are all explained by their hull (nothing dropped, the thin-legged table included); a
    view of another object in any place is the one left out; with 3 views none is (2 left would always agree)."""
    from core.costvolume import disagreeing_views, silhouettes_explained
    views = {name: prepare_views(_views(name)[0], CAMS) for name in ("duck", "table", "mug")}
    for name, (v, c) in views.items():
        explained, _ = silhouettes_explained(v, c)
        assert float(explained.min()) > 0.9, (name, explained)
        assert disagreeing_views(v, c) == [], name
    duck, cams = views["duck"]
    for k, other in ((0, "table"), (3, "mug")):
        mixed = duck.clone()
        mixed[k] = views[other][0][k]
        assert disagreeing_views(mixed, cams) == [k], (k, other)
    assert disagreeing_views(mixed[:3], cams[:3]) == []


def test_no_good_view_of_a_thin_airplane_is_dropped():
    """A white airplane whose wings are thinner than a pixel seen edge-on: its 24 true views (random elevations
    -10..50) are all explained (at mask coverage 0.5 the edge-on views carved the wings away and a view's mask was
    only 0.62 explained: views were dropped), and none is left out; one view of the duck among them still is."""
    from core.costvolume import CONSISTENT, disagreeing_views, silhouettes_explained
    from core.world import WorldObject
    from core.world.sdf import Box, Capsule, Union
    white = (0.9, 0.9, 0.92)
    plane = WorldObject("airplane", [], "a thin airplane", lambda: Union([
        Capsule(color=white, a=(0, 0, -0.4), b=(0, 0, 0.4), radius=0.045),
        Box(color=white, half=(0.42, 0.004, 0.07), offset=(0, 0, 0.02)),
        Box(color=white, half=(0.14, 0.004, 0.04), offset=(0, 0, -0.38)),
        Box(color=white, half=(0.004, 0.09, 0.04), offset=(0, 0.08, -0.38))]))
    g = torch.Generator().manual_seed(0)
    cams = Cameras.from_spherical((torch.rand(24, generator=g) * 60 - 10).tolist(),
                                  (torch.rand(24, generator=g) * 360).tolist(), 1.8, 40.0)
    rec = render_object(plane, cams, 128, shading="albedo")
    v, c = prepare_views(rec.rgb, cams, rec.alpha)
    explained, _ = silhouettes_explained(v, c)
    print("airplane: least explained share", float(explained.min()))
    assert float(explained.min()) > CONSISTENT, explained
    assert disagreeing_views(v, c) == []
    duck = render_object(get_object("duck"), cams[5:6], 128, shading="albedo")
    rgb, alpha = rec.rgb.clone(), rec.alpha.clone()
    rgb[5], alpha[5] = duck.rgb[0], duck.alpha[0]
    assert disagreeing_views(*prepare_views(rgb, cams, alpha)) == [5]


def test_masks_read_off_the_background_for_a_white_object_and_one_touching_the_frame(shipped):
    """A pale object on the sampler's white reads as a hard mask (soft, the shaded white snowman's learned IoU
    was 0.27; hard 0.72), and an object that touches one side of the frame still has a background to read."""
    rgb = render_object(get_object("snowman"), CAMS, 64, shading="lambertian", supersample=1).rgb
    vol = build_cost_volume(rgb, CAMS, net=shipped)
    print("snowman, shaded white on white:", _iou(vol, "snowman"))
    assert _iou(vol, "snowman") > 0.6
    near = Cameras.from_spherical(torch.full((4,), 15.0), CAMS.azimuth, torch.full((4,), 1.1), 40.0)
    rgb, alpha = _views("cone", near)
    touching = torch.cat([rgb[:, -1], rgb[:, :, -1]], 1)  # the bottom row and right column of each view
    assert ((touching - 1).abs().amax(-1) > 0.1).any()
    views, _ = prepare_views(rgb, near)
    assert (views[:, 3] - F.interpolate(alpha[:, None], size=views.shape[-2:], mode="area")[:, 0]).abs().mean() < 0.05


def test_cost_volume_neus_starts_at_the_prior_and_learns_only_the_volume_and_texture():
    rgb, alpha = _views("duck")
    vol = build_cost_volume(rgb, CAMS, alpha, resolution=32, method="classical")
    field = make_field("costvolume-neus", cost_volume=vol, encoding="densegrid",
                       encoding_config=dict(resolutions=(16, 32), features=2), volume_lr=0.5, volume_decay=0.1)
    pts = (torch.rand(300, 3) - 0.5) * 0.9
    assert torch.allclose(field.geometry_value(pts), vol.sdf(pts), atol=1e-5)
    groups = {g["name"]: g for g in field.param_groups(0.01)}
    assert groups["volume"]["lr"] == pytest.approx(0.005) and groups["volume"]["decay"] == 0.1
    assert groups["residual"]["lr"] == pytest.approx(0.01 * 0.05)  # the residual SDF grid, slow by default
    assert "residual" not in {g["name"] for g in make_field("costvolume-neus", cost_volume=vol,
                                                            residual_lr=0.0).param_groups(0.01)}
    clone = field.clone()
    assert torch.allclose(clone.geometry_value(pts), vol.sdf(pts), atol=1e-5)
    with torch.no_grad():
        clone.volume.add_(0.05)
    assert torch.allclose(field.geometry_value(pts), vol.sdf(pts), atol=1e-5)  # a clone never touches the prior


def test_the_refinement_moves_the_surface(shipped):
    """Issue 30: GeoDream's refinement of V alone was inert (the frozen decoder was trained on the 3D CNN's outputs
    only: 100 VSD steps left every world object's IoU within 0.002). The residual SDF grid moves the surface the
    prior starts: the duck's learned volume from 4 views, fitted to 24 true views for 200 steps, goes 0.848 ->
    0.895 (V alone: 0.852). The VSD refinement on the world: bench/bench_geodream.py --refine-only."""
    from core.recipes import fit_to_views
    rgb, alpha = _views("duck")
    vol = build_cost_volume(rgb, CAMS, alpha, net=shipped)
    before = _iou(vol, "duck")
    torch.manual_seed(0)
    field = make_field("costvolume-neus", cost_volume=vol, encoding="densegrid",
                       encoding_config=dict(resolutions=(16, 32), features=2))
    fit_to_views(get_object("duck"), field=field, steps=200, resolution=32, rays_per_step=512, n_samples=32)
    pts = grid_points(48).reshape(-1, 3)
    with torch.no_grad():
        pred = field.geometry_value(pts) < 0
    true = occupancy(get_object("duck"), pts)
    after = float((pred & true).sum() / (pred | true).sum())
    print(f"duck: learned volume {before:.3f} -> fitted {after:.3f}")
    assert after > before + 0.025, (before, after)


def test_a_view_set_that_cannot_carve_is_named():
    """Issue 30's bad input: views all from one height (MVDream's ring) or one side of the horizon leave hidden
    space filled; the builder says so (the node logs it), and a set above and below says nothing."""
    from core.cameras import alternating_orbit
    from core.costvolume import view_set_findings
    (ring,) = view_set_findings(CAMS)
    assert "within 0° of elevation 15°" in ring and "alternating" in ring
    above = Cameras.cat([orbit(2, 20.0, 1.8, 40.0), orbit(2, 45.0, 1.8, 40.0)])
    (side,) = view_set_findings(above)
    assert "from above the horizon" in side
    assert view_set_findings(alternating_orbit(6, 20.0, -10.0)) == ()


def test_a_grid_too_coarse_for_a_thin_part_is_named():
    """Issue 30's bad input: the lamp's pole is thinner than a 32³ grid's voxels: from six views at 20 / -10 the
    builder says which view loses how much of its silhouette and which grid holds it (48); the sphere, the chair's
    and the table's legs at 32 say nothing; a finding counts the user's views, not those left after a drop."""
    from core.cameras import alternating_orbit
    from core.costvolume import grid_findings, prepare_views, thin_part_lost
    cams = alternating_orbit(6, 20.0, -10.0)
    for name in ("sphere", "chair", "table"):
        imgs, masks = _views(name, cams)
        v, c = prepare_views(imgs, cams, masks)
        assert grid_findings(v, c, 32) == (), name
    imgs, masks = _views("lamp", cams)
    vol = build_cost_volume(imgs, cams, masks, 32, "classical")
    (lamp,) = [f for f in vol.findings if "thinner" in f]
    assert "grid_size 48 holds it" in lamp and "32³" in lamp, lamp
    v, c = prepare_views(imgs, cams, masks)
    assert float(thin_part_lost(v, c, 48).max()) <= 0.03 < float(thin_part_lost(v, c, 32).max())
    (renumbered,) = grid_findings(v[1:], c[1:], 32, numbers=[1, 2, 3, 4, 5])
    worst = int(thin_part_lost(v[1:], c[1:], 32).argmax())
    assert f"of view {worst + 2}'s silhouette" in renumbered, renumbered
