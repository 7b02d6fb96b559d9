import math

import pytest
import torch

from core.cameras import CameraDistribution, Cameras, direction_label, look_at, orbit, to_mvdream


def test_front_camera_looks_down_minus_z_with_y_up():
    cam = Cameras.from_spherical(0.0, 0.0, 2.0, 40.0)
    c2w = cam.c2w[0]
    assert torch.allclose(c2w[:3, 3], torch.tensor([0.0, 0.0, 2.0]), atol=1e-6)
    assert torch.allclose(c2w[:3, 2], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)  # camera -Z points at the origin
    assert torch.allclose(c2w[:3, 1], torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)  # up is +Y
    assert torch.allclose(c2w[:3, 0], torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)  # image right is +X


def test_spherical_roundtrip_and_azimuth_convention():
    el = torch.tensor([-30.0, 0.0, 15.0, 60.0, 89.0])
    az = torch.tensor([-170.0, 0.0, 90.0, 135.0, -45.0])
    cams = Cameras.from_spherical(el, az, torch.tensor([1.0, 1.5, 2.0, 2.5, 3.0]), 50.0)
    assert torch.allclose(cams.elevation, el, atol=1e-3)
    assert torch.allclose(cams.azimuth, az, atol=1e-3)
    assert torch.allclose(cams.distance, torch.tensor([1.0, 1.5, 2.0, 2.5, 3.0]), atol=1e-5)
    # azimuth 90 sits on +X
    assert cams.position[2, 0] > 1.9 * math.cos(math.radians(15)) - 1e-3


def test_rays_hit_the_center_and_project_back():
    cams = orbit(6, elevation=20, distance=2.0, fov=45)
    o, d = cams.rays(33, 33)
    center = d[:, 16, 16]
    to_origin = torch.nn.functional.normalize(-cams.position, dim=-1)
    assert torch.allclose(center, to_origin, atol=1e-5)
    # a point along pixel (5, 27)'s ray projects back onto that pixel center
    p = o[:, 5, 27] + 1.3 * d[:, 5, 27]
    uv, depth = cams.project(p[0:1], 33, 33)
    assert torch.allclose(uv[0, 0], torch.tensor([27.5, 5.5]), atol=1e-3)
    assert depth[0, 0] > 0


def test_matrices_roundtrip_and_batching():
    cams = orbit(4)
    again = Cameras.from_matrices(cams.c2w, cams.fov)
    assert torch.equal(again.c2w, cams.c2w)
    assert len(Cameras.cat([cams, cams[1:3]])) == 6
    assert len(cams[0]) == 1
    with pytest.raises(ValueError, match="4,4"):
        Cameras.from_matrices(torch.eye(3), 40)
    with pytest.raises(ValueError, match="fields of view"):
        Cameras(torch.eye(4).repeat(3, 1, 1), torch.tensor([40.0, 50.0]))


def test_look_at_straight_down_is_well_defined():
    c2w = look_at(torch.tensor([[0.0, 2.0, 0.0]]))
    assert torch.isfinite(c2w).all()
    assert torch.allclose(c2w[0, :3, 2], torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)


def test_direction_labels():
    assert direction_label(10, 0) == "front"
    assert direction_label(10, 90) == "side"
    assert direction_label(10, -100) == "side"
    assert direction_label(10, 180) == "back"
    assert direction_label(10, -170) == "back"
    assert direction_label(75, 0) == "overhead"
    assert orbit(4, elevation=10).direction_labels() == ["front", "side", "back", "side"]


def test_random_distribution_respects_ranges_and_seed():
    dist = CameraDistribution((0, 30), (-90, 90), (1.5, 2.0), (40, 70))
    a = dist.sample(500, torch.Generator().manual_seed(3))
    b = dist.sample(500, torch.Generator().manual_seed(3))
    assert torch.equal(a.c2w, b.c2w)
    assert a.elevation.min() >= -1e-3 and a.elevation.max() <= 30 + 1e-3
    assert a.azimuth.min() >= -90 - 1e-3 and a.azimuth.max() <= 90 + 1e-3
    assert a.distance.min() >= 1.5 - 1e-4 and a.distance.max() <= 2.0 + 1e-4
    assert a.fov.min() >= 40 and a.fov.max() <= 70
    # the whole range is used, not a corner of it
    assert a.azimuth.max() - a.azimuth.min() > 150
    with pytest.raises(ValueError, match="low <= high"):
        CameraDistribution(elevation_range=(30, 0))


def test_mvdream_cameras_are_its_published_default_four():
    """MVDream's get_camera(4, elevation=15, azimuth_start=0) (camera_utils.py: OpenGL look-at on the unit sphere,
    azimuth from +z towards +x, then flip_yz into Blender's z-up world), written out: our orbit at any distance
    converts to exactly these."""
    c, s = math.cos(math.radians(15)), math.sin(math.radians(15))
    published = torch.tensor([
        [[1, 0, 0, 0], [0, s, -c, -c], [0, c, s, s], [0, 0, 0, 1]],     # azimuth 0: the front
        [[0, -s, c, c], [1, 0, 0, 0], [0, c, s, s], [0, 0, 0, 1]],      # azimuth 90
        [[-1, 0, 0, 0], [0, -s, c, c], [0, c, s, s], [0, 0, 0, 1]],     # azimuth 180: the back
        [[0, s, -c, -c], [-1, 0, 0, 0], [0, c, s, s], [0, 0, 0, 1]],    # azimuth 270
    ], dtype=torch.float32)
    for distance in (1.0, 1.8, 3.5):
        got = to_mvdream(orbit(4, 15.0, distance, 40.0))
        assert got.shape == (4, 16)
        assert torch.allclose(got.reshape(4, 4, 4), published, atol=1e-6), got.reshape(4, 4, 4)
    # z is up in MVDream's world: a camera above the object has a positive z translation
    above = to_mvdream(Cameras.from_spherical(60.0, 30.0, 2.0, 40.0))
    assert float(above[0, 11]) == pytest.approx(math.sin(math.pi / 3))


def test_grouped_distribution_draws_mvdream_camera_groups():
    dist = CameraDistribution((0, 30), (-180, 180), (1.5, 2.0), (40, 50), views_per_group=4)
    cams = dist.sample(8, torch.Generator().manual_seed(3))
    for g in range(2):
        grp = cams[list(range(4 * g, 4 * g + 4))]
        for q in (grp.elevation, grp.distance, grp.fov):
            assert torch.allclose(q, q[:1].expand(4), atol=1e-4)
        steps = torch.remainder(grp.azimuth.diff(), 360.0)
        assert torch.allclose(steps, torch.full((3,), 90.0), atol=1e-3)
    assert not torch.allclose(cams.elevation[0], cams.elevation[4])  # groups differ
    with pytest.raises(ValueError, match="cannot form groups of 4 views"):
        dist.sample(6)
