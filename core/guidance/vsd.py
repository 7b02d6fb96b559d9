"""Variational score distillation (ProlificDreamer) as a loss term.

grad_x = w(t) (eps_pretrained_cfg(x_t) - eps_phi(x_t, t, camera)), where eps_phi estimates the score of the
*current* renders. ProlificDreamer trains a LoRA of the prior; here eps_phi = the prior's conditional prediction
plus a small residual network that starts at zero (so at step 0 eps_phi is the prior, as a zero-initialized LoRA
is) and is trained online, every step, with the diffusion loss on the detached renders. It takes the camera, as
the LoRA does through its class embedding. The residual works for every prior (pixel or latent, any size).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import add_noise, eps_to_x0
from .sds import SDSLoss, sds_from_eps, sds_weight


def _timestep_features(t: torch.Tensor, dim: int = 32) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat([a.sin(), a.cos()], -1)


class ResidualEstimator(nn.Module):
    """A small conv net: (x_t, t, camera) -> a correction to the prior's epsilon; its last layer is zero."""

    def __init__(self, channels: int, width: int = 32):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(32 + 16, width), nn.SiLU(), nn.Linear(width, width))
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.mid = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1) for _ in range(2)])
        self.norms = nn.ModuleList([nn.GroupNorm(8, width) for _ in range(2)])
        self.out = nn.Conv2d(width, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x_t, t, c2w):
        emb = self.embed(torch.cat([_timestep_features(t), c2w.reshape(-1, 16).to(x_t)], -1))[:, :, None, None]
        h = self.inp(x_t) + emb
        for conv, norm in zip(self.mid, self.norms):
            h = h + conv(nn.functional.silu(norm(h)))
        return self.out(nn.functional.silu(h))


class VSDLoss(SDSLoss):
    """ProlificDreamer's VSD: SDS whose noise term is replaced by the estimator of the renders' own score."""

    name = "vsd"

    def __init__(self, prior, cameras=None, estimator_lr: float = 1e-3, estimator_width: int = 32,
                 estimator_steps: int = 1, guidance_scale: float = 7.5, **kw):
        super().__init__(prior, cameras, guidance_scale=guidance_scale, **kw)
        self.estimator_lr, self.estimator_width, self.estimator_steps = estimator_lr, estimator_width, estimator_steps
        self.estimator = None
        self._opt = None

    def request(self, step, total, generator, field=None):
        if step == 0:  # a new run (ComfyUI reuses a cached loss object): the estimator starts from zero again
            self.estimator = None
        return super().request(step, total, generator, field)

    def _ensure_estimator(self, x):
        if self.estimator is None:
            self.estimator = ResidualEstimator(x.shape[1], self.estimator_width).to(x.device)
            self._opt = torch.optim.Adam(self.estimator.parameters(), lr=self.estimator_lr)

    def eps_phi(self, x_t, t, cams):
        """The estimator: the prior's conditional epsilon plus the trained residual."""
        base = self.predictor.predict_eps(x_t, t, self.prior.conditions(None)[0], cams)
        return base + self.estimator(x_t, t, cams.c2w)

    def train_estimator(self, x, cams):
        """One diffusion-loss step of the residual on the detached renders, t uniform over (0.02, 0.98)."""
        T = self.predictor.num_timesteps
        losses = []
        for _ in range(self.estimator_steps):
            t = torch.randint(int(0.02 * T), int(0.98 * T), (x.shape[0],), generator=self._gen).to(x.device)
            eps = torch.randn(x.shape, generator=self._gen).to(x.device, x.dtype)
            x_t = add_noise(x, eps, t, self.predictor.alphas_cumprod)
            with torch.enable_grad():
                pred = self.eps_phi(x_t, t, cams)
                loss = ((pred - eps) ** 2).mean()
                self._opt.zero_grad(set_to_none=True)
                loss.backward()
            self._opt.step()
            losses.append(float(loss.detach()))
        return sum(losses) / len(losses)

    def loss(self, field, record, step, total):
        p = self.predictor
        x = p.encode(record.rgb)
        self._ensure_estimator(x)
        dev = x.device
        cams = self._cams.to(dev)
        ac = p.alphas_cumprod
        t, eps, x_t = self.noised(x, step, total)
        with torch.no_grad():
            eps_pre, _ = self.guided_eps(x_t, t, cams)
            eps_est = self.eps_phi(x_t, t, cams)
            self._last = (record.rgb.detach(), eps_to_x0(x_t, eps_pre, t, ac))
        w = sds_weight(self.weighting, ac, t)
        value, grad = sds_from_eps(x, eps_pre, eps_est, w, self.grad_clip)
        est_loss = self.train_estimator(x.detach(), cams)
        return value, {"vsd": float(value.detach()), "estimator": est_loss, "grad_norm": float(grad.norm() / x.shape[0]),
                       "t": float(t.float().mean())}
