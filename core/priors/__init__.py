"""Diffusion priors as noise predictors, and the conversions every score-distillation loss shares.

A noise predictor says its space ('pixel' at resolution R, or 'latent' with a differentiable encoder), its
alphas_cumprod over T training timesteps, and predicts epsilon for (x_t, t, conditioning, cameras). CFG,
weighting and timestep schedules belong to the losses (core.losses.sds), not to the predictor.
Notation as METHODS.md: x_t = sqrt(a) x0 + sqrt(1-a) eps with a = alphas_cumprod[t].
"""
from __future__ import annotations

import torch

from ..cameras import Cameras


def _ab(alphas_cumprod: torch.Tensor, t: torch.Tensor, like: torch.Tensor):
    a = alphas_cumprod.to(like.device, like.dtype)[t.long()]
    shape = (-1,) + (1,) * (like.ndim - 1)
    return a.sqrt().reshape(shape), (1 - a).sqrt().reshape(shape)


def add_noise(x0, eps, t, alphas_cumprod):
    alpha, sigma = _ab(alphas_cumprod, t, x0)
    return alpha * x0 + sigma * eps


def eps_to_x0(x_t, eps, t, alphas_cumprod):
    alpha, sigma = _ab(alphas_cumprod, t, x_t)
    return (x_t - sigma * eps) / alpha


def x0_to_eps(x_t, x0, t, alphas_cumprod):
    alpha, sigma = _ab(alphas_cumprod, t, x_t)
    return (x_t - alpha * x0) / sigma


def v_to_eps(x_t, v, t, alphas_cumprod):
    """v-prediction (Salimans & Ho): v = alpha eps - sigma x0  =>  eps = sigma x_t + alpha v."""
    alpha, sigma = _ab(alphas_cumprod, t, x_t)
    return sigma * x_t + alpha * v


def eps_to_v(x_t, eps, t, alphas_cumprod):
    alpha, sigma = _ab(alphas_cumprod, t, x_t)
    x0 = (x_t - sigma * eps) / alpha
    return alpha * eps - sigma * x0


def linear_beta_alphas_cumprod(steps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012):
    """Stable Diffusion's 'scaled linear' schedule (the default of the world prior too)."""
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).float()


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


class NoisePredictor:
    """The interface of every prior. Subclasses set the attributes and implement encode / predict_eps."""

    space = "pixel"          # or "latent"
    resolution = 64          # the image size the prior works at (pixels, before any encoder)
    alphas_cumprod: torch.Tensor
    num_timesteps = 1000
    fixed_camera: tuple[float, float] | None = None  # (distance, fov) the prior's data were made at, if any
    shadings = ("albedo", "lambertian", "textureless", "normal")  # the shadings whose renders it can judge
    text_prompts = True      # condition() takes text (else the conditioning was given, e.g. ComfyUI CONDITIONING)
    exact = False            # True: the exact denoiser of a known image set (the world prior), not a learned model
    background_input = False  # True: predict_eps takes background= (the image behind each render, in x0 space),
    #                           because its posterior depends on it (the world prior); networks see composites
    any_background = True    # False: it judges renders only over the background of its own conditioning (e.g. a
    #                          fixed reference image's), so random backgrounds would be a wrong gradient
    views = 1                # > 1: it denoises groups of that many views together (a multi-view prior)
    reference = None         # the reference view it is conditioned on (core.reference.Reference), if any
    placement = None         # (scale, offset): where its reference frames the object it read, relative to the
    #                          world's own framing (the world image prior's placing; Cameras.placed), if it places it

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Renders [B,H,W,3] in 0..1 (already at `resolution`) -> the prior's x0 space, differentiably."""
        raise NotImplementedError

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, cond, cameras=None) -> torch.Tensor:
        raise NotImplementedError

    def condition(self, prompt: str, negative: str = ""):
        """(conditional, unconditional) conditioning for a prompt."""
        raise NotImplementedError

    def cameras_for(self, cameras):
        """The cameras the prior judges renders at: the same directions, at its fixed distance and fov if it has
        one (the world prior's renders exist only there)."""
        if self.fixed_camera is None:
            return cameras
        dist, fov = self.fixed_camera
        return Cameras.from_spherical(cameras.elevation.cpu(), cameras.azimuth.cpu(), dist, fov).to(cameras.device)

    def grouped(self, views: int) -> "NoisePredictor":
        """This prior denoising groups of `views` views (a value copy: the original keeps its group): what a
        sampler of a camera set it was not built for asks, e.g. Zero123++'s six alternating views of a multi-view
        prior made for MVDream's four. Priors that see one view at a time are returned as they are."""
        if views < 1:
            raise ValueError(f"a view group holds 1 or more views, got {views}")
        if self.views == 1 or views == self.views:
            return self
        import copy
        new = copy.copy(self)
        new.views = views
        return new

    def adaptable_network(self):
        """(network, its time-embedding module[, the names of its attention projections]) for a LoRA (VSD's
        estimator, BSD's boost; core.priors.lora.adapter_of), or None when there is no network. predict_eps must
        then let gradients through when called with them enabled."""
        return None

    def image_set_prior(self) -> "NoisePredictor | None":
        """A new exact prior of a set of images of one object (its set_images(layers, cameras), ready), in this
        prior's space: BSD's exact boost. None for networks, which BSD boosts by fine-tuning adaptable_network()."""
        return None

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """x0-space -> [B,H,W,3] images in 0..1 (for previews). Pixel priors: the inverse of encode."""
        return ((x0.permute(0, 2, 3, 1) + 1) / 2).clamp(0, 1)


class PromptedPrior:
    """What a D3_PRIOR socket carries: a noise predictor and what to ask it for.

    Text priors take a prompt and a negative prompt (view-dependent suffixes appended per view label);
    priors conditioned by the host (ComfyUI CONDITIONING) carry a fixed (conditional, unconditional) pair.
    """

    def __init__(self, predictor: NoisePredictor, prompt: str = "", negative: str = "", conditioning=None):
        if conditioning is None and not predictor.text_prompts:
            raise ValueError(f"{type(predictor).__name__} takes conditioning, not text: pass conditioning=")
        if conditioning is None:
            predictor.condition(prompt, negative)  # fail now (e.g. a prompt naming no world object), not mid-run
        self.predictor, self.prompt, self.negative, self.fixed = predictor, prompt, negative, conditioning
        self._cache = {}

    def grouped(self, views: int) -> "PromptedPrior":
        """The same request of the predictor denoising groups of `views` views (NoisePredictor.grouped)."""
        predictor = self.predictor.grouped(views)
        if predictor is self.predictor:
            return self
        import copy
        new = copy.copy(self)
        new.predictor = predictor
        return new

    @property
    def view_prompts(self) -> bool:
        return self.fixed is None

    def conditions(self, label: str | None = None):
        """(conditional, unconditional) for a view label ('front', 'side', 'back', 'overhead') or none."""
        if self.fixed is not None:
            return self.fixed
        text = f"{self.prompt}, {label} view" if label else self.prompt
        if text not in self._cache:
            self._cache[text] = self.predictor.condition(text, self.negative)
        return self._cache[text]
