"""DiffusionGAN3D's text-guided domain adaptation through the one optimizer loop (core.optimize): a trainable copy
of the generator (core.gan.field.GeneratorTrainer) against SDS on renders of random latents and cameras (any
prior), the relative distance loss (keeps the samples apart) and, for local edits, the diffusion-guided
reconstruction loss (core.losses.gan).

    result = adapt_generator(g, PromptedPrior(WorldPrior(32), "a red mug"), steps=200, batch=4)  # AdaptConfig
    g2 = result.generator
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..cameras import CameraDistribution
from ..losses.sds import SDSLoss
from ..losses.gan import DiffusionReconstructionLoss, RelativeDistanceLoss
from ..optimize import OptimizeResult, optimize
from .eg3d import TriplaneGenerator
from .field import GeneratorTrainer
from .world import CAMERA_DISTANCE, family_of


@dataclass
class AdaptResult:
    generator: TriplaneGenerator
    run: OptimizeResult


#: EG3D's FFHQ / AFHQ cameras: focal 4.2647 (in image widths), a vertical fov of 13.37°
EG3D_FOV = 13.37


def adaptation_cameras(generator: TriplaneGenerator) -> CameraDistribution:
    """Where SDS looks at the samples from: all around for the pack's generators (trained on every side); for
    EG3D's face / cat models, the frontal poses their data cover (azimuth ±35°, elevation ±15°) at their fov."""
    if family_of(generator) is not None:
        return CameraDistribution(elevation_range=(-10.0, 60.0), distance_range=(CAMERA_DISTANCE, CAMERA_DISTANCE),
                                  fov_range=(40.0, 40.0))
    return CameraDistribution(elevation_range=(-15.0, 15.0), azimuth_range=(-35.0, 35.0),
                              distance_range=(CAMERA_DISTANCE, CAMERA_DISTANCE), fov_range=(EG3D_FOV, EG3D_FOV))


#: the relative distance loss's default weight: its KL is of order 1e-3 where SDS's own loss is of order 1e3
RELATIVE_DISTANCE_WEIGHT = 1e4


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdaptConfig:
    """DiffusionGAN3D's adaptation settings, named as the Adapt 3D GAN node's inputs."""

    #: optimization steps and the synthesis network's Adam learning rate (the decoder's is a tenth)
    steps: int = 200
    learning_rate: float = 1e-3
    #: latents per step, one view each (the relative distance loss needs 3 or more)
    batch: int = 4
    #: SDS's classifier-free guidance scale and its timestep range (fractions of the diffusion's)
    guidance_scale: float = 100.0
    t_min: float = 0.02
    t_max: float = 0.98
    #: the relative distance loss's weight (0: off; its KL is of order 1e-3 where SDS's loss is of order 1e3) and
    #: the temperature of its softmax
    relative_distance_weight: float = RELATIVE_DISTANCE_WEIGHT
    temperature: float = 0.1
    #: the diffusion-guided reconstruction loss's weight (above 0: a local edit) and what the generator draws now
    #: (the edit region is where the prompt and this differ; empty: against the unconditional prediction)
    reconstruction_weight: float = 0.0
    source_prompt: str = ""
    #: the latents' truncation, samples per ray of the renders, the run's seed
    truncation_psi: float = 1.0
    samples_per_ray: int = 48
    seed: int = 0

    def __post_init__(self):
        if self.relative_distance_weight > 0 and self.batch < 3:
            b = self.batch
            raise ValueError(f"the relative distance loss compares each sample's similarities to the others: a "
                             f"batch of {b} latent{'s' if b > 1 else ''} has "
                             f"{'no pairs' if b < 2 else 'one other sample each, and a softmax over one similarity is always 1'}; "
                             f"use a batch of 3 or more, or a relative distance weight of 0")


def adaptation_terms(prior, config: AdaptConfig, cameras: CameraDistribution | None = None, extra=()) -> list:
    """The loss terms of an adaptation (SDS with one latent per view; the relative distance and reconstruction
    losses where their weights are above 0)."""
    c = config
    cams = cameras or CameraDistribution(elevation_range=(-10.0, 60.0),
                                         distance_range=(CAMERA_DISTANCE, CAMERA_DISTANCE), fov_range=(40.0, 40.0))
    terms = [SDSLoss(prior, cams, views_per_step=c.batch, guidance_scale=c.guidance_scale, t_min=c.t_min,
                     t_max=c.t_max)]
    if c.relative_distance_weight > 0:
        terms.append(RelativeDistanceLoss(temperature=c.temperature, weight=c.relative_distance_weight))
    if c.reconstruction_weight > 0:
        terms.append(DiffusionReconstructionLoss(prior, c.source_prompt.strip(), weight=c.reconstruction_weight))
    return terms + list(extra)


def adapt_generator(generator: TriplaneGenerator, prior, *, config: AdaptConfig | None = None, device="cpu",
                    extra=(), on_progress=None, check_cancel=None, on_start=None, **settings) -> AdaptResult:
    """G_train from G, adapted towards the prior's prompt (see the module docstring). Settings: an AdaptConfig, or
    its fields as keywords. on_start(runs) receives the runs of the loss terms (for previews while it runs)."""
    c = dataclasses.replace(config or AdaptConfig(), **settings)
    terms = adaptation_terms(prior, c, adaptation_cameras(generator), extra=extra)
    trainer = GeneratorTrainer(generator, c.truncation_psi).to(device)
    run = optimize(trainer, terms, c.steps, lr=c.learning_rate, seed=c.seed, device=device,
                   n_samples=c.samples_per_ray, lr_schedule="constant", occupancy=False, on_progress=on_progress,
                   check_cancel=check_cancel, on_start=on_start)
    return AdaptResult(trainer.adapted(), run)


__all__ = ["adapt_generator", "adaptation_terms", "AdaptConfig", "AdaptResult"]
