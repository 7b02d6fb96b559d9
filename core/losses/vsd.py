"""Variational score distillation (ProlificDreamer) as a loss term.

grad_x = w(t) (eps_pretrained_cfg(x_t) - eps_phi(x_t, t, camera)), where eps_phi estimates the score of the
*current* renders (the particle's distribution), not of the prior's images. It is trained online on the detached
renders, a few Adam steps per field step, and takes the camera. Three estimators (pixel or latent space):

- "lora" (ProlificDreamer's): the prior's own U-Net with low-rank adapters on its attention and the camera added to
  its time embedding (core.priors.lora), zero-initialized so it starts as the prior. For diffusers and ComfyUI
  MODEL priors; each update is a U-Net forward and backward.
- "prior + residual": the prior's conditional epsilon + a zero-initialized camera-aware conv net, a cheap stand-in
  for the LoRA (one U-Net forward per update, no backward through it).
- "renders": x0_phi = D(camera) + R(x_t, t, camera), where D decodes a camera into the particle's mean render there
  and R (zero-initialized) models the spread around it. Right for exact priors (the world prior): there, starting
  from the prior leaves only the CFG direction (s - 1)(eps_c - eps_u), which vanishes once renders look like the
  object, and the field stalls half formed (measured: duck IoU 0.62 against SDS's 0.90; with "renders" 0.85). With a
  single particle whose renders are learned exactly VSD is SDS (ProlificDreamer's own remark); while D lags the
  renders, the gradient also pushes them away from their recent mean, VSD's particle repulsion.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..priors import add_noise, eps_to_x0, x0_to_eps
from ..priors.paths import velocity_gap
from .sds import SDSConfig, SDSLoss, sds_from_residual, sds_weight


def _timestep_features(t: torch.Tensor, dim: int = 32) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat([a.sin(), a.cos()], -1)


CAMERA_FEATURES = 37


def camera_features(c2w: torch.Tensor) -> torch.Tensor:
    """[N, 4, 4] camera-to-world -> [N, 37]: rotation, distance, direction, and Fourier features of the viewing
    direction (renders change smoothly but quickly with azimuth, so the decoder needs more than the raw matrix)."""
    c2w = c2w.reshape(-1, 4, 4).float()
    pos = c2w[:, :3, 3]
    dist = pos.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    d = pos / dist
    k = torch.arange(1, 5, device=c2w.device, dtype=d.dtype) * math.pi / 2
    ang = (d[:, :, None] * k).reshape(-1, 12)
    return torch.cat([c2w[:, :3, :3].reshape(-1, 9), dist, d, ang.sin(), ang.cos()], -1)


class _CameraTimeConvNet(nn.Module):
    """A small conv net of (image channels, t, camera) whose output layer starts at zero."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 32):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(32 + CAMERA_FEATURES, width), nn.SiLU(), nn.Linear(width, width))
        self.inp = nn.Conv2d(in_channels, width, 3, padding=1)
        self.mid = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1) for _ in range(2)])
        self.norms = nn.ModuleList([nn.GroupNorm(8, width) for _ in range(2)])
        self.out = nn.Conv2d(width, out_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t, c2w):
        emb = self.embed(torch.cat([_timestep_features(t), camera_features(c2w).to(x)], -1))[:, :, None, None]
        h = self.inp(x) + emb
        for conv, norm in zip(self.mid, self.norms):
            h = h + conv(nn.functional.silu(norm(h)))
        return self.out(nn.functional.silu(h))


def _prior_eps(vsd, x_t, t, cams, background=None):
    """The prior's conditional epsilon (no view suffix), without gradients."""
    with torch.no_grad():
        return vsd.predict(x_t, t, vsd.prior.conditions(None)[0], cams, background)


class Estimator(nn.Module):
    """The interface of VSD's estimators of the renders' own score."""

    #: the space of its training loss: 'eps' (the epsilon loss) or 'x0' (|x0_phi - x|², see RenderEstimator)
    loss_space = "eps"
    #: updates per field step when the loss's estimator_steps is 0
    default_steps = 1

    def eps(self, x_t, t, cams, vsd, background=None) -> torch.Tensor:
        raise NotImplementedError

    def release(self) -> None:
        """Take off what it attached to a shared network (a LoRA's hooks); nothing by default."""


class LoRAEstimator(Estimator):
    """eps_phi = the prior's U-Net with trained low-rank adapters and a camera embedding (ProlificDreamer).
    Trained with the epsilon loss."""

    def __init__(self, shape: tuple[int, int, int], width: int, predictor):
        super().__init__()
        from ..priors.lora import adapter_of
        found = adapter_of(predictor)
        if found is None:
            raise ValueError(f"{type(predictor).__name__} has no network to adapt: use the 'renders' or "
                             f"'prior + residual' estimator")
        net, self.lora = found
        self._net = (net,)  # not a submodule: the U-Net stays the prior's, frozen

    def eps(self, x_t, t, cams, vsd, background=None):
        from ..priors.lora import freeze
        freeze(self._net[0])  # a host may have reloaded it in inference mode
        with self.lora.active(cams.c2w.to(x_t.device)):
            return vsd.predictor.predict_eps(x_t, t, vsd.prior.conditions(None)[0], cams).float()

    def release(self):
        self.lora.detach_hooks()


class PriorResidualEstimator(Estimator):
    """eps_phi = the prior's conditional epsilon + a zero-initialized camera-aware residual (the LoRA's cheap
    stand-in). Trained with the epsilon loss, as ProlificDreamer trains its LoRA."""

    def __init__(self, shape: tuple[int, int, int], width: int, predictor=None):
        super().__init__()
        self.residual = _CameraTimeConvNet(shape[0], shape[0], width)

    def eps(self, x_t, t, cams, vsd, background=None):
        return _prior_eps(vsd, x_t, t, cams, background) + self.residual(x_t, t, cams.c2w)


class RenderEstimator(Estimator):
    """x0 of the current renders from (x_t, t, camera): D(camera) + a zero-initialized residual R. D starts at zero
    (a mid-gray image in pixel space, the zero latent) and learns the renders within a few dozen steps. Trained
    with the x0 form of the diffusion loss (|x0_phi - x|²: the same minimizer as the epsilon loss, without its
    1/sigma² blow-up at small t). Given the renders' backgrounds (a prior that takes them), D decodes a
    premultiplied colour and a coverage and composites them over the step's background, as the renders are: so
    random backgrounds change what it predicts exactly as they change the renders."""

    loss_space = "x0"
    default_steps = 8

    def __init__(self, shape: tuple[int, int, int], width: int, predictor=None, hidden: int = 128):
        super().__init__()
        c, h, w = shape
        self.shape = tuple(shape)
        self.layered = bool(predictor is not None and predictor.background_input)
        self.decoder = nn.Sequential(nn.Linear(CAMERA_FEATURES, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                     nn.SiLU())
        self.decoder_out = nn.Linear(hidden, (c + self.layered) * h * w)
        nn.init.zeros_(self.decoder_out.weight)
        nn.init.zeros_(self.decoder_out.bias)
        self.residual = _CameraTimeConvNet(2 * c, c, width)

    def mean_render(self, c2w: torch.Tensor, background=None) -> torch.Tensor:
        out = self.decoder_out(self.decoder(camera_features(c2w)))
        if not self.layered:
            return out.reshape(-1, *self.shape)
        c, h, w = self.shape
        out = out.reshape(-1, c + 1, h, w)
        if background is None:
            return out[:, :c]
        cover = torch.sigmoid(out[:, c:])  # 0.5 at the start: the zero image over any background is gray-ish
        return out[:, :c] + (1 - cover) * background.to(out)

    def x0(self, x_t, t, c2w, alphas_cumprod, background=None):
        """The residual sees x_t beside the mean render as it appears in x_t (scaled by sqrt(a_t))."""
        mean = self.mean_render(c2w, background).to(x_t)
        a = alphas_cumprod.to(x_t)[t].reshape(-1, 1, 1, 1)
        return mean + self.residual(torch.cat([x_t, a.sqrt() * mean], 1), t, c2w)

    def eps(self, x_t, t, cams, vsd, background=None):
        ac = vsd.predictor.alphas_cumprod
        return x0_to_eps(x_t, self.x0(x_t, t, cams.c2w, ac, background), t, ac)


ESTIMATORS = {"lora": LoRAEstimator, "prior + residual": PriorResidualEstimator, "renders": RenderEstimator}


def default_estimator(predictor) -> str:
    """'renders' for exact priors (nothing left to learn from the prior's own epsilon), ProlificDreamer's LoRA
    for a network that can take one, else the residual."""
    if predictor.exact:
        return "renders"
    return "lora" if predictor.adaptable_network() is not None else "prior + residual"


@dataclasses.dataclass(frozen=True, kw_only=True)
class VSDConfig(SDSConfig):
    """VSD's settings: SDS's (at ProlificDreamer's guidance 7.5) and its estimator's."""

    guidance_scale: float = 7.5
    #: the estimator of the renders' score: 'auto' (default_estimator) or one of ESTIMATORS
    estimator: str = "auto"
    #: its Adam learning rate (ProlificDreamer's LoRA: 1e-3)
    estimator_lr: float = 1e-3
    #: the width of its convolutional parts
    estimator_width: int = 32
    #: its updates per field step (0: the estimator's own default_steps)
    estimator_steps: int = 0

    def __post_init__(self):
        super().__post_init__()
        if self.form == "rfds-rev":
            raise ValueError("RFDS-Rev replaces SDS's random noise by the model's own; VSD has no random noise to "
                             "replace (its estimator's score takes its place): use the 'sds' or 'rfds' form")
        if self.estimator != "auto" and self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown VSD estimator {self.estimator!r}: use auto, {', '.join(ESTIMATORS)}")


class VSDLoss(SDSLoss):
    """ProlificDreamer's VSD: SDS whose noise term is replaced by the estimator of the renders' own score, which
    each run trains from scratch. Settings: a VSDConfig."""

    name = "vsd"
    config_class = VSDConfig

    def __init__(self, prior, cameras=None, *, config: VSDConfig | None = None, **settings):
        super().__init__(prior, cameras, config=config, **settings)
        c = self.config
        kind = default_estimator(self.predictor) if c.estimator == "auto" else c.estimator
        self.estimator_kind = kind
        # 0 = the estimator's own: the render decoder must keep up with the renders (8 cheap updates); the LoRA and
        # the residual cost a prior call per update (1, as ProlificDreamer)
        self.estimator_steps = c.estimator_steps or ESTIMATORS[kind].default_steps
        self.estimator_lr, self.estimator_width = c.estimator_lr, c.estimator_width
        self.estimator = None
        self._opt = None

    def finish(self):
        """Drop the estimator; a LoRA takes its hooks off the prior's network."""
        if self.estimator is not None:
            self.estimator.release()
        self.estimator, self._opt = None, None

    def _ensure_estimator(self, x):
        if self.estimator is None:
            est = ESTIMATORS[self.estimator_kind](tuple(x.shape[1:]), self.estimator_width, self.predictor)
            self.estimator = est.to(x.device)
            self._opt = torch.optim.Adam(self.estimator.parameters(), lr=self.estimator_lr)

    def eps_phi(self, x_t, t, cams, background=None):
        """The estimator's epsilon of the current renders (over their backgrounds, where the prior takes them)."""
        return self.estimator.eps(x_t, t, cams, self, background)

    def train_estimator(self, x, cams, background=None):
        """Adam steps of the estimator on the detached renders, t uniform over (0.02, 0.98), with the diffusion loss
        in the estimator's own space (epsilon or x0); returns that loss."""
        T = self.predictor.num_timesteps
        ac = self.predictor.alphas_cumprod
        losses = []
        for _ in range(self.estimator_steps):
            t = torch.randint(int(0.02 * T), int(0.98 * T), (x.shape[0],), generator=self._gen).to(x.device)
            eps = torch.randn(x.shape, generator=self._gen).to(x.device, x.dtype)
            x_t = add_noise(x, eps, t, ac)
            with torch.enable_grad():
                pred = self.eps_phi(x_t, t, cams, background)
                if self.estimator.loss_space == "x0":
                    pred, eps = eps_to_x0(x_t, pred, t, ac), x
                loss = ((pred - eps) ** 2).mean()
                self._opt.zero_grad(set_to_none=True)
                loss.backward()
            self._opt.step()
            losses.append(float(loss.detach()))
        return sum(losses) / len(losses)

    def pretrained_eps(self, x_t, t, cams, background=None):
        """The score the renders are pulled towards: the prior's, CFG-guided (BSD swaps in its boosted prior)."""
        return self.guided_eps(x_t, t, cams, background)[0]

    def loss(self, field, record, step, total):
        p = self.predictor
        x = p.encode(record.rgb)
        self._ensure_estimator(x)
        cams = self._cams.to(x.device)
        ac = p.alphas_cumprod
        t, eps, x_t = self.noised(x, step, total)
        bg = self.backgrounds(record)
        with torch.no_grad():
            eps_pre = self.pretrained_eps(x_t, t, cams, bg)
            eps_est = self.eps_phi(x_t, t, cams, bg)
            self._last = (record.rgb.detach(), eps_to_x0(x_t, eps_pre, t, ac))
        w = sds_weight(self.weighting, ac, t, self._gen).to(x)
        residual = eps_pre - eps_est if self.form == "sds" else velocity_gap(eps_pre, eps_est, ac, t)
        value, grad = sds_from_residual(x, residual, w, self.grad_clip)
        est_loss = self.train_estimator(x.detach(), cams, bg)
        return value, {self.name: float(value.detach()), "estimator": est_loss,
                       "grad_norm": float(grad.norm() / x.shape[0]), "t": float(t.float().mean())}
