"""The flow path: noise paths, the flow forms of SDS (RFDS, RFDS-Rev) against their published formulas, and the
World Prior's flow form against its DDPM form (the same exact posterior, reached through a velocity)."""
import pytest
import torch

from core.cameras import CameraDistribution, Cameras
from core.priors import PromptedPrior, add_noise, eps_to_x0
from core.priors.paths import NoisePath, flow_sigma_of, flow_sigmas, path_of, velocity_gap
from core.priors.world_prior import WorldPrior, world_noise_path


def const_noise_scaling(sigma, noise, latent_image, max_denoise=False):  # ComfyUI's CONST, as written there
    return sigma * noise + (1.0 - sigma) * latent_image


def eps_noise_scaling(sigma, noise, latent_image, max_denoise=False):  # ComfyUI's EPS (max_denoise off)
    return noise * sigma + latent_image


def test_paths_are_measured_from_a_models_own_noise_scaling_and_share_one_timeline():
    sig = flow_sigmas(3.0)
    flow = path_of(sig, const_noise_scaling)
    assert flow.kind == "flow" and torch.allclose(flow.sigmas.float(), sig)
    assert float(sig[499]) == pytest.approx(0.75, abs=1e-3)  # SD3's shift 3 at t = 0.5
    ve = path_of(torch.linspace(0.03, 14.6, 1000), eps_noise_scaling)
    assert ve.kind == "variance-exploding"
    # the VP timeline: the same x and eps as the model's own path, scaled
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 16, 8, 8, generator=g), torch.randn(4, 16, 8, 8, generator=g)
    t = torch.tensor([10, 300, 700, 990])
    for path in (flow, ve):
        x_t = add_noise(x0, eps, t, path.alphas_cumprod)
        s = path.sigmas[t].float().reshape(-1, 1, 1, 1)
        native = const_noise_scaling(s, eps, x0) if path is flow else eps_noise_scaling(s, eps, x0)
        assert torch.allclose(path.to_native(x_t, t), native, atol=1e-4)
        assert torch.allclose(path.eps_from_x0(native, x0, t), eps, atol=1e-3)
    # a flow's own sigmas are where its VP timeline sits on the flow
    assert torch.allclose(flow_sigma_of(flow.alphas_cumprod), sig, atol=1e-5)
    with pytest.raises(ValueError, match="positive"):
        NoisePath.flow(torch.tensor([0.0, 0.5]))


def test_the_rfds_residual_and_rfds_rev_noise_are_the_published_formulas():
    """RFDS: v_hat - (eps - x0) with v_hat the model's velocity; RFDS-Rev's iRFDS step:
    eps' = eps + (1 - sigma)(v_c + x0 - eps). On the VP timeline they are (eps_hat - eps) / (1 - sigma) and
    eps' = eps_hat_c."""
    path = NoisePath.flow(flow_sigmas(3.0))
    ac = path.alphas_cumprod
    g = torch.Generator().manual_seed(1)
    x0, eps, eps_hat = (torch.randn(3, 4, 8, 8, generator=g) for _ in range(3))
    t = torch.tensor([50, 500, 950])
    sigma = path.sigmas[t].float().reshape(-1, 1, 1, 1)
    x = (1 - sigma) * x0 + sigma * eps                         # the flow's noisy latent
    x0_hat = eps_to_x0(add_noise(x0, eps, t, ac), eps_hat, t, ac)
    v_hat = (x - x0_hat) / sigma                              # what the flow model outputs (x0_hat = x - sigma v)
    assert torch.allclose(velocity_gap(eps_hat, eps, ac, t), v_hat - (eps - x0), atol=1e-3)
    rev = eps + (1 - sigma) * (v_hat + x0 - eps)
    assert torch.allclose(rev, eps_hat, atol=1e-3)


def test_the_flow_world_prior_is_the_exact_posterior_reached_through_its_velocity():
    flow = WorldPrior(32, "view-aware", path=world_noise_path("flow", 3.0))
    ddpm = WorldPrior(32, "view-aware")
    ddpm.alphas_cumprod = flow.alphas_cumprod  # the DDPM form on the flow's noise levels
    cond = flow.condition("a duck")[0]
    cams = Cameras.from_spherical([15.0, 30.0, 0.0], [0.0, 90.0, 200.0], 1.8, 40.0)
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1
    eps = torch.randn(3, 3, 32, 32, generator=g)
    t = torch.tensor([100, 500, 900])
    x_t = add_noise(x0, eps, t, flow.alphas_cumprod)
    e_flow = flow.predict_eps(x_t, t, cond, cams)
    e_ddpm = ddpm.predict_eps(x_t, t, cond, cams)
    assert float((e_flow - e_ddpm).abs().max()) < 1e-4
    # its native interface: x = (1 - sigma) x0 + sigma eps in, v = eps - E[x0 | x] out
    sigma = flow.path.sigmas[t].float().reshape(-1, 1, 1, 1)
    x = (1 - sigma) * x0 + sigma * eps
    v = flow.predict_velocity(x, t, cond, cams)
    assert torch.allclose(x - sigma * v, ddpm.posterior_mean(x_t, t, cond, cams), atol=1e-4)
    with pytest.raises(ValueError, match="noise form is one of ddpm, flow"):
        world_noise_path("edm")
    with pytest.raises(ValueError, match="flow shift"):
        world_noise_path("flow", 0.0)


def test_flow_forms_refuse_what_they_cannot_mean():
    from core.losses.sds import SDSLoss
    from core.losses.vsd import VSDLoss
    prior = PromptedPrior(WorldPrior(32, path=world_noise_path("flow")), "a duck")
    with pytest.raises(ValueError, match="x0-reconstruction"):
        SDSLoss(prior, CameraDistribution(), form="rfds", x0_form=True)
    with pytest.raises(ValueError, match="VSD has no random noise"):
        VSDLoss(prior, CameraDistribution(), form="rfds-rev")
    with pytest.raises(ValueError, match="unknown distillation form"):
        SDSLoss(prior, CameraDistribution(), form="vfds")


def test_rfds_steps_move_a_field_and_its_weight_is_drawn_per_view():
    from core.fields import make_field
    from core.losses.sds import SDSLoss, sds_weight
    from core.optimize import optimize
    w = sds_weight("rfds", torch.ones(10), torch.zeros(4000, dtype=torch.long), torch.Generator().manual_seed(0))
    assert 0 < float(w.min()) and float(w.max()) < 1 and abs(float(w.mean()) - 0.5) < 0.02
    prior = PromptedPrior(WorldPrior(32, path=world_noise_path("flow")), "a duck")
    cams = CameraDistribution((-10.0, 45.0), distance_range=(1.8, 1.8), fov_range=(40.0, 40.0))
    for form in ("rfds", "rfds-rev"):
        torch.manual_seed(0)
        field = make_field("nerf")
        term = SDSLoss(prior, cams, views_per_step=2, guidance_scale=10.0, form=form, weighting="rfds")
        res = optimize(field, [term], steps=3, lr=0.01, n_samples=8, seed=0)
        assert res.stopped is None and all(torch.isfinite(p).all() for p in field.parameters())
        assert res.param_change > 1e-4, (form, res.history[-1])
