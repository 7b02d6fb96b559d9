"""DiffusionGAN3D's losses for a generator under adaptation (core.gan.field.GeneratorTrainer) and for a
text-to-avatar's case-specific triplane (core.gan.avatar.AvatarField).

RelativeDistanceLoss: SDS alone pulls every latent towards the one thing the prompt describes (mode collapse).
For the step's batch of latents, the pairwise similarities of the trained generator's triplanes, as a softmax per
row (each sample against the others), must keep the frozen generator's: KL(frozen || trained) per row. Cosines of
the raw planes (as the cross-domain correspondence loss DiffusionGAN3D builds on): samples drawn together raise
every similarity towards 1 and flatten the softmax, which costs. (Cosines of batch-centred planes would let a
shared change go free, but would not see a uniform shrink towards the mean: the collapse this loss is for.) A
temperature below 1 sharpens the softmax: a generator's planes share much, so their cosines lie close together.

DiffusionReconstructionLoss (local editing): where the prior's denoised estimate at mid noise changes with the
prompt (the target prompt against a source prompt, or the unconditional one), the edit may act; elsewhere the
trained generator's renders must reproduce the frozen generator's renders of the same latents and cameras.

MultiScaleTV: total variation of the avatar's learnable triplane at several scales (average-pooled by 1, 2, 4...):
the added planes stay smooth, so they shape the object rather than paint noise.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import SHARED_VIEWS, LossTerm


def relative_distance_kl(planes: torch.Tensor, frozen_planes: torch.Tensor, temperature: float = 0.1):
    """Mean over rows of KL(softmax(S_frozen[i, j != i] / T) || softmax(S[i, j != i] / T)), S the cosine
    similarities of the flattened triplanes [B,...]."""
    b = planes.shape[0]
    if b < 3:
        raise ValueError(f"the relative distance loss compares each sample's similarities to the others: it needs "
                         f"at least 3 latents per step (got {b}; with 2, each sample has one other and a softmax "
                         f"over one similarity is always 1); raise the batch")

    def sims(p):
        x = p.reshape(b, -1)
        x = F.normalize(x, dim=1, eps=1e-8)
        s = x @ x.T
        off = ~torch.eye(b, dtype=torch.bool, device=s.device)
        return s[off].reshape(b, b - 1) / temperature
    log_p = F.log_softmax(sims(planes), 1)
    with torch.no_grad():
        q = F.softmax(sims(frozen_planes), 1)
    return (q * (torch.log(q.clamp_min(1e-12)) - log_p)).sum(1).mean()


class RelativeDistanceLoss(LossTerm):
    """See the module docstring. Shares the views another term (SDS) asked for: their latents and triplanes."""

    name = "relative_distance"

    def __init__(self, *, temperature: float = 0.1, downsample: int = 4, weight: float = 1.0):
        super().__init__(weight)
        if temperature <= 0:
            raise ValueError(f"the temperature must be above 0, got {temperature}")
        self.temperature, self.downsample = temperature, max(1, int(downsample))

    def request(self, step, total, generator, field=None):
        if not field.adapts_generator:
            raise ValueError("the relative distance loss keeps a generator's samples apart: it applies to a "
                             "generator under adaptation (Adapt 3D GAN), not to a field")
        return SHARED_VIEWS

    def _pool(self, planes):
        b, three, c, h, w = planes.shape
        x = planes.reshape(b * three, c, h, w)
        if self.downsample > 1:
            x = F.avg_pool2d(x, self.downsample)
        return x.reshape(b, -1)

    def loss(self, field, record, step, total):
        _, rec = record
        planes = rec.extras["planes"]
        frozen = field.planes(rec.extras["ws"], frozen=True)
        value = relative_distance_kl(self._pool(planes), self._pool(frozen), self.temperature)
        return value, {"kl": float(value.detach())}


class DiffusionReconstructionLoss(LossTerm):
    """See the module docstring. `prior` is the target's PromptedPrior; `source` the text of what the generator
    draws now (empty: contrast against the unconditional prediction). The mask is where the two denoised
    estimates differ by more than `threshold` of the image's largest difference (blurred a little), at a timestep
    drawn from `t_range` (fractions of the schedule)."""

    name = "reconstruction"

    def __init__(self, prior, source: str = "", *, t_range=(0.4, 0.6), threshold: float = 0.3, repeats: int = 2,
                 weight: float = 1.0):
        super().__init__(weight)
        if not 0 < t_range[0] < t_range[1] <= 1:
            raise ValueError(f"the timestep range must satisfy 0 < min < max <= 1, got {t_range}")
        if not 0 < threshold < 1:
            raise ValueError(f"the mask threshold is a share of the largest response, within 0..1; got {threshold}")
        self.prior, self.predictor = prior, prior.predictor
        self.source_cond = None
        if source:
            if prior.fixed is not None:
                raise ValueError("this prior is conditioned by the host: give the source as conditioning, or leave "
                                 "the source text empty to contrast with the unconditional prediction")
            self.source_cond = self.predictor.condition(source)[0]
        self.t_range, self.threshold, self.repeats = t_range, threshold, repeats
        self._gen = None
        self._last = None

    def request(self, step, total, generator, field=None):
        if not field.adapts_generator:
            raise ValueError("the reconstruction loss compares a generator with its frozen original: it applies to "
                             "a generator under adaptation (Adapt 3D GAN)")
        self._gen = generator
        return SHARED_VIEWS

    @torch.no_grad()
    def edit_mask(self, images: torch.Tensor, cameras, generator: torch.Generator,
                  background=None) -> torch.Tensor:
        """[B,H,W] in 0..1: where the prompt moves the denoised estimate of `images` ([B,H,W,3] 0..1), with the
        timesteps and noise drawn from `generator`."""
        p = self.predictor
        x = p.encode(images)
        cond, uncond = self.prior.conditions(None)
        other = self.source_cond if self.source_cond is not None else uncond
        T = p.num_timesteps
        bg = None
        if p.background_input and background is not None:
            bg = p.encode(background)
        response = torch.zeros(x.shape[0], *x.shape[2:], device=x.device)
        from ..priors import add_noise, eps_to_x0
        for _ in range(self.repeats):
            t = torch.randint(int(self.t_range[0] * T), int(self.t_range[1] * T), (x.shape[0],),
                              generator=generator).to(x.device)
            eps = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
            x_t = add_noise(x, eps, t, p.alphas_cumprod)
            kw = {} if bg is None else {"background": bg}
            x0_c = eps_to_x0(x_t, p.predict_eps(x_t, t, cond, cameras, **kw), t, p.alphas_cumprod)
            x0_o = eps_to_x0(x_t, p.predict_eps(x_t, t, other, cameras, **kw), t, p.alphas_cumprod)
            response += (x0_c - x0_o).abs().sum(1)
        r = F.avg_pool2d(response[:, None], 3, 1, 1)[:, 0]
        if r.shape[-2:] != images.shape[1:3]:  # latent priors: back to the render's size
            r = F.interpolate(r[:, None], size=images.shape[1:3], mode="bilinear")[:, 0]
        r = r / r.flatten(1).amax(1).clamp_min(1e-8)[:, None, None]
        return torch.sigmoid((r - self.threshold) * 20)

    def loss(self, field, record, step, total):
        req, rec = record
        with torch.no_grad():
            original = field.render_views(req.cameras, req.height, req.width, z=rec.extras["z"], frozen=True,
                                          shading=req.shading, light_dirs=req.light_dirs,
                                          background=req.background)
            mask = self.edit_mask(original.rgb, req.cameras, self._gen, original.background)
        keep = (1 - mask)[..., None]
        # summed over pixels, averaged over views, in the prior's [-1,1] range: the scale of SDS's own loss, so the
        # weights of the two compare
        value = 0.5 * (keep * (2 * (rec.rgb - original.rgb)) ** 2).sum() / rec.rgb.shape[0]
        self._last = (rec.rgb.detach(), original.rgb, mask)
        mse = float((keep * (rec.rgb.detach() - original.rgb) ** 2).sum() / (keep.sum() * 3).clamp_min(1))
        return value, {"mse_outside": mse, "mask_share": float(mask.mean())}

    def preview(self):
        if self._last is None:
            return None
        rgb, orig, mask = self._last
        return torch.cat([torch.cat(list(rgb.clamp(0, 1)), 1), torch.cat(list(orig.clamp(0, 1)), 1),
                          torch.cat(list(mask[..., None].expand(-1, -1, -1, 3)), 1)], 0)


def multiscale_tv(planes: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """Sum over scales s = 1, 2, 4... of the mean absolute difference of neighbouring texels of the planes
    [...,C,H,W] average-pooled by s."""
    x = planes.reshape(-1, *planes.shape[-3:])
    total = planes.new_zeros(())
    for i in range(scales):
        if i:
            x = F.avg_pool2d(x, 2)
        if x.shape[-1] < 2:
            break
        total = total + (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    return total


class MultiScaleTV(LossTerm):
    """See the module docstring: a regularizer of the field's own `delta` planes (the avatar's)."""

    name = "triplane_tv"

    def __init__(self, *, scales: int = 3, weight: float = 1.0):
        super().__init__(weight)
        self.scales = scales

    def request(self, step, total, generator, field=None):
        if field.learnable_planes() is None:
            raise ValueError("the triplane TV loss regularizes an avatar's learnable triplane: it applies to the "
                             "text-to-avatar field")
        return None

    def loss(self, field, record, step, total):
        value = multiscale_tv(field.learnable_planes(), self.scales)
        return value, {"tv": float(value.detach())}


__all__ = ["RelativeDistanceLoss", "DiffusionReconstructionLoss", "MultiScaleTV", "relative_distance_kl",
           "multiscale_tv"]
