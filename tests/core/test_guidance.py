import pytest
import torch

from core.cameras import Cameras, orbit
from core.priors import add_noise, eps_to_v, eps_to_x0, linear_beta_alphas_cumprod, v_to_eps, x0_to_eps
from core.priors.world_prior import WorldPrior
from core.metrics import psnr
from core.world import get_object, render_object

AC = linear_beta_alphas_cumprod()


def test_eps_v_x0_conversions_round_trip():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 3, 8, 8, generator=g)
    eps = torch.randn(4, 3, 8, 8, generator=g)
    t = torch.tensor([1, 250, 600, 999])
    x_t = add_noise(x0, eps, t, AC)
    assert torch.allclose(eps_to_x0(x_t, eps, t, AC), x0, atol=1e-4)
    assert torch.allclose(x0_to_eps(x_t, x0, t, AC), eps, atol=1e-3)
    assert torch.allclose(v_to_eps(x_t, eps_to_v(x_t, eps, t, AC), t, AC), eps, atol=1e-4)
    # v's definition: alpha eps - sigma x0
    a = AC[t].reshape(-1, 1, 1, 1)
    assert torch.allclose(eps_to_v(x_t, eps, t, AC), a.sqrt() * eps - (1 - a).sqrt() * x0, atol=1e-4)


def brute_force_posterior_mean(prior, x_t, t, names, cameras, backgrounds=None):
    """The MMSE estimate written out image by image, in float64. backgrounds: per view None (the grid's), an RGB
    colour (the objects rendered anew over it) or an image [3,R,R] in [-1,1] (the layers composited over it)."""
    a = prior.alphas_cumprod[t].double()
    outs = []
    for b in range(x_t.shape[0]):
        logs, ys = [], []
        q = torch.nn.functional.normalize(cameras.position[b].double(), dim=0)
        angles = torch.acos((prior.dirs.double() @ q).clamp(-1, 1))
        bg = None if backgrounds is None else backgrounds[b]
        for n in names:
            if bg is None:
                images = prior.render_set(n)
            elif isinstance(bg, tuple):
                images = render_object(get_object(n), prior.cameras, prior.resolution, shading="albedo",
                                       background=bg).rgb.permute(0, 3, 1, 2) * 2 - 1
            else:
                lay = prior.layers(n)
                images = lay[:, :3] + (1 - lay[:, 3:]) * bg
            for k in range(images.shape[0]):
                y = images[k].double()
                lw = -((x_t[b].double() - a[b].sqrt() * y) ** 2).sum() / (2 * (1 - a[b]))
                if prior.mode == "view-aware":
                    ang = angles[k]
                    near = ang <= prior.max_angle or ang <= angles.min() + 1e-6
                    lw = lw - ang ** 2 / (2 * prior.kernel ** 2) if near else torch.tensor(-1e30)
                logs.append(lw)
                ys.append(y)
        w = torch.softmax(torch.stack(logs), 0)
        outs.append((w[:, None, None, None] * torch.stack(ys)).sum(0))
    return torch.stack(outs).float()


@pytest.mark.parametrize("mode", ["view-aware", "2D"])
def test_world_prior_is_the_exact_posterior_mean(mode):
    prior = WorldPrior(32, mode=mode, elevations=(0, 30), azimuth_step=45.0)
    cams = orbit(3, 15, 1.8, 40, azimuth_start=10)
    g = torch.Generator().manual_seed(1)
    truth = render_object(get_object("duck"), cams, 32, shading="albedo").rgb.permute(0, 3, 1, 2) * 2 - 1
    t = torch.tensor([100, 500, 900])
    x_t = add_noise(truth, torch.randn(truth.shape, generator=g), t, prior.alphas_cumprod)
    names = ("duck", "mug")
    ours = prior.posterior_mean(x_t, t, names, cams)
    assert torch.allclose(ours, brute_force_posterior_mean(prior, x_t, t, names, cams), atol=1e-4)


@pytest.mark.parametrize("mode", ["view-aware", "2D"])
def test_world_prior_posterior_is_exact_for_the_background_each_view_used(mode):
    """Renders over per-view solid colours (and one non-uniform background, as a learned environment gives) are
    judged against the objects over that same background: the prior's layered sets composited exactly, equal to
    the brute force over fresh renders of the objects on that colour. A white object on a white background is
    what an empty field matches; on a coloured one it is not."""
    prior = WorldPrior(32, mode=mode, elevations=(0, 30), azimuth_step=45.0)
    cams = orbit(3, 15, 1.8, 40, azimuth_start=10)
    colors = [(0.2, 0.7, 0.1), (0.9, 0.1, 0.5), None]
    ramp = torch.linspace(-1, 1, 32)
    image = torch.stack([ramp[None].expand(32, 32), ramp[:, None].expand(32, 32), -ramp[None].expand(32, 32)])
    snowman = get_object("snowman")
    truth = torch.cat([render_object(snowman, cams[[i]], 32, shading="albedo", background=c).rgb
                       for i, c in enumerate(colors[:2])] + [render_object(snowman, cams[[2]], 32,
                                                                           shading="albedo").rgb]).permute(0, 3, 1, 2)
    truth = truth * 2 - 1
    t = torch.tensor([100, 500, 900])
    x_t = add_noise(truth, torch.randn(truth.shape, generator=torch.Generator().manual_seed(1)), t, AC)
    bg = torch.stack([(2 * torch.tensor(c) - 1)[:, None, None].expand(3, 32, 32) for c in colors[:2]] + [image])
    names = ("snowman", "duck")
    ours = prior.posterior_mean(x_t, t, names, cams, background=bg)
    want = brute_force_posterior_mean(prior, x_t, t, names, cams, backgrounds=[*colors[:2], image])
    assert torch.allclose(ours, want, atol=1e-4)
    # the default (no background given) is the grid's white, and the white render set is the layers over white
    white = torch.ones(3, 3, 32, 32)
    assert torch.allclose(prior.posterior_mean(x_t, t, names, cams, background=white),
                          prior.posterior_mean(x_t, t, names, cams), atol=1e-5)
    # the background matters: a snowman over green, denoised at low noise, is far closer to the truth when the prior
    # is told the green than when it assumes its own white
    low = torch.tensor([50, 50, 50])
    x_low = add_noise(truth, torch.randn(truth.shape, generator=torch.Generator().manual_seed(2)), low, AC)
    told = prior.posterior_mean(x_low, low, ("snowman",), cams, background=bg)
    assumed = prior.posterior_mean(x_low, low, ("snowman",), cams)
    err = lambda x0: float((x0[:2] - truth[:2]).pow(2).mean())  # noqa: E731
    assert err(told) < err(assumed) / 4, (err(told), err(assumed))
    with pytest.raises(ValueError, match="backgrounds .* do not match the renders"):
        prior.posterior_mean(x_t, t, names, cams, background=bg[:, :, :16])


def brute_force_joint_posterior_mean(prior, x_t, t, names, cameras):
    """MVDream-mode MMSE written out tuple by tuple: every object, every grid camera as the group's first view
    (the other views at the same elevation, shifted by their azimuth offsets), in float64."""
    a = prior.alphas_cumprod[t].double()
    v, step = prior.views, prior.grid["azimuth_step"]
    n_az = int(round(360 / step))
    outs = []
    for g in range(x_t.shape[0] // v):
        first = cameras[g * v]
        q = torch.nn.functional.normalize(first.position[0].double(), dim=0)
        angles = torch.acos((prior.dirs.double() @ q).clamp(-1, 1))
        shift = [round(float(torch.remainder(cameras.azimuth[g * v + i] - cameras.azimuth[g * v], 360)) / step)
                 for i in range(v)]
        els = [float(cameras.elevation[g * v + i]) for i in range(v)]
        grid_rows = [min(range(len(prior.grid["elevations"])), key=lambda r: abs(prior.grid["elevations"][r] - e))
                     for e in els]
        drow = [0] * v if max(els) - min(els) < 0.5 else [r - grid_rows[0] for r in grid_rows]
        logs, tuples = [], []
        for n in names:
            images = prior.render_set(n)
            for k in range(images.shape[0]):
                if not (angles[k] <= prior.max_angle or angles[k] <= angles.min() + 1e-6):
                    continue
                row, col = divmod(k, n_az)
                if not all(0 <= row + d < len(prior.grid["elevations"]) for d in drow):
                    continue
                tup = [images[(row + d) * n_az + (col + s) % n_az].double() for d, s in zip(drow, shift)]
                lw = -angles[k] ** 2 / (2 * prior.kernel ** 2)
                for i in range(v):
                    lw = lw - ((x_t[g * v + i].double() - a[g * v + i].sqrt() * tup[i]) ** 2).sum() / (
                        2 * (1 - a[g * v + i]))
                logs.append(lw)
                tuples.append(torch.stack(tup))
        w = torch.softmax(torch.stack(logs), 0)
        outs.append((w[:, None, None, None, None] * torch.stack(tuples)).sum(0))
    return torch.cat(outs).float()


def _noisy_group(prior, name, cams):
    """(true renders [8,3,32,32] in [-1,1], a spread of timesteps, the renders noised to them, seeded)."""
    truth = render_object(get_object(name), cams, 32, shading="albedo").rgb.permute(0, 3, 1, 2) * 2 - 1
    t = torch.tensor([100, 300, 500, 700, 900, 600, 400, 200])
    x_t = add_noise(truth, torch.randn(truth.shape, generator=torch.Generator().manual_seed(1)), t,
                    prior.alphas_cumprod)
    return truth, t, x_t


def test_multi_view_world_prior_is_the_exact_joint_posterior_mean_and_mixes_views():
    """Groups of 4 views (MVDream's r + i·90°) denoised jointly = the brute-force tuple posterior; changing one
    view's input changes the other views' outputs (views are mixed), which the per-view prior never does."""
    prior = WorldPrior(32, mode="multi-view", elevations=(0, 30), azimuth_step=45.0, views=4)
    cams = Cameras.cat([orbit(4, 15, 1.8, 40, azimuth_start=10), orbit(4, 25, 1.8, 40, azimuth_start=-60)])
    truth, t, x_t = _noisy_group(prior, "duck", cams)
    names = ("duck", "mug", "snowman")
    ours = prior.posterior_mean(x_t, t, names, cams)
    assert torch.allclose(ours, brute_force_joint_posterior_mean(prior, x_t, t, names, cams), atol=1e-4)
    single = WorldPrior(32, mode="view-aware", elevations=(0, 30), azimuth_step=45.0)
    tt = torch.full((8,), 700)
    x_a = add_noise(truth, torch.randn(truth.shape, generator=torch.Generator().manual_seed(2)), tt, AC)
    x_b = x_a.clone()
    x_b[1] = add_noise(render_object(get_object("mug"), cams[[1]], 32, shading="albedo").rgb.permute(0, 3, 1, 2)
                       * 2 - 1, torch.randn((1, 3, 32, 32), generator=torch.Generator().manual_seed(3)), tt[:1], AC)
    for p, mixes in ((prior, True), (single, False)):
        d = (p.posterior_mean(x_a, tt, names, cams) - p.posterior_mean(x_b, tt, names, cams)).abs().flatten(1).amax(1)
        assert bool(d[0] > 1e-3) == mixes and bool(d[2] > 1e-3) == mixes, (p.mode, d)
        assert float(d[4:].max()) < 1e-6  # the other group is untouched either way
    with pytest.raises(ValueError, match="cannot be grouped; use a multiple of 4"):
        prior.posterior_mean(x_t[:6], t[:6], names, cams[list(range(6))])
    with pytest.raises(ValueError, match="share one elevation, or take each of its elevations from the prior's grid"):
        prior.posterior_mean(x_t[:4], t[:4], names, Cameras.cat([cams[[0, 1, 2]], cams[[5]]]))
    with pytest.raises(ValueError, match="cannot split the 45° azimuth grid evenly"):
        WorldPrior(32, mode="multi-view", azimuth_step=45.0, views=3)


def test_a_group_at_two_elevations_is_the_exact_joint_posterior_mean():
    """Zero123++-style groups (views alternating above and below) on the grid's elevations are denoised jointly,
    exactly as the tuple posterior written out says; views from below see what a ring at one elevation cannot."""
    from core.cameras import alternating_orbit
    prior = WorldPrior(32, mode="multi-view", elevations=(0, 30), azimuth_step=45.0, views=4)
    cams = Cameras.cat([alternating_orbit(4, 30.0, 0.0, azimuth_start=0.0),
                        alternating_orbit(4, 0.0, 30.0, azimuth_start=45.0)])
    truth, t, x_t = _noisy_group(prior, "table", cams)
    names = ("table", "mug", "chair")
    ours = prior.posterior_mean(x_t, t, names, cams)
    assert torch.allclose(ours, brute_force_joint_posterior_mean(prior, x_t, t, names, cams), atol=1e-4)
    assert (ours[:1] - truth[:1]).abs().mean() < 0.05  # the low-noise view is the table's
    two = prior.grouped(8)  # the sampler's copy: the eight views as one group, the original's group unchanged
    assert two.views == 8 and prior.views == 4 and prior.grouped(4) is prior
    assert torch.allclose(two.posterior_mean(x_t, t, names, cams),
                          brute_force_joint_posterior_mean(two, x_t, t, names, cams), atol=1e-4)


def test_view_aware_prior_denoises_to_the_right_view_and_2d_does_not_care():
    cams = orbit(2, 30, 1.8, 40)  # front and back, on the prior's grid
    obj = get_object("snowman")
    truth = render_object(obj, cams, 32, shading="albedo").rgb.permute(0, 3, 1, 2) * 2 - 1
    view_aware = WorldPrior(32, "view-aware", elevations=(30,), azimuth_step=30.0)
    # pure noise, late timestep: the view-aware prior still produces the view at the camera
    x_t = torch.randn(truth.shape, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([990, 990])
    cond, _ = view_aware.condition("a snowman")
    x0 = view_aware.posterior_mean(x_t, t, cond, cams)
    assert psnr((x0 + 1) / 2, (truth + 1) / 2) > 14
    with pytest.raises(ValueError, match="names no object"):
        view_aware.condition("a giraffe")
    with pytest.raises(ValueError, match="32 or 64"):
        WorldPrior(48)


def test_sds_gradient_is_w_times_eps_difference():
    from core.losses.sds import sds_from_eps, sds_weight
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 3, 8, 8, generator=g, requires_grad=True)
    eps_hat, eps = torch.randn(3, 3, 8, 8, generator=g), torch.randn(3, 3, 8, 8, generator=g)
    t = torch.tensor([50, 500, 950])
    w = sds_weight("sds", AC, t)
    loss, _ = sds_from_eps(x, eps_hat, eps, w)
    loss.backward()
    expected = w.reshape(-1, 1, 1, 1) * (eps_hat - eps) / 3
    assert torch.allclose(x.grad, expected, atol=1e-6)
    assert torch.allclose(sds_weight("fantasia3d", AC, t), AC[t].sqrt() * (1 - AC[t]))
    assert torch.equal(sds_weight("uniform", AC, t), torch.ones(3))


def test_cfg_and_rescale_formulas():
    from core.priors import cfg, cfg_rescale
    u, c = torch.zeros(2, 4), torch.ones(2, 4)
    assert torch.equal(cfg(u, c, 7.5), torch.full((2, 4), 7.5))
    g = torch.Generator().manual_seed(0)
    x0_cfg, x0_cond = torch.randn(4, 3, 5, 5, generator=g) * 4, torch.randn(4, 3, 5, 5, generator=g)
    full = cfg_rescale(x0_cfg, x0_cond, 1.0)
    assert torch.allclose(full.reshape(4, -1).std(1), x0_cond.reshape(4, -1).std(1), atol=1e-5)
    half = cfg_rescale(x0_cfg, x0_cond, 0.5)
    assert torch.allclose(half, 0.5 * full + 0.5 * x0_cfg, atol=1e-6)
    grouped = cfg_rescale(x0_cfg, x0_cond, 1.0, group=4)  # one std over the group of 4 views
    assert torch.allclose(grouped.std(), x0_cond.std(), atol=1e-5)
    with pytest.raises(ValueError, match="groups of 3"):
        cfg_rescale(x0_cfg, x0_cond, 1.0, group=3)


def test_timestep_schedules():
    from core.losses.sds import timestep_bounds
    start, end = (0.02, 0.98), (0.02, 0.5)
    assert timestep_bounds("linear", 0, 100, start, end) == start
    assert timestep_bounds("linear", 25, 100, start, end) == pytest.approx((0.02, 0.74))
    assert timestep_bounds("linear", 80, 100, start, end) == pytest.approx(end)
    assert timestep_bounds("step", 49, 100, start, end) == start and timestep_bounds("step", 50, 100, start, end) == end
    windows = [timestep_bounds("dreamtime", s, 100, start, end) for s in range(100)]
    highs = [hi for _, hi in windows]
    assert highs == sorted(highs, reverse=True) and highs[0] == 0.98 and windows[-1][0] == pytest.approx(0.02)
    assert all(hi - lo <= 0.1 + 1e-9 for lo, hi in windows)
    with pytest.raises(ValueError, match="linear, step, dreamtime"):
        timestep_bounds("cosine", 0, 10, start, end)


def test_sds_term_checks_its_inputs_and_uses_the_priors_cameras():
    from core.cameras import CameraDistribution
    from core.priors import PromptedPrior
    from core.losses.sds import SDSLoss
    prior = PromptedPrior(WorldPrior(32, elevations=(0, 30), azimuth_step=45.0), "a duck")
    with pytest.raises(ValueError, match="names no object"):
        PromptedPrior(WorldPrior(32), "a giraffe")
    with pytest.raises(ValueError, match="0 < min < max"):
        SDSLoss(prior, t_min=0.5, t_max=0.2)
    with pytest.raises(ValueError, match="judges only albedo"):
        SDSLoss(prior, shading="lambertian")
    with pytest.raises(ValueError, match="weighting"):
        SDSLoss(prior, weighting="sqrt")
    # a distribution at other distances / fovs: the world prior's renders exist at 1.8 / 40 only
    term = SDSLoss(prior, CameraDistribution(distance_range=(3, 4), fov_range=(60, 70)), views_per_step=6)
    cams = term.sample_cameras(torch.Generator().manual_seed(0))
    assert torch.allclose(cams.distance, torch.full((6,), 1.8), atol=1e-5) and torch.allclose(cams.fov, torch.full((6,), 40.0))
    # a fixed camera set: a random subset of it each step
    fixed = orbit(8, 30, 1.8, 40)
    term = SDSLoss(prior, fixed, views_per_step=3)
    picked = term.sample_cameras(torch.Generator().manual_seed(0))
    assert all(any(torch.allclose(c, f, atol=1e-5) for f in fixed.c2w) for c in picked.c2w)


def test_sds_step_pulls_a_render_toward_the_object_and_previews_it():
    """One SDS step on an image (no field): the loss's gradient moves a blank render toward the prompt's object,
    and the preview stacks the renders over the prior's targets."""
    from core.priors import PromptedPrior
    from core.losses.sds import SDSLoss
    from core.render import RenderRecord
    prior = PromptedPrior(WorldPrior(32, elevations=(30,), azimuth_step=30.0), "a snowman")
    cams = orbit(4, 30, 1.8, 40)
    truth = render_object(get_object("snowman"), cams, 32, shading="albedo").rgb
    term = SDSLoss(prior, cams, views_per_step=4, guidance_scale=10.0, t_min=0.2, t_max=0.6)
    img = torch.full((4, 32, 32, 3), 0.8, requires_grad=True)
    opt = torch.optim.Adam([img], lr=0.02)
    gen = torch.Generator().manual_seed(0)
    before = psnr(img.detach(), truth)
    for step in range(60):
        term._gen, term._cams = gen, cams  # the cameras the images are "rendered" at
        rec = RenderRecord(rgb=img.clamp(0, 1), alpha=torch.ones(4, 32, 32), depth=torch.ones(4, 32, 32))
        value, logs = term.loss(None, rec, step, 60)
        opt.zero_grad()
        value.backward()
        opt.step()
    assert psnr(img.detach().clamp(0, 1), truth) > before + 6
    assert term.preview().shape == (64, 128, 3)


def test_vsd_prior_residual_estimator_starts_as_the_prior_and_learns_the_renders():
    """ProlificDreamer's design: at step 0 the residual is zero (eps_phi = the prior, as a zero-initialized LoRA);
    trained on renders that the prior does not predict (a blurred snowman), its diffusion loss falls."""
    from core.priors import PromptedPrior
    from core.losses.vsd import VSDLoss
    from core.render import RenderRecord
    prior = PromptedPrior(WorldPrior(32, elevations=(30,), azimuth_step=30.0), "a snowman")
    cams = orbit(4, 30, 1.8, 40)
    sharp = render_object(get_object("snowman"), cams, 32, shading="albedo").rgb
    blurred = torch.nn.functional.avg_pool2d(sharp.permute(0, 3, 1, 2), 5, 1, 2).permute(0, 2, 3, 1)
    term = VSDLoss(prior, cams, views_per_step=4, estimator="prior + residual", estimator_lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    term.request(0, 200, gen)
    term._cams = cams
    rec = RenderRecord(rgb=blurred.clone().requires_grad_(), alpha=torch.ones(4, 32, 32), depth=torch.ones(4, 32, 32))
    x = prior.predictor.encode(rec.rgb.detach())
    term._ensure_estimator(x)
    t = torch.tensor([100, 300, 500, 700])
    x_t = add_noise(x, torch.randn(x.shape, generator=gen), t, AC)
    base = prior.predictor.predict_eps(x_t, t, prior.conditions()[0], cams)
    assert torch.equal(term.eps_phi(x_t, t, cams), base)
    losses = []
    for step in range(150):
        value, logs = term.loss(None, rec, step, 150)
        losses.append(logs["estimator"])
        assert torch.isfinite(value)
    first, last = sum(losses[:30]) / 30, sum(losses[-30:]) / 30
    print(f"VSD estimator loss {first:.4f} -> {last:.4f}")
    assert last < 0.8 * first, (first, last)


@pytest.mark.heavy
def test_vsd_render_estimator_learns_the_renders_and_vsd_becomes_sds():
    """The estimator starts at zero (x0 = mid-gray); trained on four views of a mug (which the snowman prompt
    does not predict: it learns the renders, not the prior), its loss falls and its epsilon approaches the true
    noise at every t, so the VSD gradient approaches SDS's (ProlificDreamer: VSD with one learned particle is SDS)."""
    from core.priors import PromptedPrior
    from core.losses.vsd import VSDLoss
    from core.render import RenderRecord
    prior = PromptedPrior(WorldPrior(32, elevations=(30,), azimuth_step=30.0), "a snowman")
    cams = orbit(4, 30, 1.8, 40)
    views = render_object(get_object("mug"), cams, 32, shading="albedo").rgb
    term = VSDLoss(prior, cams, views_per_step=4)
    assert term.estimator_kind == "renders" and term.estimator_steps == 8  # auto, for the exact world prior
    gen = torch.Generator().manual_seed(0)
    term.request(0, 200, gen)
    term._cams = cams
    rec = RenderRecord(rgb=views.clone().requires_grad_(), alpha=torch.ones(4, 32, 32), depth=torch.ones(4, 32, 32))
    x = prior.predictor.encode(rec.rgb.detach())
    term._ensure_estimator(x)
    t = torch.tensor([200, 400, 600, 800])
    eps = torch.randn(x.shape, generator=gen)
    x_t = add_noise(x, eps, t, AC)
    assert torch.equal(term.estimator.x0(x_t, t, cams.c2w, AC), torch.zeros_like(x))
    before = float((term.eps_phi(x_t, t, cams) - eps).pow(2).mean())
    losses = []
    for step in range(150):
        value, logs = term.loss(None, rec, step, 150)
        losses.append(logs["estimator"])
        assert torch.isfinite(value)
    first, last = sum(losses[:30]) / 30, sum(losses[-30:]) / 30
    with torch.no_grad():
        after = float((term.eps_phi(x_t, t, cams) - eps).pow(2).mean())
    print(f"VSD estimator loss {first:.4f} -> {last:.4f}; eps error {before:.3f} -> {after:.4f}")
    assert last < 0.3 * first, (first, last)
    assert after < 0.05 * before and after < 0.02, (before, after)


def test_lora_adapts_an_inference_mode_network_only_inside_active():
    """A network built in inference mode (as ComfyUI loads models inside a prompt): freeze() makes its weights
    plain and frozen, the LoRA trains (its loss falls) without changing a single base weight, the network is the
    base outside `active`, and detach_hooks leaves no hook behind."""
    from torch import nn
    from core.priors.lora import LoRA, freeze

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.time_embedding = nn.Linear(4, 8)
            self.to_q, self.out = nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x, t):
            return self.out(torch.tanh(self.to_q(x) + self.time_embedding(t)))

    torch.manual_seed(0)
    with torch.inference_mode():
        net = Net()
    assert freeze(net) == 6 and freeze(net) == 0
    base = {k: v.clone() for k, v in net.state_dict().items()}
    lora = LoRA(net, net.time_embedding, rank=2)
    assert lora.targets == ["to_q"] and all(p is not q for p in lora.parameters() for q in net.parameters())
    x, t, c2w = torch.randn(16, 8), torch.randn(16, 4), torch.randn(16, 16)
    target = torch.randn(16, 8)
    before = net(x, t)
    with lora.active(c2w):
        assert torch.equal(net(x, t), before)  # zero-initialized: starts as the base
    opt = torch.optim.Adam(lora.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        with lora.active(c2w):
            loss = ((net(x, t) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0]
    assert all(torch.equal(v, base[k]) for k, v in net.state_dict().items())
    assert torch.equal(net(x, t), before)
    lora.detach_hooks()
    assert all(not m._forward_hooks for m in net.modules())


def test_random_backgrounds_are_refused_for_a_prior_that_cannot_judge_them():
    """A prior conditioned on a fixed reference image judges renders only over that image's background: random
    colours would be a wrong gradient, so the loss refuses them and says what to do; probabilities are 0..1."""
    from core.priors import PromptedPrior
    from core.losses.sds import SDSLoss

    class FixedBackgroundPrior(WorldPrior):
        any_background = False

    prior = PromptedPrior(FixedBackgroundPrior(32, elevations=(30,), azimuth_step=30.0), "a duck")
    with pytest.raises(ValueError, match="random backgrounds would give a wrong gradient: set the random-background"):
        SDSLoss(prior, random_background=0.5)
    SDSLoss(prior, random_background=0.0)
    with pytest.raises(ValueError, match="within 0..1"):
        SDSLoss(PromptedPrior(WorldPrior(32, elevations=(30,), azimuth_step=30.0), "a duck"), random_background=1.5)


def test_sds_draws_random_backgrounds_at_the_given_rate_and_tells_the_prior():
    """About p of the steps get one random colour per view; the world prior is handed the backgrounds the views
    were rendered over (in its [-1, 1] space), a network prior none."""
    from core.priors import PromptedPrior
    from core.losses.sds import SDSLoss
    from core.render import RenderRecord

    prior = PromptedPrior(WorldPrior(32, elevations=(30,), azimuth_step=30.0), "a duck")
    term = SDSLoss(prior, views_per_step=2, random_background=0.25)
    gen = torch.Generator().manual_seed(0)
    reqs = [term.request(s, 400, gen) for s in range(400)]
    drawn = [r.background for r in reqs if r.background is not None]
    assert 0.18 < len(drawn) / 400 < 0.32
    assert all(d.shape == (2, 3) and float(d.min()) >= 0 and float(d.max()) <= 1 for d in drawn)
    bg = torch.rand(2, 32, 32, 3)
    rec = RenderRecord(rgb=torch.rand(2, 32, 32, 3), alpha=torch.ones(2, 32, 32), depth=torch.zeros(2, 32, 32),
                       background=bg)
    assert torch.allclose(term.backgrounds(rec), bg.permute(0, 3, 1, 2) * 2 - 1)
    term.predictor.background_input = False  # as a network prior: it sees only the composite
    assert term.backgrounds(rec) is None
