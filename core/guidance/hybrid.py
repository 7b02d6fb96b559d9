"""DreamCraft3D's hybrid SDS: one batch of renders judged by a 2D text prior and a view-conditioned prior.

grad = w_2D · SDS(2D prior, text) + w_3D · SDS(view-conditioned prior, reference + relative pose), each term with
its own guidance scale and timestep (public code: guidance 20 on DeepFloyd IF and 5 on Stable Zero123, equal
weights; the paper weights the 3D term mu = 2). Both terms are core.guidance.sds.SDSLoss: this class only shares
their cameras and renders, so a step costs one render, not two.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import LossTerm
from ..render import RenderRecord
from . import PromptedPrior
from .sds import SDSLoss


def _resized(record: RenderRecord, size: int) -> RenderRecord:
    """The record's rgb and background at size² (differentiably), for a prior working at another resolution."""
    if record.rgb.shape[1] == size:
        return record

    def f(x):
        if x is None:
            return None
        return F.interpolate(x.permute(0, 3, 1, 2), size=(size, size), mode="bilinear", antialias=True,
                             align_corners=False).permute(0, 2, 3, 1)
    return RenderRecord(rgb=f(record.rgb), alpha=record.alpha, depth=record.depth, normal=record.normal,
                        albedo=record.albedo, shading=record.shading, background=f(record.background),
                        extras=record.extras)


class HybridSDSLoss(LossTerm):
    """2D + 3D-aware SDS on the same renders. prior_2d may be None (3D term only); weight_3d = 0 drops the 3D term
    (the ablation). Timesteps follow DreamCraft3D's annealing by default: t in [0.7, 0.85] at the start, linearly to
    [0.2, 0.5] by `anneal_until` of the run; progressive views come from the CameraDistribution (progressive_until).
    Renders are made at the 3D prior's resolution and resized for the 2D prior when it differs."""

    name = "hybrid"

    def __init__(self, prior_3d: PromptedPrior, prior_2d: PromptedPrior | None = None, cameras=None, batch: int = 1,
                 guidance_3d: float = 5.0, guidance_2d: float = 20.0, weight_3d: float = 1.0, weight_2d: float = 1.0,
                 t_range=(0.7, 0.85), t_range_end=(0.2, 0.5), anneal_until: float = 0.04, weighting: str = "sds",
                 random_background: float = 0.0, view_prompts: bool = True, grad_clip: float | None = None,
                 shadings=(("albedo", 1.0),), weight: float = 1.0, schedule=None):
        super().__init__(weight, schedule)
        if weight_3d < 0 or weight_2d < 0:
            raise ValueError(f"the term weights must be >= 0, got 3D {weight_3d} and 2D {weight_2d}")
        if prior_2d is None and weight_3d == 0:
            raise ValueError("the hybrid loss has nothing to judge with: no 2D prior and a 3D weight of 0")
        if prior_2d is not None and weight_2d == 0 and weight_3d == 0:
            raise ValueError("both hybrid weights are 0: give one of them a weight above 0")
        judged = [p for p, w in ((prior_3d, weight_3d), (prior_2d, weight_2d)) if p is not None and w > 0]
        usable = tuple((s, q) for s, q in shadings if all(s in p.predictor.shadings for p in judged))
        if not any(q > 0 for _, q in usable):
            raise ValueError("the two priors judge no shading in common with a probability above 0: "
                             + "; ".join(f"{type(p.predictor).__name__} judges {', '.join(p.predictor.shadings)}"
                                         for p in judged))
        common = dict(cameras=cameras, batch=batch, weighting=weighting, t_range=t_range, t_range_end=t_range_end,
                      t_schedule="linear", anneal_until=anneal_until, random_background=random_background,
                      grad_clip=grad_clip, shadings=usable)
        self.terms = []  # (name, SDSLoss, weight), the first renders
        if weight_3d > 0:
            self.terms.append(("3d", SDSLoss(prior_3d, guidance_scale=guidance_3d, view_prompts=False, **common),
                               weight_3d))
        if prior_2d is not None and weight_2d > 0:
            self.terms.append(("2d", SDSLoss(prior_2d, guidance_scale=guidance_2d, view_prompts=view_prompts,
                                             **common), weight_2d))

    def request(self, step, total, generator, field=None):
        first = self.terms[0][1]
        req = first.request(step, total, generator, field)
        for _, term, _ in self.terms[1:]:  # the same cameras and draws: one render for both
            term._gen, term._cams = generator, first._cams
        return req

    def loss(self, field, record, step, total):
        value, logs = 0.0, {}
        for name, term, w in self.terms:
            v, lg = term.loss(field, _resized(record, term.predictor.resolution), step, total)
            value = value + w * v
            logs.update({f"{k}_{name}": x for k, x in lg.items()})
        return value, logs

    def preview(self):
        """Each term's renders over its denoised targets, stacked (the 3D term's on top)."""
        parts = [p for p in (term.preview() for _, term, _ in self.terms) if p is not None]
        if not parts:
            return None
        w = max(p.shape[1] for p in parts)
        parts = [F.pad(p.permute(2, 0, 1), (0, w - p.shape[1])).permute(1, 2, 0) for p in parts]
        return torch.cat(parts, 0)

    def finish(self):
        for _, term, _ in self.terms:
            term.finish()

    def to(self, device):
        for _, term, _ in self.terms:
            term.to(device)
        return self
