"""DDIM sampling from any prior at given cameras: the Multi-View Sampler's engine (MVDream's text -> 4 views).

Deterministic DDIM (eta 0) with classifier-free guidance and optional CFG rescale over view groups; the prior
decides how views interact (the world prior's multi-view mode and MVDream denoise groups jointly). Images come
back in 0..1 together with the cameras, which GeoDream's cost volume needs.
"""
from __future__ import annotations

import torch

from . import PromptedPrior, eps_to_x0
from .sds import cfg, cfg_rescale


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
    x0 = x
    for i, step_t in enumerate(ts):
        if check_cancel is not None:
            check_cancel()
        t = torch.full((n,), step_t, dtype=torch.long, device=device)
        e_c = p.predict_eps(x, t, cond, cams)
        eps = e_c if guidance_scale == 1 else cfg(p.predict_eps(x, t, uncond, cams), e_c, guidance_scale)
        x0 = eps_to_x0(x, eps, t, ac)
        if cfg_rescale_phi:
            x0 = cfg_rescale(x0, eps_to_x0(x, e_c, t, ac), cfg_rescale_phi, group)
        if p.space == "pixel":
            x0 = x0.clamp(-1, 1)
        a_prev = ac[ts[i + 1]] if i + 1 < len(ts) else torch.ones((), device=device)
        eps = (x - ac[step_t].sqrt() * x0) / (1 - ac[step_t]).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        if on_step is not None:
            on_step(i + 1, len(ts), x0)
    return p.decode(x0)
