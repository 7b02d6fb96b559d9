import math

import pytest
import torch

from core.cameras import Cameras, orbit
from core.fields import Background, make_field
from core.losses import LossTerm, RayRequest
from core.losses.reference import ReferenceViewsLoss, pearson
from core.optimize import optimize
from core.render.occupancy import OccupancyGrid
from core.render.volume import render_rays, render_views
from core.world import get_object, render_object


class AnalyticSphere(torch.nn.Module):
    """A test double of a field: a ball of radius r, as a constant density or as an exact SDF."""

    def __init__(self, geometry="density", r=0.3, density=5.0, inv_s=2000.0):
        super().__init__()
        self.geometry, self.r, self.density, self.bound = geometry, r, density, 0.6
        self._inv_s = torch.tensor(inv_s)
        self.background = Background("solid", (0.0, 0.0, 0.0))
        self.calls = 0

    @property
    def inv_s(self):
        return self._inv_s

    def geometry_value(self, p):
        return self.query(p)[0]

    def query(self, p):
        self.calls += p.shape[0]
        d = p.norm(dim=-1) - self.r
        albedo = torch.tensor([0.2, 0.5, 0.8]).expand(p.shape[0], 3)
        if self.geometry == "sdf":
            return d, albedo
        return torch.where(d < 0, torch.full_like(d, self.density), torch.zeros_like(d)), albedo

    def normals(self, p):
        return torch.nn.functional.normalize(p, dim=-1)


def center_ray(offset=0.0):
    return torch.tensor([[offset, 0.0, 2.0]]), torch.tensor([[0.0, 0.0, -1.0]])


def test_density_alpha_matches_beer_lambert():
    f = AnalyticSphere("density", r=0.3, density=2.0)
    for off in (0.0, 0.15, 0.25):
        o, d = center_ray(off)
        rec = render_rays(f, o, d, n_samples=512, perturb=False)
        chord = 2 * math.sqrt(0.3 ** 2 - off ** 2)
        assert abs(rec.alpha.item() - (1 - math.exp(-2.0 * chord))) < 0.01


def test_sdf_render_gives_an_opaque_surface_at_the_right_depth_and_normal():
    f = AnalyticSphere("sdf", r=0.3)
    o, d = center_ray(0.1)
    rec = render_rays(f, o, d, n_samples=256, perturb=False, want_normals=True)
    assert rec.alpha.item() > 0.99
    z = math.sqrt(0.3 ** 2 - 0.1 ** 2)
    assert abs(rec.depth.item() - (2.0 - z)) < 0.01
    assert torch.allclose(rec.normal[0], torch.tensor([0.1, 0.0, z]) / 0.3, atol=0.02)
    assert torch.allclose(rec.rgb[0], torch.tensor([0.2, 0.5, 0.8]), atol=0.01)
    o, d = center_ray(0.45)  # misses: the background
    assert render_rays(f, o, d, n_samples=64, perturb=False).alpha.item() < 1e-3


def test_empty_space_skipping_and_early_termination_save_work_not_accuracy():
    f = AnalyticSphere("sdf", r=0.3)
    cams = orbit(2, 10, 1.8, 40)
    full = render_views(f, cams, 32, n_samples=96, perturb=False, min_transmittance=0.0)
    grid = OccupancyGrid(0.6, 32)
    grid.update(f, 0.01)
    assert grid.fraction() < 0.5
    fast = render_views(f, cams, 32, n_samples=96, perturb=False, occupancy=grid)
    assert (fast.rgb - full.rgb).abs().max() < 0.02
    assert fast.extras["samples_evaluated"] < 0.5 * full.extras["samples_evaluated"]


def test_chunking_does_not_change_the_image():
    field = make_field("neus")
    cams = orbit(2, 20, 1.8, 40)
    with torch.no_grad():
        a = render_views(field, cams, 24, chunk=100, perturb=False)
        b = render_views(field, cams, 24, chunk=100000, perturb=False)
    assert torch.allclose(a.rgb, b.rgb, atol=1e-5) and torch.allclose(a.depth, b.depth, atol=1e-5)


def test_fields_start_as_documented():
    neus = make_field("neus", init_radius=0.3)
    p = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]])
    assert torch.allclose(neus.geometry_value(p), torch.tensor([-0.3, 0.2]), atol=0.02)
    nerf = make_field("nerf", blob_density=10.0, blob_radius=0.5)
    dens = nerf.geometry_value(p)
    assert dens[0] > 5 and dens[1] < 1  # a blob at the center
    g = neus.gradient(torch.tensor([[0.3, 0.0, 0.0]]))
    assert torch.allclose(g, torch.tensor([[1.0, 0.0, 0.0]]), atol=0.05)


def test_clone_is_independent_and_works_from_inference_tensors():
    with torch.inference_mode():
        field = make_field("neus")
    c = field.clone()
    assert not any(p.is_inference() for p in c.parameters())
    with torch.no_grad():
        next(c.parameters()).add_(1.0)
    assert not torch.equal(next(c.parameters()), next(field.parameters()))


def _reference(name="cube", n=8, res=32):
    cams = orbit(n, 20, 1.8, 40)
    ref = render_object(get_object(name), cams, res, shading="albedo")
    return ReferenceViewsLoss(ref.rgb, cams, masks=ref.alpha, rays_per_step=512)


def test_reference_loss_goes_down():
    res = optimize(make_field("neus"), [_reference()], steps=60, lr=1e-2, seed=0, n_samples=32)
    first = sum(h["loss"] for h in res.history[:5]) / 5
    last = sum(h["loss"] for h in res.history[-5:]) / 5
    assert last < 0.5 * first


def test_same_seed_same_result():
    torch.manual_seed(0)
    field = make_field("nerf")
    a = optimize(field.clone(), [_reference(n=4, res=16)], steps=5, seed=3, n_samples=16)
    b = optimize(field.clone(), [_reference(n=4, res=16)], steps=5, seed=3, n_samples=16)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]


class NaNAt(LossTerm):
    name = "exploding"

    def __init__(self, at):
        super().__init__()
        self.at = at

    def loss(self, field, record, step, total):
        v = sum(p.sum() for p in field.parameters()) * 0.0
        return v + (float("nan") if step == self.at else 0.0), {}


def test_nan_loss_stops_and_keeps_the_last_good_field():
    field = make_field("neus")
    ref = _reference(n=4, res=16)
    snapshots = []
    res = optimize(field, [ref, NaNAt(3)], steps=10, seed=0, n_samples=16,
                   on_progress=lambda s, n, l: snapshots.append([p.detach().clone() for p in field.parameters()]))
    assert res.steps_done == 3
    assert "step 3" in res.stopped and "exploding" in res.stopped
    assert all(torch.equal(a, b) for a, b in zip(snapshots[-1], res.field.parameters()))


def test_reference_loss_refuses_mismatched_inputs():
    cams = orbit(4)
    with pytest.raises(ValueError, match="4 cameras"):
        ReferenceViewsLoss(torch.zeros(3, 8, 8, 3), cams)
    with pytest.raises(ValueError, match="no reference views"):
        ReferenceViewsLoss(torch.zeros(0, 8, 8, 3), Cameras(torch.zeros(0, 4, 4), torch.zeros(0)))
    with pytest.raises(ValueError, match="masks must be"):
        ReferenceViewsLoss(torch.zeros(4, 8, 8, 3), cams, masks=torch.zeros(4, 9, 8))
    with pytest.raises(ValueError, match="nothing to optimize"):
        optimize(make_field("nerf"), [], steps=1)


def test_pearson():
    a = torch.randn(100)
    assert abs(pearson(a, 3 * a + 1).item() - 1) < 1e-5
    assert abs(pearson(a, -a).item() + 1) < 1e-5


def test_triplane_fields_fit_too():
    torch.manual_seed(0)
    field = make_field("neus", encoding="triplane", encoding_config=dict(resolution=64, features=8))
    res = optimize(field, [_reference()], steps=40, lr=1e-2, seed=0, n_samples=32)
    assert sum(h["loss"] for h in res.history[-5:]) < 0.6 * sum(h["loss"] for h in res.history[:5])


def test_extracting_an_empty_field_is_a_clear_error():
    from core.mesh.extract import EmptySurfaceError, field_mesh
    field = make_field("nerf", blob_density=0.0)
    with torch.no_grad():
        for p in field.net.parameters():
            p.zero_()
        field.net[-1].bias[0] = -20.0  # density ~ 0 everywhere
    with pytest.raises(EmptySurfaceError, match="nerf field is empty"):
        field_mesh(field, 32)


def test_depth_and_normal_reference_terms_pull_the_field_towards_the_truth():
    obj = get_object("cube")
    cams = orbit(6, 20, 1.8, 40)
    ref = render_object(obj, cams, 24, shading="albedo")
    cam_normals = ref.camera_normals(cams)
    term = ReferenceViewsLoss(ref.rgb, cams, masks=ref.alpha, depths=ref.depth, normals=cam_normals,
                              rays_per_step=512, rgb_weight=0.0, mask_weight=0.0, depth_weight=1.0,
                              normal_weight=1.0)
    torch.manual_seed(0)
    res = optimize(make_field("neus"), [term], steps=40, lr=1e-2, seed=0, n_samples=32)
    first, last = res.history[0], res.history[-1]
    assert -1.0 <= last["reference/depth"] < first["reference/depth"]  # negative Pearson: -1 is perfect
    assert 0.0 <= last["reference/normal"] < first["reference/normal"]


class _ViewsOnly(LossTerm):
    """Renders whole views each step and contributes nothing itself: lets a test see a shared-view regularizer."""

    name = "views"

    def request(self, step, total, generator, field=None):
        from core.losses import ViewRequest
        return ViewRequest(orbit(2, 20, 1.8, 40, azimuth_start=float(step * 37 % 360)), 16, 16)

    def loss(self, field, record, step, total):
        return record.rgb.sum() * 0, {}


def test_render_regularizers_act_on_the_views_another_loss_renders():
    from core.losses.regularizers import RenderRegularizer
    views = orbit(4, 20, 1.8, 40)

    def alpha(field):
        with torch.no_grad():
            return field.render_views(views, 16, perturb=False).alpha

    torch.manual_seed(0)
    base = make_field("nerf")
    a0 = alpha(base)
    sparse = optimize(base.clone(), [_ViewsOnly(), RenderRegularizer(sparsity=1.0)], 30, lr=0.02, n_samples=16).field
    assert alpha(sparse).mean() < 0.75 * a0.mean()  # the blob fades
    decided = optimize(base.clone(), [_ViewsOnly(), RenderRegularizer(entropy=1.0)], 30, lr=0.02, n_samples=16)
    a1 = alpha(decided.field)
    haze = lambda a: ((a > 0.05) & (a < 0.95)).float().mean()  # noqa: E731
    assert haze(a1) < haze(a0)
    # density growing outward (an inside-out blob): normals on the visible surface face away from the camera
    torch.manual_seed(0)
    res = optimize(make_field("nerf", blob_density=-4.0, blob_radius=0.3),
                   [_ViewsOnly(), RenderRegularizer(orientation=1.0)], 20, lr=0.05, n_samples=16)
    o = [h["regularizer/orientation"] for h in res.history]
    assert o[0] > 1e-3 and sum(o[-3:]) < 0.8 * sum(o[:3]), o
    with pytest.raises(ValueError, match="renders whole views"):
        optimize(base.clone(), [RenderRegularizer(sparsity=1.0)], 2)


def test_views_composite_over_per_view_backgrounds_and_say_which():
    """A solid colour per view (random-background augmentation) replaces the field's own background: rgb = colour
    over alpha + (1 - alpha) background, exactly, and the record says what each pixel was composited over; the
    same for a DMTet surface, whose own background is the field's environment MLP when it has one."""
    from core.fields.dmtet import DMTetField
    field = AnalyticSphere("sdf")
    cams = orbit(2, 0, 1.8, 40)
    own = render_views(field, cams, 16, perturb=False)
    colors = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.8, 0.3]])
    rec = render_views(field, cams, 16, perturb=False, background=colors)
    a = rec.alpha[..., None]
    assert torch.allclose(rec.background, colors[:, None, None, :].expand(-1, 16, 16, -1))
    assert torch.allclose(own.background, torch.zeros_like(own.background))  # the field's black
    assert torch.allclose(rec.rgb, own.rgb + (1 - a) * rec.background, atol=1e-6)
    assert float(a[:, 8, 8].min()) > 0.99 and float(a[:, 0, 0].max()) < 0.01
    with pytest.raises(ValueError, match="one RGB colour or one per view"):
        render_views(field, cams, 16, background=torch.ones(3, 3))
    neus = make_field("neus", background="mlp")
    dmtet = DMTetField.from_field(neus, 16)
    env = dmtet.render_views(cams, 16)
    _, dirs = cams.rays(16, 16)
    assert torch.allclose(env.background, neus.background(dirs.reshape(-1, 3)).reshape(2, 16, 16, 3), atol=1e-6)
    rec = dmtet.render_views(cams, 16, background=colors)
    assert torch.allclose(rec.rgb[:, 0, 0], colors, atol=1e-6)  # a corner: background only
    assert torch.allclose(rec.rgb, env.rgb - (1 - env.alpha[..., None]) * (env.background - rec.background),
                          atol=1e-5)


def test_neus_sharpness_is_capped_while_the_run_warms_up():
    """The cap grows geometrically from 20 to 2000 over the first half, then lifts; the optimizer applies it each
    step and lifts it when the run ends (the torus it opens: tests/core/test_fit_world.py)."""
    neus = make_field("neus", init_variance=0.6)  # s = exp(6) = 403 uncapped
    neus.anneal(0, 100)
    assert float(neus.inv_s.detach()) == pytest.approx(20.0)
    neus.anneal(25, 100)
    assert float(neus.inv_s.detach()) == pytest.approx(200.0, rel=1e-4)
    neus.anneal(50, 100)
    assert float(neus.inv_s.detach()) == pytest.approx(403.4, rel=1e-3)
    seen, fresh = [], make_field("neus")
    term = ReferenceViewsLoss(torch.rand(1, 8, 8, 3), orbit(1, 0, 1.8, 40), rays_per_step=64)
    res = optimize(fresh, [term], 4, on_progress=lambda s, n, logs: seen.append(fresh.max_inv_s))
    assert seen[:2] == pytest.approx([20.0, 200.0]) and seen[2:] == [None, None] and res.field.max_inv_s is None
    with pytest.raises(ValueError, match="fraction of the run"):
        make_field("neus", sharpness_warmup=2.0)
