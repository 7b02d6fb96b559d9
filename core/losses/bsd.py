"""Bootstrapped score distillation (DreamCraft3D's texture boosting) as a loss term.

grad_x = w(t) (eps_DreamBooth(x_t; y, t, c) - eps_phi(x_t; y, t, c)): VSD (core.losses.vsd) whose pretrained
score is replaced by a *boosted* prior that has learned this very object. The bootstrap loop, every `every` steps:
render a multi-view set of the current field, noise it to t' and denoise it with the boosted prior (SDEdit: a
few deterministic DDIM steps; the denoised views are sharper, more consistent versions of the renders), and make
the boosted prior a model of those augmented views with their cameras. t' falls over the run (public code: the
current max step, 500 -> 200 of 1000): early rounds may change the texture a lot, later ones only sharpen it.

How the prior is boosted depends on what it is:
- a network (Stable Diffusion through ComfyUI or diffusers): DreamBooth with a low-rank adapter and a camera
  embedding (core.priors.lora), fine-tuned on the augmented views under the rare-token prompt "a [V] <class>"
  for the first part of each period (public code: 200 of every 1000 steps); the adapter can be saved as a ComfyUI
  LoRA (core.priors.lora.comfy_lora_tensors).
- the world prior (exact): the image-set prior of the augmented views (core.priors.world_prior.ImageSetPrior),
  which is exactly what a perfect fine-tune on them would be, so BSD's effect is measurable offline.
The unconditional branch of CFG stays the base prior's; before the first round the boosted prior is the base one
(BSD starts as VSD).
"""
from __future__ import annotations

import dataclasses

import torch

from ..cameras import Cameras
from ..priors import add_noise, cfg
from ..priors.sampler import ddim_denoise
from .vsd import VSDConfig, VSDLoss


def augmentation_cameras(n: int, elevations=(0.0, 20.0, 40.0), distance: float = 1.8, fov: float = 40.0) -> Cameras:
    """n views spread over rings at `elevations` (azimuths staggered ring to ring): the multi-view set each
    bootstrap round renders and augments."""
    rings = len(elevations)
    per = [n // rings + (i < n % rings) for i in range(rings)]
    el, az = [], []
    for i, (e, k) in enumerate(zip(elevations, per)):
        for j in range(k):
            el.append(float(e))
            az.append((360.0 * j / max(k, 1) + 180.0 * i / max(k, 1)) % 360.0)
    return Cameras.from_spherical(torch.tensor(el), torch.tensor(az), distance, fov)


class Booster:
    """The interface of a boosted prior: what BSD fits on each round's augmented views and then asks for the
    conditional epsilon."""

    #: True: an exact model of the augmented views (no weights), boosted on the prior's own camera grid and
    #: augmented without CFG; False: a network fine-tuned on a few rings of views (its adapter can be saved)
    exact = False

    @property
    def ready(self) -> bool:
        """Whether it has been boosted yet (before that, BSD uses the base prior: it starts as VSD)."""
        raise NotImplementedError

    def fit(self, x0, alpha, cams, background) -> None:
        """Take a round's augmented views x0 [N,C,R,R] (the prior's space) with their coverage and cameras."""
        raise NotImplementedError

    def train(self, generator, batch: int, steps: int) -> float | None:
        """Fine-tuning steps on the views it holds; the mean loss, or None when there is nothing to train."""
        return None

    def eps(self, x_t, t, cams, background=None) -> torch.Tensor:
        raise NotImplementedError

    def release(self) -> None:
        """Take off what it attached to a shared network."""


class ExactBooster(Booster):
    """An exact prior boosted: its conditional becomes the image-set prior of the augmented views (the
    predictor's image_set_prior)."""

    exact = True

    def __init__(self, image_set_prior):
        self.prior = image_set_prior

    @property
    def ready(self) -> bool:
        return self.prior.ready

    def fit(self, x0, alpha, cams, background) -> None:
        """x0 [N,3,R,R] augmented views in [-1,1] over `background` ([N,3,R,R], same space); alpha [N,R,R]."""
        a = alpha[:, None].to(x0)
        colour = x0 - (1 - a) * background.to(x0)  # premultiplied, as the world prior's layers
        self.prior.set_images(torch.cat([colour, a], 1), cams)

    def eps(self, x_t, t, cams, background=None):
        cond = self.prior.condition()[0]
        if background is not None:
            return self.prior.predict_eps(x_t, t, cond, cams, background=background)
        return self.prior.predict_eps(x_t, t, cond, cams)


class AdapterBooster(Booster):
    """DreamBooth on the prior's own network: a second low-rank adapter (apart from VSD's estimator) with a camera
    embedding, trained with the epsilon loss on the augmented views under the rare-token prompt."""

    def __init__(self, predictor, conditioning, rank: int = 4, lr: float = 1e-4):
        from ..priors.lora import adapter_of
        net, self.lora = adapter_of(predictor, rank)
        self.predictor, self.cond = predictor, conditioning
        self._net = net
        self.opt = torch.optim.Adam(self.lora.parameters(), lr=lr)
        self.data = None
        self.trained_steps = 0

    @property
    def ready(self) -> bool:
        return self.trained_steps > 0

    def fit(self, x0, alpha, cams, background) -> None:
        self.data = (x0.detach(), cams)

    def train(self, generator, batch: int, steps: int) -> float | None:
        """`steps` Adam steps on random batches of the augmented views; returns the mean epsilon loss."""
        from ..priors.lora import freeze
        if self.data is None:
            return None
        freeze(self._net)  # a host may have reloaded it in inference mode
        x0, cams = self.data
        p = self.predictor
        T = p.num_timesteps
        losses = []
        for _ in range(steps):
            idx = torch.randperm(x0.shape[0], generator=generator)[:batch]
            x = x0[idx.to(x0.device)]
            c = cams[idx.tolist()].to(x.device)
            t = torch.randint(int(0.02 * T), int(0.98 * T), (x.shape[0],), generator=generator).to(x.device)
            eps = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
            x_t = add_noise(x, eps, t, p.alphas_cumprod)
            with torch.enable_grad(), self.lora.active(c.c2w):
                loss = ((p.predict_eps(x_t, t, self.cond, c).float() - eps) ** 2).mean()
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
            self.opt.step()
            losses.append(float(loss.detach()))
        self.trained_steps += steps
        return sum(losses) / len(losses)

    @torch.no_grad()
    def eps(self, x_t, t, cams, background=None):
        with self.lora.active(cams.c2w.to(x_t.device)):
            return self.predictor.predict_eps(x_t, t, self.cond, cams).float()

    def release(self):
        self.lora.detach_hooks()


def booster_class(predictor) -> type[Booster]:
    """ExactBooster where the predictor offers an exact prior of an image set (the world prior), AdapterBooster for
    a network that can take a LoRA (DreamBooth); else BSD cannot run."""
    if predictor.image_set_prior() is not None:
        return ExactBooster
    if not predictor.exact and predictor.adaptable_network() is not None:
        return AdapterBooster
    raise ValueError(f"BSD boosts its prior on the object's own renders, and {type(predictor).__name__} can be "
                     f"neither fine-tuned (no network a LoRA can adapt: Flux's cannot pass gradients) nor "
                     f"replaced by an exact model of them: use a Checkpoint Prior / Checkpoint Prior (Text) with SD "
                     f"1.x / 2.x, SDXL or SD3 / SD3.5, a Diffusers Prior (Stable Diffusion), or the World Prior in "
                     f"view-aware or 2D mode")


@dataclasses.dataclass(frozen=True, kw_only=True)
class BSDConfig(VSDConfig):
    """BSD's settings: VSD's and the bootstrap's (defaults: DreamCraft3D's public code where it has one)."""

    #: steps between bootstrap rounds (0: the run divided into `rounds` periods)
    augment_every: int = 0
    #: rounds when augment_every is 0
    rounds: int = 5
    #: views rendered and augmented each round (a network prior; the exact one uses its own grid)
    augment_views: int = 16
    #: the SDEdit noise level t' of the first and the last round, fractions of the diffusion's steps
    augment_t_start: float = 0.5
    augment_t_end: float = 0.2
    #: deterministic DDIM steps from t' to a clean augmented view
    sdedit_steps: int = 4
    #: the part of each period spent fine-tuning, its updates per step, learning rate and batch
    finetune_fraction: float = 0.2
    finetune_steps: int = 1
    finetune_lr: float = 1e-4
    finetune_batch: int = 4
    #: the DreamBooth prompt 'a [token] [class_word]' (class: the prior's prompt when empty)
    token: str = "sks"
    class_word: str = ""
    #: the adapter's rank
    rank: int = 4
    #: the elevations of the rings of augmented views
    augment_elevations: tuple = (0.0, 20.0, 40.0)
    #: the part of the run spent as plain VSD before the first round. DreamCraft3D's texture stage starts from the
    #: geometry stage's colours, so its first boost learns a textured object (0, the default). A texture that
    #: starts grey (a fresh densegrid) needs a warm-up, or the first boost learns grey renders and holds the texture
    #: there (bench_families.py dreamcraft3d, 8 capsules, 80 steps: 14.96 dB cold, 32.04 warmed by a fifth, VSD 31.95)
    warmup: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if not all(0 < a < 1 for a in (self.augment_t_start, self.augment_t_end)):
            raise ValueError(f"the augmentation noise levels t' are fractions of the diffusion's steps, within "
                             f"(0, 1); got {(self.augment_t_start, self.augment_t_end)}")
        if self.augment_views < 1 or self.sdedit_steps < 1 or self.rounds < 1 or self.augment_every < 0:
            raise ValueError("BSD needs at least one augmented view, one SDEdit step and one round")
        if not 0 < self.finetune_fraction <= 1:
            raise ValueError(f"the fine-tune fraction of each period is within (0, 1], got {self.finetune_fraction}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"BSD's warm-up is a fraction of the run within [0, 1), got {self.warmup}")


class BSDLoss(VSDLoss):
    """DreamCraft3D's BSD: VSD against a prior boosted on augmented renders of the object (see the module)."""

    name = "bsd"

    config_class = BSDConfig

    def __init__(self, prior, cameras=None, *, config: BSDConfig | None = None, **settings):
        super().__init__(prior, cameras, config=config, **settings)
        c = self.config
        self.every, self.rounds = c.augment_every, c.rounds
        self.augment_views, self.sdedit_steps = c.augment_views, c.sdedit_steps
        self.augment_t = (c.augment_t_start, c.augment_t_end)
        self.augment_elevations = tuple(c.augment_elevations)
        self.finetune = dict(fraction=c.finetune_fraction, steps=c.finetune_steps, lr=c.finetune_lr,
                             batch=c.finetune_batch, rank=c.rank)
        self.token, self.class_word = c.token.strip(), c.class_word.strip()
        self.warmup = c.warmup
        self.booster_class = booster_class(self.predictor)
        # SDEdit's guidance: the loss's for a network (DreamBooth's augmentations are guided samples); none for the
        # exact world prior, whose conditional posterior is already the object's (CFG would overshoot the colours)
        self.augment_scale = 1.0 if self.booster_class.exact else self.scale
        self.booster = None  # each run boosts its own (begin)
        self.augmented = None  # the last round's (renders, augmented views) in 0..1, for previews
        self.boost_cameras = None  # the last round's cameras (what a saved LoRA's camera bias averages over)
        self.rounds_done = 0

    # ---- the boosted prior ------------------------------------------------------------------------------------
    def trigger_prompt(self) -> str:
        """The DreamBooth prompt "a [V] <class>" (class: the prompt's own words when none is given)."""
        subject = self.class_word or self.prior.prompt or "object"
        return f"a {self.token} {subject}".strip()

    def _make_booster(self) -> Booster:
        if self.booster_class.exact:
            return ExactBooster(self.predictor.image_set_prior())
        if self.prior.fixed is None:
            cond = self.predictor.condition(self.trigger_prompt(), self.prior.negative)[0]
        else:  # conditioning given by the host: the token cannot be added; the boosted model learns under it
            cond = self.prior.fixed[0]
        return AdapterBooster(self.predictor, cond, self.finetune["rank"], self.finetune["lr"])

    def warmup_steps(self, total: int) -> int:
        """The first steps, plain VSD (warmup)."""
        return int(self.warmup * total)

    def period(self, total: int) -> int:
        return self.every or max(1, (total - self.warmup_steps(total)) // self.rounds)

    def augment_level(self, step: int, total: int) -> int:
        """t' (a timestep index) for a round at `step`: augment_t[0] -> augment_t[1] linearly over the rounds'
        part of the run."""
        lo_hi = self.augment_t
        w = self.warmup_steps(total)
        f = (step - w) / max(total - w - 1, 1)
        return int((lo_hi[0] + (lo_hi[1] - lo_hi[0]) * f) * self.predictor.num_timesteps)

    def augmentation_set(self) -> Cameras:
        """The views each round augments. A network generalizes across views, so a few rings suffice
        (augment_views). The exact world prior knows only the views it holds, so it is boosted on its own camera
        grid within the loss's elevation range: a sparse set would leave most render cameras far from any
        augmented view (measured on the duck, 16 ring views: 25.2 dB against VSD's 28.5)."""
        p = self.predictor
        dist, fov = p.fixed_camera or (1.8, 40.0)
        if not self.booster_class.exact:
            return augmentation_cameras(self.augment_views, self.augment_elevations, dist, fov)
        grid = p.cameras
        if isinstance(self.cameras, Cameras):
            lo, hi = float(self.cameras.elevation.min()), float(self.cameras.elevation.max())
        else:
            lo, hi = self.cameras.elevation_range
        # every other grid azimuth (30°): within the prior's 25° kernel of any render camera, half the cost
        step = 2 * p.grid["azimuth_step"]
        on_step = torch.remainder(grid.azimuth + 1e-3, step) < 2e-3
        keep = ((grid.elevation >= lo - 10) & (grid.elevation <= hi + 10) & on_step).nonzero().squeeze(-1).tolist()
        return grid[keep] if keep else grid

    @torch.no_grad()
    def augment(self, field, step: int, total: int) -> None:
        """One bootstrap round: render the multi-view set, SDEdit it with the boosted prior (CFG against the base
        unconditional), and hand the views to the booster."""
        p = self.predictor
        cams = self.augmentation_set()
        dev = next(field.parameters()).device
        cams = cams.to(dev)
        white = (1.0, 1.0, 1.0)
        rec = field.render_views(cams, p.resolution, perturb=False, background=white)
        x0 = p.encode(rec.rgb)
        bg = p.encode(rec.background) if p.background_input else None
        t_aug = self.augment_level(step, total)
        ts = torch.linspace(t_aug, 0, self.sdedit_steps + 1)[:-1].round().long().tolist()
        eps = torch.randn(x0.shape, generator=self._gen).to(x0)
        x_t = add_noise(x0, eps, torch.full((x0.shape[0],), t_aug, device=dev), p.alphas_cumprod)
        uncond = self.prior.conditions(None)[1]

        def guided(x, t):
            e_c = self.boosted_conditional(x, t, cams, bg)
            if self.augment_scale == 1:
                return e_c
            return cfg(self.predict(x, t, uncond, cams, bg), e_c, self.augment_scale)

        out = ddim_denoise(x_t, ts, guided, p.alphas_cumprod, clamp=p.space == "pixel")
        self.booster.fit(out, rec.alpha, cams, bg if bg is not None else p.encode(rec.background))
        self.augmented = (rec.rgb.detach(), p.decode(out).to(rec.rgb.device))
        self.boost_cameras = cams.to("cpu")
        self.rounds_done += 1

    # ---- the loss ---------------------------------------------------------------------------------------------
    def begin(self, device):
        """A run boosts its own prior: a new booster, no rounds yet."""
        super().begin(device)
        self.booster = self._make_booster()
        self.rounds_done, self.augmented, self.boost_cameras = 0, None, None

    def finish(self):
        """Drop VSD's estimator; the booster takes its hooks off the network but keeps its adapter (to save)."""
        super().finish()
        if self.booster is not None:
            self.booster.release()

    @torch.no_grad()
    def boosted_conditional(self, x_t, t, cams, background=None):
        """The boosted prior's conditional epsilon; before the first round, the base prior's."""
        if self.booster.ready:
            return self.booster.eps(x_t, t, cams, background).to(x_t)
        return self.predict(x_t, t, self.prior.conditions(None)[0], cams, background)

    def pretrained_eps(self, x_t, t, cams, background=None):
        """CFG of the boosted conditional against the base unconditional; before the first round exactly VSD's."""
        if not self.booster.ready:
            return super().pretrained_eps(x_t, t, cams, background)
        e_u = self.predict(x_t, t, self.prior.conditions(None)[1], cams, background)
        return cfg(e_u, self.boosted_conditional(x_t, t, cams, background), self.scale)

    def loss(self, field, record, step, total):
        """The bootstrap schedule (after the warm-up, a round at the start of each period, fine-tuning in its first
        part), then VSD's loss with the boosted score."""
        k, w = self.period(total), self.warmup_steps(total)
        if step < w:
            return super().loss(field, record, step, total)
        logs = {}
        if (step - w) % k == 0:
            self.augment(field, step, total)
            logs["t_aug"] = float(self.augment_level(step, total))
        if (step - w) % k < max(1, round(self.finetune["fraction"] * k)):
            ft = self.booster.train(self._gen, self.finetune["batch"], self.finetune["steps"])
            if ft is not None:
                logs["finetune"] = ft
        value, vsd_logs = super().loss(field, record, step, total)
        return value, logs | vsd_logs

    def preview(self):
        """The renders over the boosted prior's targets, and beneath them the last round's augmented views."""
        base = super().preview()
        if base is None or self.augmented is None:
            return base
        _, aug = self.augmented
        n = base.shape[1] // aug.shape[2]
        row = torch.cat(list(aug[:n].clamp(0, 1)), 1)
        if row.shape[1] != base.shape[1]:  # fewer augmented views than the batch shows
            return base
        return torch.cat([base, row.to(base.device)], 0)

    def lora_tensors(self) -> dict:
        """The boosted adapter as ComfyUI LoRA tensors (see core.priors.lora.comfy_lora_tensors)."""
        from ..priors.lora import comfy_lora_tensors
        if self.booster_class.exact:
            raise ValueError("only a network prior's boost can be saved as a LoRA (the World Prior's is exact: "
                             "it has no weights)")
        if self.booster is None or not self.booster.ready:
            raise ValueError("the BSD loss has not boosted its prior yet: run Optimize Field with it first")
        cams = self.boost_cameras
        return comfy_lora_tensors(self.booster.lora, None if cams is None else cams.c2w)
