"""DiffusionGAN3D's parts around the generator: the world family and the pack's trained generator, samples as
fields, the relative distance / reconstruction / TV losses, domain adaptation and text-to-avatar through the one
optimizer loop. The adaptation runs are small (the full-size figures: bench/bench_gan.py) and shared between tests
through module fixtures."""
from __future__ import annotations

import pytest
import torch

from core.cameras import Cameras
from core.gan.eg3d import seed_latents
from core.gan.field import GeneratorTrainer, TriplaneField
from core.gan.world import default_generator, latent_members, world_generator
from core.guidance import PromptedPrior
from core.guidance.world_prior import WorldPrior
from core.losses.gan import multiscale_tv, relative_distance_kl
from core.world.families import FAMILIES
from core.world.lookup import colour_in_prompt

MUG = FAMILIES["mug"]


def test_family_members_vary_and_latents_are_members():
    z = torch.randn(6, MUG.size, generator=torch.Generator().manual_seed(0))
    u = latent_members(MUG, z)
    assert u.shape == (6, MUG.size) and (u > 0).all() and (u < 1).all()
    # the member is a function of what the mapping network sees (z / rms(z)): a rescaled z is the same member
    assert torch.allclose(latent_members(MUG, 3 * z), u, atol=1e-6)
    pts = torch.rand(4000, 3) - 0.5
    occ = [MUG.object(x).shape.sdf(pts) < 0 for x in u]
    ious = [float((a & b).sum() / (a | b).sum()) for i, a in enumerate(occ) for b in occ[i + 1:]]
    assert min(ious) < 0.8, "the family's members should differ in shape"
    with pytest.raises(ValueError, match="11 parameters"):
        MUG.values(torch.zeros(3))


def test_prompt_colour_repaints_the_world_prior_object():
    assert colour_in_prompt("a red mug") == "red"
    assert colour_in_prompt("a photo of a blue coffee mug") == "blue"
    assert colour_in_prompt("a red cube") is None  # the catalogue's red cube: its own name
    assert colour_in_prompt("a mug") is None
    prior = WorldPrior(32)
    (name,), _ = prior.condition("a red mug")
    red, teal = prior.layers(name), prior.layers("mug")
    a = teal[:, 3:]
    mean = lambda lay: ((lay[:, :3] + a) / 2).sum((0, 2, 3)) / a.sum()  # noqa: E731
    assert mean(red)[0] > 0.6 and mean(teal)[0] < 0.2
    # the coffee inside keeps its colour: the darkest pixels are unchanged
    coffee = (((teal[:, :3] + a) / 2) / a.clamp_min(1e-6)).sum(1, keepdim=True) < 0.8
    coffee &= a > 0.999
    assert coffee.sum() > 50 and torch.equal(red[:, :3][coffee.expand(-1, 3, -1, -1)],
                                             teal[:, :3][coffee.expand(-1, 3, -1, -1)])


def test_relative_distance_kl():
    g = torch.Generator().manual_seed(0)
    # planes with structure: a shared part, and two pairs of similar samples
    common = torch.randn(1, 3, 8, 16, 16, generator=g)
    a, b = torch.randn(2, 1, 3, 8, 16, 16, generator=g)
    planes = common + torch.cat([a, a, b, b]) + 0.5 * torch.randn(4, 3, 8, 16, 16, generator=g)
    assert float(relative_distance_kl(planes, planes)) < 1e-6
    assert float(relative_distance_kl(2 * planes, planes)) < 1e-6  # a scale of all planes is not a change
    # the samples drawn towards their mean (diversity shrinks), or collapsed onto one: both cost
    mean = planes.mean(0, keepdim=True)
    shrunk = mean + 0.2 * (planes - mean)
    collapsed = planes[:1] + 0.05 * torch.randn(4, 3, 8, 16, 16, generator=g)
    kl_shrunk, kl_collapsed = float(relative_distance_kl(shrunk, planes)), float(relative_distance_kl(collapsed,
                                                                                                          planes))
    assert kl_shrunk > 0.1 and kl_collapsed > 0.1
    with pytest.raises(ValueError, match="at least 3 latents"):
        relative_distance_kl(planes[:2], planes[:2])


def test_multiscale_tv_sees_every_scale():
    flat = torch.zeros(3, 4, 16, 16)
    assert float(multiscale_tv(flat)) == 0
    noise = torch.randn(3, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    ramp = torch.linspace(0, 1, 16).expand(3, 4, 16, 16)
    assert float(multiscale_tv(noise)) > 5 * float(multiscale_tv(ramp))


def test_adaptation_refuses_a_batch_without_pairs():
    from core.gan.adapt import adaptation_terms
    prior = PromptedPrior(WorldPrior(32), "a red mug")
    for batch in (1, 2):
        with pytest.raises(ValueError, match="relative distance loss"):
            adaptation_terms(prior, batch=batch, relative_distance=1.0)
    assert len(adaptation_terms(prior, batch=1, relative_distance=0.0)) == 1


def test_a_generator_renders_whole_views_only():
    trainer = GeneratorTrainer(world_generator().eval())
    with pytest.raises(ValueError, match="renders whole views"):
        trainer.render_rays(torch.zeros(1, 3), torch.zeros(1, 3))
