"""DiffusionGAN3D's text-guided domain adaptation through the one optimizer loop (core.optimize): a trainable copy
of the generator (core.gan.field.GeneratorTrainer) against SDS on renders of random latents and cameras (any
prior), the relative distance loss (keeps the samples apart) and, for local edits, the diffusion-guided
reconstruction loss (core.losses.gan).

    result = adapt_generator(g, PromptedPrior(WorldPrior(32), "a red mug"), steps=200, batch=4)
    g2 = result.generator
"""
from __future__ import annotations

from dataclasses import dataclass

from ..cameras import CameraDistribution
from ..guidance.sds import SDSLoss
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


def adaptation_terms(prior, batch: int = 4, guidance_scale: float = 100.0,
                     relative_distance: float = RELATIVE_DISTANCE_WEIGHT,
                     reconstruction: float = 0.0, source: str = "", temperature: float = 0.1,
                     t_range=(0.02, 0.98), cameras: CameraDistribution | None = None, extra=()) -> list:
    """The loss terms of an adaptation (SDS with one latent per view; the relative distance and reconstruction
    losses where their weights are above 0)."""
    if relative_distance > 0 and batch < 3:
        raise ValueError(f"the relative distance loss compares each sample's similarities to the others: a batch "
                         f"of {batch} latent{'s' if batch > 1 else ''} has {'no pairs' if batch < 2 else 'one other sample each, and a softmax over one similarity is always 1'}; "
                         f"use a batch of 3 or more, or a relative distance weight of 0")
    cams = cameras or CameraDistribution(elevation_range=(-10.0, 60.0),
                                         distance_range=(CAMERA_DISTANCE, CAMERA_DISTANCE), fov_range=(40.0, 40.0))
    terms = [SDSLoss(prior, cams, views_per_step=batch, guidance_scale=guidance_scale, t_min=t_range[0],
                     t_max=t_range[1])]
    if relative_distance > 0:
        terms.append(RelativeDistanceLoss(temperature, weight=relative_distance))
    if reconstruction > 0:
        terms.append(DiffusionReconstructionLoss(prior, source, weight=reconstruction))
    return terms + list(extra)


def adapt_generator(generator: TriplaneGenerator, prior, steps: int = 200, lr: float = 1e-3, batch: int = 4,
                    guidance_scale: float = 100.0, relative_distance: float = RELATIVE_DISTANCE_WEIGHT,
                    reconstruction: float = 0.0,
                    source: str = "", temperature: float = 0.1, truncation_psi: float = 1.0, seed: int = 0,
                    n_samples: int = 48, device="cpu", extra=(), on_progress=None, check_cancel=None,
                    t_range=(0.02, 0.98), on_start=None) -> AdaptResult:
    """G_train from G, adapted towards the prior's prompt (see the module docstring). on_start(runs) receives the
    runs of the loss terms (for previews while it runs)."""
    terms = adaptation_terms(prior, batch, guidance_scale, relative_distance, reconstruction, source, temperature,
                             t_range, adaptation_cameras(generator), extra=extra)
    trainer = GeneratorTrainer(generator, truncation_psi).to(device)
    run = optimize(trainer, terms, steps, lr=lr, seed=seed, device=device, n_samples=n_samples,
                   lr_schedule="constant", occupancy=False, on_progress=on_progress, check_cancel=check_cancel,
                   on_start=on_start)
    return AdaptResult(trainer.adapted(), run)


__all__ = ["adapt_generator", "adaptation_terms", "AdaptResult"]
