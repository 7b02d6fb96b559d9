"""DDIM sampling from any prior at given cameras: the Multi-View Sampler's engine (MVDream's text -> 4 views).

Deterministic DDIM (eta 0) with classifier-free guidance and optional CFG rescale over view groups; the prior
decides how views interact (the world prior's multi-view mode and MVDream denoise groups jointly). Images come
back in 0..1 together with the cameras, which GeoDream's cost volume needs.
"""
from __future__ import annotations

import torch

from . import PromptedPrior, cfg, cfg_rescale, eps_to_x0, x0_to_eps


class SamplingCancelled(Exception):
    """Raised through check_cancel; nothing half-made is returned."""


@torch.no_grad()
def ddim_sample(prior: PromptedPrior, cameras, steps: int = 50, guidance_scale: float = 7.5,
                cfg_rescale_phi: float = 0.0, group: int | None = None, seed: int = 0, device="cpu",
                on_step=None, check_cancel=None) -> torch.Tensor:
    """[N,H,W,3] images in 0..1 of the prior's subject at `cameras` (N = len(cameras); a prior made at one
    distance and fov sees the same directions there).

    on_step(i, steps, x0_images) is called after every step with the current denoised estimate (for previews);
    check_cancel() is called before every step and may raise to stop.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if guidance_scale < 0:
        raise ValueError(f"guidance scale must be >= 0, got {guidance_scale}")
    p = prior.predictor
    r = p.resolution
    n = len(cameras)
    cams = p.cameras_for(cameras).to(device)
    shape = p.encode(torch.zeros(1, r, r, 3, device=device)).shape[1:]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((n, *shape), generator=gen).to(device)
    ac = p.alphas_cumprod.to(device)
    T = p.num_timesteps
    ts = torch.linspace(T - 1, 0, steps).round().long().tolist()
    cond, uncond = prior.conditions(None)

    def guided(x, t):
        e_c = p.predict_eps(x, t, cond, cams)
        eps = e_c if guidance_scale == 1 else cfg(p.predict_eps(x, t, uncond, cams), e_c, guidance_scale)
        if not cfg_rescale_phi:
            return eps
        x0 = cfg_rescale(eps_to_x0(x, eps, t, ac), eps_to_x0(x, e_c, t, ac), cfg_rescale_phi, group)
        return x0_to_eps(x, x0, t, ac)

    x0 = ddim_denoise(x, ts, guided, ac, clamp=p.space == "pixel", on_step=on_step, check_cancel=check_cancel)
    return p.decode(x0)


@torch.no_grad()
def ddim_denoise(x: torch.Tensor, timesteps, eps_fn, alphas_cumprod: torch.Tensor, clamp: bool = False,
                 on_step=None, check_cancel=None) -> torch.Tensor:
    """Deterministic DDIM (eta 0) from x at timesteps[0] down the given decreasing timesteps to x0: the loop of
    sampling from noise (timesteps from T-1) and of SDEdit (from a partly noised image, timesteps from t').
    eps_fn(x_t, t) is the (guided) epsilon; clamp keeps pixel-space x0 estimates in [-1, 1]. Returns x0."""
    ac = alphas_cumprod.to(x.device)
    ts = [int(t) for t in timesteps]
    x0 = x
    for i, step_t in enumerate(ts):
        if check_cancel is not None:
            check_cancel()
        t = torch.full((x.shape[0],), step_t, dtype=torch.long, device=x.device)
        x0 = eps_to_x0(x, eps_fn(x, t), t, ac)
        if clamp:
            x0 = x0.clamp(-1, 1)
        a_prev = ac[ts[i + 1]] if i + 1 < len(ts) else torch.ones((), device=x.device)
        eps = (x - ac[step_t].sqrt() * x0) / (1 - ac[step_t]).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        if on_step is not None:
            on_step(i + 1, len(ts), x0)
    return x0
