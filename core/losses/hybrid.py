"""DreamCraft3D's hybrid SDS: one batch of renders judged by a 2D text prior and a view-conditioned prior.

grad = w_2D · SDS(2D prior, text) + w_3D · SDS(view-conditioned prior, reference + relative pose), each term with
its own guidance scale and timestep (public code: guidance 20 on DeepFloyd IF and 5 on Stable Zero123, equal
weights; the paper weights the 3D term mu = 2). Both terms are core.losses.sds.SDSLoss: this class only shares
their cameras and renders, so a step costs one render, not two.
A picture framed unlike the world's own view (the image prior places its object: NoisePredictor.placement) is
followed by the cameras, not the priors: each step's cameras move with the placing (Cameras.placed), so both priors
judge renders framed as their own data are (the world's objects, centred, at their size). Asking the text prior for
the placed object instead lost shape: its camera-blind renders of an off-centre object disagree with each other (the
duck moved 10 px: IoU 0.756 -> 0.549), and a larger object leaves its fixed frame.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from . import LossTerm
from ..render import RenderRecord
from ..priors import PromptedPrior
from .sds import SDSConfig, SDSLoss, configured


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class HybridSDSConfig:
    """Hybrid SDS's settings, named as the node's inputs. The two terms share the cameras, renders, timestep
    schedule and shading; each has its own guidance scale and weight."""

    #: guidance scales of the view-conditioned term and the text term (public code: 5 on Zero123, 20 on IF)
    guidance_3d: float = 5.0
    guidance_2d: float = 20.0
    #: the terms' weights (0 drops a term: the ablation; the paper weights the 3D term mu = 2)
    weight_3d: float = 1.0
    weight_2d: float = 1.0
    #: renders per step (public code: 1)
    views_per_step: int = 1
    #: timesteps: [t_min, t_max] at the start, to [t_min_end, t_max_end] by anneal_until of the run (DreamCraft3D's)
    t_min: float = 0.7
    t_max: float = 0.85
    t_min_end: float = 0.2
    t_max_end: float = 0.5
    anneal_until: float = 0.04
    #: w(t), shading, random backgrounds, view suffixes of the text term, gradient clipping: as SDSConfig's
    weighting: str = "sds"
    shading: str | tuple = "albedo"
    random_background: float = 0.0
    view_dependent_prompts: bool = True
    grad_clip: float = 0.0
    #: the term's weight in the sum of losses
    weight: float = 1.0
    #: where the image prior places the picture's object, the cameras move with the placing (False: the cameras
    #: stay and the 3D term judges the placed object: the comparison row of bench_image_framing --fit)
    cameras_follow_placing: bool = True

    def __post_init__(self):
        if self.weight_3d < 0 or self.weight_2d < 0:
            raise ValueError(f"the term weights must be >= 0, got 3D {self.weight_3d} and 2D {self.weight_2d}")

    def term_config(self, guidance_scale: float, view_dependent_prompts: bool, shading) -> SDSConfig:
        """The SDS settings of one of the two terms."""
        return SDSConfig(guidance_scale=guidance_scale, views_per_step=self.views_per_step, weighting=self.weighting,
                         t_min=self.t_min, t_max=self.t_max, t_min_end=self.t_min_end, t_max_end=self.t_max_end,
                         t_schedule="linear", anneal_until=self.anneal_until, shading=shading,
                         random_background=self.random_background, grad_clip=self.grad_clip,
                         view_dependent_prompts=view_dependent_prompts)


class HybridSDSLoss(LossTerm):
    """2D + 3D-aware SDS on the same renders. prior_2d may be None (3D term only); weight_3d = 0 drops the 3D term
    (the ablation). Timesteps follow DreamCraft3D's annealing by default: t in [0.7, 0.85] at the start, linearly to
    [0.2, 0.5] by `anneal_until` of the run; progressive views come from the CameraDistribution (progressive_until).
    Renders are made at the 3D prior's resolution and resized for the 2D prior when it differs. Settings: a
    HybridSDSConfig, or its fields as keywords."""

    name = "hybrid"

    def __init__(self, prior_3d: PromptedPrior, prior_2d: PromptedPrior | None = None, cameras=None, *,
                 config: HybridSDSConfig | None = None, **settings):
        c = configured(HybridSDSConfig, config, settings)
        super().__init__(c.weight)
        self.config = c
        if prior_2d is None and c.weight_3d == 0:
            raise ValueError("the hybrid loss has nothing to judge with: no 2D prior and a 3D weight of 0")
        if prior_2d is not None and c.weight_2d == 0 and c.weight_3d == 0:
            raise ValueError("both hybrid weights are 0: give one of them a weight above 0")
        placement = prior_3d.predictor.placement
        self.orbit = None  # (scale, offset): the renders' cameras move with the picture's placing
        if placement is not None and prior_2d is not None and c.weight_2d > 0 and c.cameras_follow_placing:
            self.orbit = placement
            prior_3d = PromptedPrior(prior_3d.predictor, conditioning=prior_3d.predictor.conditioning(placed=False))
        judged = [p for p, w in ((prior_3d, c.weight_3d), (prior_2d, c.weight_2d)) if p is not None and w > 0]
        mix = SDSConfig(shading=c.shading).shading_mix
        usable = tuple((s, q) for s, q in mix if all(s in p.predictor.shadings for p in judged))
        if not any(q > 0 for _, q in usable):
            raise ValueError("the two priors judge no shading in common with a probability above 0: "
                             + "; ".join(f"{type(p.predictor).__name__} judges {', '.join(p.predictor.shadings)}"
                                         for p in judged))
        self.terms = []  # (name, SDSLoss, weight), the first renders
        if c.weight_3d > 0:
            self.terms.append(("3d", SDSLoss(prior_3d, cameras, config=c.term_config(c.guidance_3d, False, usable)),
                               c.weight_3d))
        if prior_2d is not None and c.weight_2d > 0:
            self.terms.append(("2d", SDSLoss(prior_2d, cameras, config=c.term_config(
                c.guidance_2d, c.view_dependent_prompts, usable)), c.weight_2d))

    def begin(self, device):
        """Runs of its two terms."""
        self.terms = [(name, term.start(device), w) for name, term, w in self.terms]

    def request(self, step, total, generator, field=None):
        first = self.terms[0][1]
        req = first.request(step, total, generator, field)
        for _, term, _ in self.terms[1:]:  # the same cameras and draws: one render for both
            term._gen, term._cams = generator, first._cams
        if self.orbit is not None:  # the priors are told the cameras as drawn; the field is seen from them placed
            req = dataclasses.replace(req, cameras=req.cameras.placed(*self.orbit))
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
