"""How a model noises its data, and the one timeline every loss works on.

A model trained on the path x = alpha(sigma) x0 + scale(sigma) eps over its own table of sigmas (a DDPM model:
alpha 1, scale sigma, 'variance-exploding' in ComfyUI's sigma space; a flow model: alpha 1 - sigma, scale sigma)
is the same Gaussian family as the variance-preserving x_t = sqrt(a) x0 + sqrt(1 - a) eps that the losses use
(core.priors): divide x by sqrt(alpha^2 + scale^2) and a = alpha^2 / (alpha^2 + scale^2), with the same eps. So
a prior says its path once, and every SDS / VSD / BSD formula, the flow forms (RFDS) included, runs unchanged on
the VP timeline, one entry per sigma of the model's own (shifted) table.
"""
from __future__ import annotations

import dataclasses

import torch

KINDS = ("variance-exploding", "flow", "measured")


def time_shift(shift: float, t: torch.Tensor) -> torch.Tensor:
    """SD3's timestep shift: sigma = shift t / (1 + (shift - 1) t) (shift 1: none; SD3 / SD3.5 use 3)."""
    return shift * t / (1 + (shift - 1) * t)


def flow_sigmas(shift: float = 3.0, steps: int = 1000) -> torch.Tensor:
    """A flow model's sigma table as ComfyUI's ModelSamplingDiscreteFlow builds it: shift(i / steps), i = 1..steps."""
    return time_shift(shift, torch.arange(1, steps + 1, dtype=torch.float64) / steps).float()


@dataclasses.dataclass(frozen=True)
class NoisePath:
    """x = alphas[i] x0 + scales[i] eps at the model's sigmas[i] (ascending noise)."""

    sigmas: torch.Tensor
    alphas: torch.Tensor
    scales: torch.Tensor
    kind: str = "measured"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown noise path '{self.kind}'; one of {', '.join(KINDS)}")
        if not (self.sigmas.shape == self.alphas.shape == self.scales.shape) or self.sigmas.ndim != 1:
            raise ValueError("a noise path needs one alpha and one scale per sigma")
        if bool((self.scales <= 0).any()):
            raise ValueError("a noise path's noise scales must be positive (a sigma of 0 is no noise at all)")

    @classmethod
    def flow(cls, sigmas: torch.Tensor) -> "NoisePath":
        """Rectified flow (ComfyUI's CONST: SD3, SD3.5, Flux): x = (1 - sigma) x0 + sigma eps."""
        s = sigmas.double()
        return cls(s, 1 - s, s.clone(), "flow")

    @classmethod
    def variance_exploding(cls, sigmas: torch.Tensor) -> "NoisePath":
        """ComfyUI's sigma space for DDPM and EDM models: x = x0 + sigma eps."""
        s = sigmas.double()
        return cls(s, torch.ones_like(s), s.clone(), "variance-exploding")

    @property
    def num_timesteps(self) -> int:
        return self.sigmas.shape[0]

    @property
    def norms(self) -> torch.Tensor:
        """sqrt(alpha^2 + scale^2): native x = norm * x_t (VP)."""
        return (self.alphas ** 2 + self.scales ** 2).sqrt()

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """The VP timeline: a = alpha^2 / (alpha^2 + scale^2), per table entry (float32 as the losses use)."""
        return (self.alphas ** 2 / self.norms ** 2).float()

    def _at(self, values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return values.to(like.device)[t.long()].to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))

    def sigma_at(self, t: torch.Tensor) -> torch.Tensor:
        return self.sigmas.to(t.device)[t.long()].float()

    def to_native(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The VP x_t as the model's own noisy input at table entry t."""
        return x_t * self._at(self.norms, t, x_t)

    def eps_from_x0(self, x: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """eps = (x - alpha x0) / scale for the native x and a denoised x0 (the same eps as on the VP timeline)."""
        return (x - self._at(self.alphas, t, x) * x0) / self._at(self.scales, t, x)


def path_of(sigmas: torch.Tensor, noise_scaling) -> NoisePath:
    """The path a model's own noise_scaling(sigma, noise, latent) follows, measured at each sigma of its table
    (ComfyUI's model_sampling objects): alpha = noise_scaling(sigma, 0, 1), scale = noise_scaling(sigma, 1, 0).
    Named 'flow' or 'variance-exploding' when it is one of them exactly."""
    s = sigmas.double().reshape(-1, 1, 1, 1)
    one, zero = torch.ones_like(s), torch.zeros_like(s)
    alphas = noise_scaling(s, zero.clone(), one.clone()).reshape(-1).double()
    scales = noise_scaling(s, one.clone(), zero.clone()).reshape(-1).double()
    sig = sigmas.double()
    for kind, want_a in (("flow", 1 - sig), ("variance-exploding", torch.ones_like(sig))):
        if torch.allclose(alphas, want_a, atol=1e-6) and torch.allclose(scales, sig, atol=1e-6):
            return NoisePath(sig, alphas, scales, kind)
    return NoisePath(sig, alphas, scales, "measured")


def flow_sigma_of(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The flow sigma with the same signal-to-noise ratio as each VP entry: sqrt(1-a) / (sqrt(a) + sqrt(1-a)). For a
    flow prior these are its own sigmas; for any other prior, where its timeline sits on a flow's."""
    a = alphas_cumprod.double()
    return ((1 - a).sqrt() / (a.sqrt() + (1 - a).sqrt())).float()


def velocity_gap(eps_hat: torch.Tensor, eps: torch.Tensor, alphas_cumprod: torch.Tensor,
                 t: torch.Tensor) -> torch.Tensor:
    """v_hat - (eps - x0), the RFDS residual, from the epsilon residual on the VP timeline: a flow's velocity
    error is the epsilon error over (1 - sigma_flow), whatever the prior's own parameterization."""
    sig = flow_sigma_of(alphas_cumprod).to(eps.device)[t.long()].reshape(-1, *([1] * (eps.ndim - 1)))
    return (eps_hat - eps) / (1 - sig).to(eps.dtype)


def logit_normal_weight(n: int, generator: torch.Generator) -> torch.Tensor:
    """RFDS's weight per sample: sigmoid(u), u ~ N(0, 1) (mean 0.5), as the published code draws it."""
    return torch.sigmoid(torch.randn(n, generator=generator))

