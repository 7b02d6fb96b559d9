"""Our cameras as EG3D's camera conditioning c, checked against EG3D's own definitions (camera_utils: the
LookAtPoseSampler, create_cam2world_matrix and FOV_to_intrinsics formulas, re-derived here from its code) and by
projecting points: the same world point lands on the same pixel in both conventions."""
import math

import pytest
import torch

from core.cameras import Cameras, eg3d_frame, from_eg3d, to_eg3d


def _normalize(v):
    return v / v.norm(dim=-1, keepdim=True)


def _eg3d_look_at(h, v, lookat, radius):
    """EG3D's LookAtPoseSampler.sample without noise: a camera on the sphere of `radius` about the world origin
    (horizontal angle h, vertical v), aimed at `lookat`; create_cam2world_matrix's axes (OpenCV)."""
    v = min(max(v, 1e-5), math.pi - 1e-5)
    theta, phi = h, math.acos(1 - 2 * (v / math.pi))
    origin = torch.tensor([radius * math.sin(phi) * math.cos(math.pi - theta), radius * math.cos(phi),
                           radius * math.sin(phi) * math.sin(math.pi - theta)])
    forward = _normalize(torch.tensor(lookat) - origin)
    right = -_normalize(torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0]), forward))
    up = _normalize(torch.linalg.cross(forward, right))
    m = torch.eye(4)
    m[:3, :3] = torch.stack([right, up, forward], -1)
    m[:3, 3] = origin
    return m


def _eg3d_intrinsics(fov_degrees):
    focal = 1 / (math.tan(fov_degrees * 3.14159 / 360) * 1.414)  # FOV_to_intrinsics' own constants
    return torch.tensor([[focal, 0, 0.5], [0, focal, 0.5], [0, 0, 1]])


def _eg3d_project(c, points):
    """Normalized image coordinates (u right, v down, 0..1) of world points under EG3D's c."""
    m, K = c[:16].reshape(4, 4), c[16:].reshape(3, 3)
    pc = (points - m[:3, 3]) @ m[:3, :3]
    return torch.stack([K[0, 0] * pc[:, 0] / pc[:, 2] + K[0, 2], K[1, 1] * pc[:, 1] / pc[:, 2] + K[1, 2]], -1)


POSES = [(0.0, 0.0), (0.4, -0.2), (-0.4, -0.2), (1.2, 0.3), (2.8, -0.6)]  # (yaw, pitch) as gen_samples.py uses


@pytest.mark.parametrize("yaw,pitch", POSES)
def test_eg3d_poses_round_trip_and_project_like_eg3d(yaw, pitch):
    scale, offset = eg3d_frame()
    c = torch.cat([_eg3d_look_at(math.pi / 2 + yaw, math.pi / 2 + pitch, [0, 0, 0.2], 2.7).reshape(-1),
                   _eg3d_intrinsics(18.837).reshape(-1)])
    cams = from_eg3d(c, scale, offset)
    assert torch.allclose(to_eg3d(cams, scale, offset)[0], c, atol=1e-5)
    # the same world points (EG3D's head box) on the same pixels: ours (in our world) vs EG3D's (in its own)
    ours_pts = torch.rand(50, 3, generator=torch.Generator().manual_seed(0)) - 0.5
    pix, depth = cams.project(ours_pts, 512)
    theirs = _eg3d_project(c, ours_pts * scale + torch.tensor(offset))
    assert (depth > 0).all() and torch.allclose(pix[0] / 512, theirs, atol=1e-5)
    # our azimuth / elevation: EG3D's yaw turns the camera towards +x (our azimuth), its negative pitch lifts it
    if yaw:
        assert (float(cams.azimuth[0]) > 0) == (yaw > 0)
    if pitch:
        assert (float(cams.elevation[0]) > 0) == (pitch < 0)


def test_our_front_camera_is_eg3ds_canonical_camera():
    """Our default camera (front, distance 1.8) in the FFHQ frame is exactly the conditioning camera EG3D's scripts
    use (LookAtPoseSampler(pi/2, pi/2, pivot, 2.7), FOV 18.837)."""
    scale, offset = eg3d_frame()
    fov = math.degrees(2 * math.atan(0.5 / float(_eg3d_intrinsics(18.837)[0, 0])))
    c = to_eg3d(Cameras.from_spherical(0.0, 0.0, 1.8, fov), scale, offset)[0]
    want = torch.cat([_eg3d_look_at(math.pi / 2, math.pi / 2, [0, 0, 0.2], 2.7).reshape(-1),
                      _eg3d_intrinsics(18.837).reshape(-1)])
    assert torch.allclose(c, want, atol=1e-5), (c, want)


def test_a_conditioning_of_the_wrong_width_or_shape_is_refused():
    with pytest.raises(ValueError, match=r"25 values per camera .* got shape \(2, 24\)"):
        from_eg3d(torch.zeros(2, 24))
    c = to_eg3d(Cameras.from_spherical(10.0, 30.0, 1.8, 20.0))[0].clone()
    c[16 + 2] = 0.4  # principal point off the centre
    with pytest.raises(ValueError, match="square pinholes"):
        from_eg3d(c)
