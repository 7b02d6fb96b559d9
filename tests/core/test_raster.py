import torch

from core.cameras import Cameras, orbit
from core.metrics import psnr
from core.render.raster import rasterize
from core.world import get_object, render_object, true_mesh


def test_rasterized_true_mesh_matches_the_exact_renders():
    obj = get_object("snowman")
    mesh = true_mesh(obj, 96)
    cams = orbit(4, 20, 1.8, 40)
    rec = rasterize(mesh.vertices, mesh.faces, cams, 64, attributes=mesh.vertex_colors)
    true = render_object(obj, cams, 64, shading="albedo", supersample=4)
    both = (rec.alpha > 0.99) & (true.alpha > 0.99)
    assert (rec.depth - true.depth)[both].abs().mean() < 0.003  # meters
    assert psnr(rec.alpha, true.alpha) > 27
    assert psnr(rec.rgb, true.rgb) > 27
    # normals face the camera where covered
    view = -cams.c2w[:, :3, 2][:, None, None, :]
    assert ((rec.normal * view).sum(-1)[both] < 0.1).float().mean() > 0.97


def _triangle(shift=0.0):
    v = torch.tensor([[-0.3 + shift, -0.2, 0.0], [0.3, -0.25, 0.0], [0.0, 0.3, 0.0]])
    return v, torch.tensor([[0, 1, 2]])


def test_silhouette_gradient_matches_finite_differences():
    cam = Cameras.from_spherical(0.0, 0.0, 2.0, 40.0)
    v, f = _triangle()
    v = v.clone().requires_grad_(True)
    rec = rasterize(v, f, cam, 48)
    rec.alpha.sum().backward()
    grad = v.grad.clone()
    eps = 0.01
    for vi, axis in ((0, 0), (1, 1), (2, 1), (2, 0)):
        vp, vm = v.detach().clone(), v.detach().clone()
        vp[vi, axis] += eps
        vm[vi, axis] -= eps
        fd = (rasterize(vp, f, cam, 48).alpha.sum() - rasterize(vm, f, cam, 48).alpha.sum()) / (2 * eps)
        print(vi, axis, float(fd), float(grad[vi, axis]))
        assert abs(fd - grad[vi, axis]) <= 0.25 * abs(fd) + 2.0, (vi, axis, float(fd), float(grad[vi, axis]))
    # moving the left vertex outwards grows the mask: the gradient says so
    assert grad[0, 0] < 0


def test_depth_test_keeps_the_nearest_surface():
    cam = Cameras.from_spherical(0.0, 0.0, 2.0, 40.0)
    near = torch.tensor([[-0.2, -0.2, 0.2], [0.2, -0.2, 0.2], [0.0, 0.2, 0.2]])
    far = torch.tensor([[-0.4, -0.4, -0.2], [0.4, -0.4, -0.2], [0.0, 0.4, -0.2]])
    v = torch.cat([far, near])
    f = torch.tensor([[0, 1, 2], [3, 4, 5]])
    colors = torch.tensor([[1.0, 0, 0]] * 3 + [[0, 1.0, 0]] * 3)
    rec = rasterize(v, f, cam, 32, attributes=colors)
    assert torch.allclose(rec.rgb[0, 16, 16], torch.tensor([0.0, 1.0, 0.0]), atol=1e-4)
    assert abs(rec.depth[0, 16, 16].item() - 1.8) < 1e-3


def test_backend_choice_is_explicit():
    import pytest
    v, f = _triangle()
    cam = Cameras.from_spherical(0.0, 0.0, 2.0, 40.0)
    assert torch.equal(rasterize(v, f, cam, 16, backend="auto").alpha, rasterize(v, f, cam, 16, backend="torch").alpha)
    with pytest.raises(RuntimeError, match="CUDA"):
        rasterize(v, f, cam, 16, backend="nvdiffrast")
    with pytest.raises(ValueError, match="backend"):
        rasterize(v, f, cam, 16, backend="opengl")
