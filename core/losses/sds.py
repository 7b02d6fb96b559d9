"""Score distillation sampling (DreamFusion) as a loss term: any prior, any field, one formula.

grad_x = w(t) (eps_hat - eps), with eps_hat from classifier-free guidance; applied through the trick
target = (x - grad).detach(), loss = 0.5 ||x - target||^2 / B, so that d loss / d x = grad / B.
The flow forms (Yang et al. 2024, RFDS and RFDS-Rev) take the velocity residual v_hat - (eps - x0) instead, on the
same timeline (core.priors.paths): for a flow model its own, for any other prior the flow with the same noise levels.
"""
from __future__ import annotations

import dataclasses

import torch

from ..cameras import CameraDistribution, Cameras, direction_label, random_light
from ..priors import PromptedPrior, add_noise, cfg, cfg_rescale, eps_to_x0, x0_to_eps
from ..priors.paths import logit_normal_weight, velocity_gap
from . import LossTerm, ViewRequest

WEIGHTINGS = ("sds", "uniform", "fantasia3d", "rfds")
T_SCHEDULES = ("linear", "step", "dreamtime")
#: the gradient: 'sds' w (eps_hat - eps); 'rfds' w (v_hat - (eps - x0)) (RFDS); 'rfds-rev' the same after one
#: iRFDS inversion step replaces the random noise by the model's own (RFDS-Rev, the paper's text-to-3D use of iRFDS)
FORMS = ("sds", "rfds", "rfds-rev")


def sds_weight(kind: str, alphas_cumprod: torch.Tensor, t: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """w(t): 'sds' = sigma_t^2 = 1 - a_t (DreamFusion), 'uniform' = 1, 'fantasia3d' = sqrt(a_t)(1 - a_t),
    'rfds' = sigmoid(u), u ~ N(0, 1) per sample (RFDS's published weight; needs the step's generator)."""
    a = alphas_cumprod.to(t.device)[t.long()]
    if kind == "sds":
        return 1 - a
    if kind == "uniform":
        return torch.ones_like(a)
    if kind == "fantasia3d":
        return a.sqrt() * (1 - a)
    if kind == "rfds":
        if generator is None:
            raise ValueError("the 'rfds' weighting is drawn per sample: pass the step's generator")
        return logit_normal_weight(t.shape[0], generator).to(a)
    raise ValueError(f"unknown SDS weighting '{kind}'; choose one of {', '.join(WEIGHTINGS)}")


def sds_from_eps(x: torch.Tensor, eps_hat: torch.Tensor, eps: torch.Tensor, w: torch.Tensor,
                 grad_clip: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The SDS loss whose gradient w.r.t. x is w (eps_hat - eps) / B. Returns (loss, the gradient used)."""
    return sds_from_residual(x, eps_hat - eps, w, grad_clip)


def sds_from_residual(x: torch.Tensor, residual: torch.Tensor, w: torch.Tensor,
                      grad_clip: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss whose gradient w.r.t. x is w residual / B (residual: eps_hat - eps, or a velocity residual)."""
    grad = w.reshape(-1, *([1] * (x.ndim - 1))) * residual
    grad = torch.nan_to_num(grad)
    if grad_clip:
        grad = grad.clamp(-grad_clip, grad_clip)
    target = (x - grad).detach()
    return 0.5 * ((x - target) ** 2).sum() / x.shape[0], grad


def timestep_bounds(schedule: str, step: int, total: int, start: tuple[float, float], end: tuple[float, float],
                    until: float = 0.5) -> tuple[float, float]:
    """The (min, max) fraction of the diffusion's timesteps to sample t from at `step` of `total`.

    'linear': from `start` to `end` linearly over the first `until` of the run (threestudio's annealing);
    'step': `start` until then, `end` after (DreamFusion-style two stages, ProlificDreamer's t-annealing);
    'dreamtime': a window 0.1 wide that slides monotonically from start's max to end's min over the whole run
    (DreamTime's decreasing-timestep sampling, without its learned prior weighting).
    """
    x = step / max(total - 1, 1)
    if schedule == "linear":
        f = min(step / max(until * total, 1), 1.0)
        return start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f
    if schedule == "step":
        return start if step < until * total else end
    if schedule == "dreamtime":
        hi, lo = start[1], end[0]
        c = hi + (lo - hi) * x
        return max(lo, c - 0.05), min(hi, c + 0.05)
    raise ValueError(f"unknown timestep schedule '{schedule}'; choose one of {', '.join(T_SCHEDULES)}")


SHADING_MIXES = {
    "albedo": (("albedo", 1.0),),
    "dreamfusion (albedo / lambertian / textureless)": (("albedo", 0.4), ("lambertian", 0.4), ("textureless", 0.2)),
    "lambertian": (("lambertian", 1.0),),
    "normal": (("normal", 1.0),),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class SDSConfig:
    """The settings every score-distillation loss shares (SDS, Multi-View SDS, VSD, BSD, and each of Hybrid SDS's
    two terms). Each field has the name of the node input that sets it."""

    #: classifier-free guidance scale s: eps_u + s (eps_c - eps_u) (DreamFusion: 100 on Stable Diffusion)
    guidance_scale: float = 100.0
    #: renders per step (the batch); with `views` > 1, a multiple of it
    views_per_step: int = 4
    #: w(t): one of WEIGHTINGS ('sds' = 1 - alpha_bar, DreamFusion's)
    weighting: str = "sds"
    #: the timestep range at the start, as fractions of the diffusion's timesteps
    t_min: float = 0.02
    t_max: float = 0.98
    #: the range once annealed (None: the start's value, no annealing)
    t_min_end: float | None = None
    t_max_end: float | None = None
    #: how the range moves from start to end: one of T_SCHEDULES (see timestep_bounds)
    t_schedule: str = "linear"
    #: the fraction of the run over which 'linear' anneals (and at which 'step' jumps)
    anneal_until: float = 0.5
    #: MVDream's CFG rescale phi (0 = off), over each group of `views`
    cfg_rescale: float = 0.0
    #: MVDream's x0-reconstruction loss 0.5 ||x - sg(x0_hat)||^2 instead of the epsilon-form gradient
    x0_form: bool = False
    #: append 'front / side / back / overhead view' per camera (text priors only)
    view_dependent_prompts: bool = True
    #: how the renders are shaded: a SHADING_MIXES name, or ((shading, probability), ...)
    shading: str | tuple = "albedo"
    #: the spread of the random light of shaded renders (core.cameras.random_light)
    light_spread: float = 0.5
    #: clip each gradient element to +-value (0 = off)
    grad_clip: float = 0.0
    #: views per group, denoised together (MVDream's multi-view prior); one timestep per group
    views: int = 1
    #: the probability that a step's views are rendered over random solid colours (threestudio's augmentation)
    random_background: float = 0.0
    #: the term's weight in the sum of losses
    weight: float = 1.0
    #: the gradient's form: one of FORMS ('sds'; 'rfds', 'rfds-rev': the rectified-flow forms)
    form: str = "sds"

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"unknown distillation form '{self.form}'; choose one of {', '.join(FORMS)}")
        if self.form != "sds" and self.x0_form:
            raise ValueError(f"the x0-reconstruction loss is a form of SDS's epsilon gradient; the '{self.form}' "
                             f"form has its own velocity gradient: turn x0_form off or choose the 'sds' form")
        if not 0.0 <= self.random_background <= 1.0:
            raise ValueError(f"the random-background probability must be within 0..1, got {self.random_background}")
        if self.views < 1 or self.views_per_step % self.views:
            raise ValueError(f"a batch of {self.views_per_step} views cannot form groups of {self.views}: use a "
                             f"multiple of {self.views}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"unknown SDS weighting '{self.weighting}'; choose one of {', '.join(WEIGHTINGS)}")
        if self.t_schedule not in T_SCHEDULES:
            raise ValueError(f"unknown timestep schedule '{self.t_schedule}'; choose one of {', '.join(T_SCHEDULES)}")
        for r in (self.t_range, self.t_range_end):
            if not 0 < r[0] < r[1] <= 1:
                raise ValueError(f"timestep ranges must satisfy 0 < min < max <= 1, got {r}")
        if isinstance(self.shading, str) and self.shading not in SHADING_MIXES:
            raise ValueError(f"unknown shading '{self.shading}'; choose one of {', '.join(SHADING_MIXES)}")

    @property
    def t_range(self) -> tuple[float, float]:
        return self.t_min, self.t_max

    @property
    def t_range_end(self) -> tuple[float, float]:
        return (self.t_min if self.t_min_end is None else self.t_min_end,
                self.t_max if self.t_max_end is None else self.t_max_end)

    @property
    def shading_mix(self) -> tuple:
        return SHADING_MIXES[self.shading] if isinstance(self.shading, str) else tuple(self.shading)


def configured(config_class, config=None, settings=None):
    """`config` (the class's defaults if None) with `settings` (field names as keywords) replaced."""
    config = config_class() if config is None else config
    if not isinstance(config, config_class):
        raise TypeError(f"expected a {config_class.__name__}, got a {type(config).__name__}")
    return dataclasses.replace(config, **settings) if settings else config


class SDSLoss(LossTerm):
    """DreamFusion's SDS against any prior. Cameras: a CameraDistribution (sampled each step) or a fixed Cameras
    set (a random subset each step). Renders at the prior's resolution, in a shading it can judge.
    `views` > 1 makes the batch groups of that many views (MVDream): cameras drawn as groups, one timestep per
    group, CFG rescale over each group (see MultiViewSDSLoss). Settings: an SDSConfig, or its fields as keywords."""

    name = "sds"
    config_class = SDSConfig

    def __init__(self, prior: PromptedPrior, cameras: CameraDistribution | Cameras | None = None, *,
                 config: SDSConfig | None = None, **settings):
        c = configured(self.config_class, config, settings)
        super().__init__(c.weight)
        self.config = c
        views = c.views
        if c.random_background and not prior.predictor.any_background:
            raise ValueError(f"{type(prior.predictor).__name__} judges renders only over the background of its own "
                             f"conditioning, so random backgrounds would give a wrong gradient: set the "
                             f"random-background probability to 0 and give the field a solid background instead")
        if prior.predictor.views > 1 and prior.predictor.views != views:
            raise ValueError(f"this prior denoises groups of {prior.predictor.views} views; the loss makes groups "
                             f"of {views}")
        if isinstance(cameras, Cameras) and len(cameras) % views:
            raise ValueError(f"a fixed set of {len(cameras)} cameras cannot be split into groups of {views} views")
        if isinstance(cameras, CameraDistribution) and cameras.views_per_group != views:
            if cameras.views_per_group != 1:
                raise ValueError(f"the camera distribution draws groups of {cameras.views_per_group} views; the "
                                 f"loss wants groups of {views}")
            cameras = dataclasses.replace(cameras, views_per_group=views)
        if isinstance(cameras, Cameras) and len(cameras) == 0:
            raise ValueError("the SDS camera set is empty")
        usable = [(s, p) for s, p in c.shading_mix if p > 0 and s in prior.predictor.shadings]
        if not usable:
            raise ValueError(f"{type(prior.predictor).__name__} judges only {', '.join(prior.predictor.shadings)} "
                             f"renders; give one of them a probability above 0")
        self.prior, self.predictor = prior, prior.predictor
        self.cameras = CameraDistribution(views_per_group=views) if cameras is None else cameras
        self.views, self.batch, self.scale, self.weighting = views, c.views_per_step, c.guidance_scale, c.weighting
        self.t_range, self.t_range_end = c.t_range, c.t_range_end
        self.t_schedule, self.anneal_until = c.t_schedule, c.anneal_until
        self.phi, self.group, self.x0_form = c.cfg_rescale, views, c.x0_form
        self.view_prompts = c.view_dependent_prompts and prior.view_prompts
        self.grad_clip, self.shadings, self.light_spread = c.grad_clip or None, usable, c.light_spread
        self.random_background = c.random_background
        self.form = c.form
        self._gen = None
        self._cams = None
        self._last = None

    def sample_cameras(self, generator: torch.Generator, step: int = 0, total: int = 1) -> Cameras:
        if isinstance(self.cameras, Cameras):  # random groups of consecutive cameras (single views when views = 1)
            v = self.views
            groups = torch.randint(len(self.cameras) // v, (self.batch // v,), generator=generator)
            cams = self.cameras[(groups[:, None] * v + torch.arange(v)).flatten().tolist()]
        else:
            cams = self.cameras.at(step, total).sample(self.batch, generator)
        return self.predictor.cameras_for(cams)

    def request(self, step, total, generator, field=None):
        self._gen = generator
        self._cams = self.sample_cameras(generator, step, total)
        probs = torch.tensor([p for _, p in self.shadings])
        shading = self.shadings[int(torch.multinomial(probs, 1, generator=generator))][0]
        light = random_light(self._cams, generator, self.light_spread) if shading != "albedo" else None
        r = self.predictor.resolution
        return ViewRequest(self._cams, r, r, shading=shading, light_dirs=light, background=self.draw_background())

    def draw_background(self):
        """With probability `random_background`, one random solid colour per view for this step (threestudio's
        augmentation: the field cannot hide an object of the background's colour behind it); else None, the
        field's own background."""
        if not self.random_background or float(torch.rand((), generator=self._gen)) >= self.random_background:
            return None
        return torch.rand(len(self._cams), 3, generator=self._gen)

    def backgrounds(self, record):
        """The backgrounds of the renders in the prior's space, for a prior whose posterior depends on them
        (background_input); None for networks, which simply see the composited renders."""
        if not self.predictor.background_input or record.background is None:
            return None
        with torch.no_grad():
            return self.predictor.encode(record.background.detach())

    def predict(self, x_t, t, cond, cams, background=None):
        """The prior's epsilon, told the renders' background where it takes one."""
        if background is not None:
            return self.predictor.predict_eps(x_t, t, cond, cams, background=background)
        return self.predictor.predict_eps(x_t, t, cond, cams)

    @torch.no_grad()
    def guided_eps(self, x_t, t, cams, background=None):
        """(CFG-guided eps, conditional eps): one unconditional call, one conditional call per view label."""
        p = self.predictor
        e_c = self.conditional_eps(x_t, t, cams, background)
        if self.scale == 1:  # no guidance (e.g. Flux-dev, whose guidance is distilled): no unconditional call
            eps_hat = e_c
        else:
            eps_hat = cfg(self.predict(x_t, t, self.prior.conditions(None)[1], cams, background), e_c, self.scale)
        if self.phi:
            ac = p.alphas_cumprod
            x0_g = cfg_rescale(eps_to_x0(x_t, eps_hat, t, ac), eps_to_x0(x_t, e_c, t, ac), self.phi, self.group)
            eps_hat = x0_to_eps(x_t, x0_g, t, ac)
        return eps_hat, e_c

    @torch.no_grad()
    def conditional_eps(self, x_t, t, cams, background=None):
        """The prior's conditional eps, one call per view label (the view-dependent prompt of each camera)."""
        labels = ([direction_label(float(e), float(a)) for e, a in zip(cams.elevation, cams.azimuth)]
                  if self.view_prompts else [None] * x_t.shape[0])
        e_c = torch.empty_like(x_t)
        for label in sorted(set(labels), key=str):
            idx = [i for i, lab in enumerate(labels) if lab == label]
            e_c[idx] = self.predict(x_t[idx], t[idx], self.prior.conditions(label)[0], cams[idx],
                                    None if background is None else background[idx])
        return e_c

    def noised(self, x, step, total):
        """(t, eps, x_t) for this step: t from the scheduled range, x_t from the detached x0."""
        T = self.predictor.num_timesteps
        lo, hi = timestep_bounds(self.t_schedule, step, total, self.t_range, self.t_range_end, self.anneal_until)
        t = torch.randint(int(lo * T), max(int(hi * T), int(lo * T) + 1), (x.shape[0] // self.views,),
                          generator=self._gen)
        t = t.repeat_interleave(self.views).to(x.device)  # one timestep per view group
        eps = torch.randn(x.shape, generator=self._gen).to(x.device, x.dtype)
        return t, eps, add_noise(x.detach(), eps, t, self.predictor.alphas_cumprod)

    def loss(self, field, record, step, total):
        p = self.predictor
        x = p.encode(record.rgb)
        dev = x.device
        ac = p.alphas_cumprod
        t, eps, x_t = self.noised(x, step, total)
        with torch.no_grad():
            cams, background = self._cams.to(dev), self.backgrounds(record)
            if self.form == "rfds-rev":  # iRFDS's inversion step: eps + (1 - sigma)(v_c - (eps - x0)) = eps_c
                eps = self.conditional_eps(x_t, t, cams, background)
                x_t = add_noise(x.detach(), eps, t, ac)
            eps_hat, _ = self.guided_eps(x_t, t, cams, background)
            target = eps_to_x0(x_t, eps_hat, t, ac)
        self._last = (record.rgb.detach(), target)
        if self.x0_form:  # MVDream: 0.5 ||x - sg(x0_hat)||^2, SDS with another weight
            value = 0.5 * ((x - target) ** 2).sum() / x.shape[0]
            return value, {"sds": float(value.detach()), "t": float(t.float().mean())}
        w = sds_weight(self.weighting, ac, t, self._gen).to(x)
        residual = eps_hat - eps if self.form == "sds" else velocity_gap(eps_hat, eps, ac, t)
        value, grad = sds_from_residual(x, residual, w, self.grad_clip)
        return value, {"sds": float(value.detach()), "grad_norm": float(grad.norm() / x.shape[0]),
                       "t": float(t.float().mean())}

    def preview(self):
        """The last step's renders (top) over the prior's denoised targets x0_hat (bottom)."""
        if self._last is None:
            return None
        rgb, target = self._last
        with torch.no_grad():
            tgt = self.predictor.decode(target).to(rgb.device)
        if tgt.shape[1:3] != rgb.shape[1:3]:
            tgt = torch.nn.functional.interpolate(tgt.permute(0, 3, 1, 2), size=rgb.shape[1:3],
                                                  mode="bilinear").permute(0, 2, 3, 1)
        return torch.cat([torch.cat(list(rgb.clamp(0, 1)), 1), torch.cat(list(tgt), 1)], 0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MultiViewSDSConfig(SDSConfig):
    """MVDream's defaults: guidance 50, rescale 0.5, the x0 form, no view suffixes; the batch is `views` x
    `groups_per_step` (views_per_step is set from them)."""

    guidance_scale: float = 50.0
    cfg_rescale: float = 0.5
    x0_form: bool = True
    view_dependent_prompts: bool = False
    views: int = 4
    #: view groups per step
    groups_per_step: int = 1

    def __post_init__(self):
        object.__setattr__(self, "views_per_step", self.views * self.groups_per_step)
        super().__post_init__()


class MultiViewSDSLoss(SDSLoss):
    """MVDream's multi-view SDS: groups of `views` cameras sharing elevation, fov and distance, azimuths
    r + i·360/V, rendered together and scored jointly by a multi-view prior (MVDream, the world prior's
    'multi-view' mode); one timestep per group, CFG rescale over each group, the x0-reconstruction form; no
    view-dependent prompt suffixes (the prior sees the cameras). Settings: a MultiViewSDSConfig."""

    name = "mvsds"
    config_class = MultiViewSDSConfig
