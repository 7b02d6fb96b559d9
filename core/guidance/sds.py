"""Score distillation sampling (DreamFusion) as a loss term: any prior, any field, one formula.

grad_x = w(t) (eps_hat - eps), with eps_hat from classifier-free guidance; applied through the trick
target = (x - grad).detach(), loss = 0.5 ||x - target||^2 / B, so that d loss / d x = grad / B.
"""
from __future__ import annotations

import torch

from ..cameras import CameraDistribution, direction_label
from ..losses import LossTerm, ViewRequest
from . import add_noise, eps_to_x0, x0_to_eps

WEIGHTINGS = ("sds", "uniform", "fantasia3d")


def sds_weight(kind: str, alphas_cumprod: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """w(t): 'sds' = sigma_t^2 = 1 - a_t (DreamFusion), 'uniform' = 1, 'fantasia3d' = sqrt(a_t)(1 - a_t)."""
    a = alphas_cumprod.to(t.device)[t.long()]
    if kind == "sds":
        return 1 - a
    if kind == "uniform":
        return torch.ones_like(a)
    if kind == "fantasia3d":
        return a.sqrt() * (1 - a)
    raise ValueError(f"unknown SDS weighting '{kind}'; choose one of {', '.join(WEIGHTINGS)}")


def cfg(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: eps_u + s (eps_c - eps_u)."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


def cfg_rescale(x0_cfg: torch.Tensor, x0_cond: torch.Tensor, phi: float, group: int | None = None) -> torch.Tensor:
    """MVDream's CFG rescale in x0 space: phi * x0_cfg * std(x0_cond) / std(x0_cfg) + (1 - phi) * x0_cfg,
    the standard deviations taken over each sample, or over each group of `group` consecutive views."""
    if phi == 0:
        return x0_cfg
    b = x0_cfg.shape[0]
    g = group or 1
    if b % g:
        raise ValueError(f"a batch of {b} views cannot be split into groups of {g}")
    std_c = x0_cond.reshape(b // g, -1).std(1)
    std_g = x0_cfg.reshape(b // g, -1).std(1).clamp_min(1e-8)
    factor = (std_c / std_g).repeat_interleave(g).reshape(-1, *([1] * (x0_cfg.ndim - 1)))
    return phi * x0_cfg * factor + (1 - phi) * x0_cfg


def sds_from_eps(x: torch.Tensor, eps_hat: torch.Tensor, eps: torch.Tensor, w: torch.Tensor,
                 grad_clip: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The SDS loss whose gradient w.r.t. x is w (eps_hat - eps) / B. Returns (loss, the gradient used)."""
    grad = w.reshape(-1, *([1] * (x.ndim - 1))) * (eps_hat - eps)
    grad = torch.nan_to_num(grad)
    if grad_clip:
        grad = grad.clamp(-grad_clip, grad_clip)
    target = (x - grad).detach()
    return 0.5 * ((x - target) ** 2).sum() / x.shape[0], grad


class SDSLoss(LossTerm):
    """DreamFusion's SDS against any NoisePredictor; cameras from a distribution, renders at the prior's size."""

    name = "sds"

    def __init__(self, prior, prompt: str, negative_prompt: str = "", cameras: CameraDistribution | None = None,
                 batch: int = 4, guidance_scale: float = 100.0, weighting: str = "sds",
                 t_range: tuple[float, float] = (0.02, 0.98), t_range_end: tuple[float, float] | None = None,
                 anneal_until: float = 0.5, cfg_rescale_phi: float = 0.0, x0_form: bool = False,
                 view_prompts: bool = True, grad_clip: float | None = None, weight: float = 1.0, schedule=None,
                 shadings=(("albedo", 1.0),)):
        super().__init__(weight, schedule)
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown SDS weighting '{weighting}'; choose one of {', '.join(WEIGHTINGS)}")
        lo, hi = t_range
        if not 0 < lo < hi <= 1:
            raise ValueError(f"t_range must satisfy 0 < min < max <= 1, got {t_range}")
        self.prior, self.prompt, self.negative = prior, prompt, negative_prompt
        self.cameras = cameras or CameraDistribution()
        self.batch, self.scale, self.weighting = batch, guidance_scale, weighting
        self.t_range, self.t_range_end, self.anneal_until = t_range, t_range_end or t_range, anneal_until
        self.phi, self.x0_form, self.view_prompts, self.grad_clip = cfg_rescale_phi, x0_form, view_prompts, grad_clip
        self.shadings = shadings
        self._conds = {}
        self._gen = None
        self._cams = None

    def _condition(self, label: str | None):
        text = f"{self.prompt}, {label} view" if label and self.view_prompts else self.prompt
        if text not in self._conds:
            self._conds[text] = self.prior.condition(text, self.negative)
        return self._conds[text]

    def t_bounds(self, step: int, total: int) -> tuple[float, float]:
        """Linear annealing of the timestep range over the first `anneal_until` of the run."""
        x = min(step / max(self.anneal_until * total, 1), 1.0)
        (a0, b0), (a1, b1) = self.t_range, self.t_range_end
        return a0 + (a1 - a0) * x, b0 + (b1 - b0) * x

    def request(self, step, total, generator, field=None):
        self._gen = generator
        self._cams = self.cameras.sample(self.batch, generator)
        names = [s for s, _ in self.shadings]
        probs = torch.tensor([p for _, p in self.shadings])
        shading = names[int(torch.multinomial(probs, 1, generator=generator))]
        r = self.prior.resolution
        return ViewRequest(self._cams, r, r, shading=shading)

    def loss(self, field, record, step, total):
        x = self.prior.encode(record.rgb)
        dev = x.device
        T = self.prior.num_timesteps
        lo, hi = self.t_bounds(step, total)
        t = torch.randint(int(lo * T), max(int(hi * T), int(lo * T) + 1), (x.shape[0],), generator=self._gen).to(dev)
        eps = torch.randn(x.shape, generator=self._gen).to(dev)
        ac = self.prior.alphas_cumprod
        with torch.no_grad():
            x_t = add_noise(x.detach(), eps, t, ac)
            labels = [direction_label(float(e), float(a)) for e, a in zip(self._cams.elevation, self._cams.azimuth)]
            eps_hat = torch.empty_like(x)
            for label in set(labels):
                idx = torch.tensor([i for i, lab in enumerate(labels) if lab == label], device=dev)
                cond, uncond = self._condition(label)
                cams = self._cams[idx.tolist()]
                e_c = self.prior.predict_eps(x_t[idx], t[idx], cond, cams)
                e_u = self.prior.predict_eps(x_t[idx], t[idx], uncond, cams)
                e = cfg(e_u, e_c, self.scale)
                if self.phi:
                    x0_c = eps_to_x0(x_t[idx], e_c, t[idx], ac)
                    x0_g = cfg_rescale(eps_to_x0(x_t[idx], e, t[idx], ac), x0_c, self.phi)
                    e = x0_to_eps(x_t[idx], x0_g, t[idx], ac)
                eps_hat[idx] = e
        if self.x0_form:  # MVDream: 0.5 ||x - sg(x0_hat)||^2, SDS with another weight
            target = eps_to_x0(x_t, eps_hat, t, ac).detach()
            value = 0.5 * ((x - target) ** 2).sum() / x.shape[0]
            return value, {"sds": float(value.detach()), "t": float(t.float().mean())}
        w = sds_weight(self.weighting, ac, t)
        value, grad = sds_from_eps(x, eps_hat, eps, w, self.grad_clip)
        return value, {"sds": float(value.detach()), "grad_norm": float(grad.norm() / x.shape[0]),
                       "t": float(t.float().mean())}
