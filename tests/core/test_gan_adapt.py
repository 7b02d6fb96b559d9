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
from core.priors import PromptedPrior
from core.priors.world_prior import WorldPrior
from core.losses.gan import multiscale_tv, relative_distance_kl
from core.world.families import FAMILIES
from core.world.lookup import colour_in_prompt

MUG = FAMILIES["mug"]
#: the shipped generator's held-out shape IoU floor (the training script measured 0.86 at 48³ on its own latents)
FAMILY_IOU_FLOOR = 0.75
#: a short adaptation to 'a red mug' (the diffusiongan3d_adapt_world workflow's recipe): the world prior knows one
#: red mug, so longer runs pull every shape towards it (bench/bench_gan.py)
ADAPT_RECIPE = dict(steps=20, learning_rate=1e-3, batch=4, guidance_scale=10.0, relative_distance_weight=1e4, seed=0)
EDIT_WEIGHT = 30.0
AVATAR_STEPS = 20


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
    from core.gan.adapt import AdaptConfig, adaptation_terms
    prior = PromptedPrior(WorldPrior(32), "a red mug")
    for batch in (1, 2):
        with pytest.raises(ValueError, match="relative distance loss"):
            AdaptConfig(batch=batch, relative_distance_weight=1.0)
    assert len(adaptation_terms(prior, AdaptConfig(batch=1, relative_distance_weight=0.0))) == 1


def test_a_generator_renders_whole_views_only():
    trainer = GeneratorTrainer(world_generator().eval())
    with pytest.raises(ValueError, match="renders whole views"):
        trainer.render_rays(torch.zeros(1, 3), torch.zeros(1, 3))


# ---- the shipped generator and what is done with it (small runs; bench/bench_gan.py has the full-size tables) ----
EVAL = range(100, 106)  # held-out seeds: neither the workflows' nor the training's


@pytest.fixture(scope="module")
def mugs():
    return default_generator()


def test_the_shipped_generator_draws_its_family(mugs):
    from core.gan.evaluate import family_iou
    ious = family_iou(mugs, seed_latents(EVAL, mugs.z_dim), 32)
    print(f"shipped generator: held-out shape IoU with the family members {[round(x, 3) for x in ious]}")
    assert sum(ious) / len(ious) >= FAMILY_IOU_FLOOR and min(ious) >= FAMILY_IOU_FLOOR - 0.1


def test_a_sample_as_a_field_renders_what_the_generator_renders(mugs):
    """The pack's renderer on TriplaneField and EG3D's renderer (the generator's own raw image) agree."""
    from core.cameras import to_eg3d
    from core.gan.eg3d import camera_frame
    from core.metrics import psnr
    z = seed_latents([3], mugs.z_dim)
    cams = Cameras.from_spherical(20.0, 40.0, 1.8, 40.0)
    with torch.no_grad():
        ws = mugs.mapping(z, torch.zeros(1, 25))
        raw = mugs.synthesis(ws, to_eg3d(cams, *camera_frame(mugs, 1.8)), 64, "const")["image_raw"]
        field = TriplaneField.from_generator(mugs, ws)
        ours = field.render_views(cams, 64, perturb=False, n_samples=128).rgb
    got = psnr(ours, ((raw + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1))
    assert got >= 25.0, got


@pytest.fixture(scope="module")
def adapted_red(mugs):
    """One adaptation shared by the tests below: SDS + relative distance + the reconstruction loss (source 'a
    mug')."""
    from core.gan.adapt import adapt_generator
    prior = PromptedPrior(WorldPrior(32), "a red mug")
    return prior, adapt_generator(mugs, prior, reconstruction_weight=EDIT_WEIGHT, source_prompt="a mug", **ADAPT_RECIPE)


def test_adaptation_reaches_the_prompt_and_keeps_shapes_and_diversity(mugs, adapted_red):
    from core.gan.evaluate import compare_generators
    _, res = adapted_red
    r = compare_generators(mugs, res.generator, seed_latents(EVAL, mugs.z_dim))
    print(f"adapted to 'a red mug' ({res.run.steps_done} steps): {r}")
    assert r["redness_after"] >= r["redness_before"] + 0.15
    assert r["shape_iou_mean"] >= 0.8
    assert r["render_diversity"] >= 0.8 and r["plane_diversity"] >= 0.8
    assert all("relative_distance/kl" in h and "reconstruction/mse_outside" in h for h in res.run.history)


def test_the_reconstruction_loss_keeps_what_the_prompt_does_not_speak_about(mugs, adapted_red):
    from core.gan.evaluate import local_edit_psnr
    prior, res = adapted_red
    e = local_edit_psnr(mugs, res.generator, prior, "a mug", seed_latents(EVAL, mugs.z_dim))
    print(f"local edit: {e}")
    assert e["psnr_outside"] >= 30.0 and 0.05 < e["mask_share"] < 0.6


def test_text_to_avatar_beats_dreamfusion_at_the_same_budget(mugs):
    from core.evaluate import evaluate_field, janus_probe
    from core.recipes import dreamfusion_on_world
    from core.gan.avatar import make_avatar
    from core.world import get_object
    prior = PromptedPrior(WorldPrior(32), "a mug")
    field, seed, scores, run = make_avatar(mugs, prior, candidates=6, steps=AVATAR_STEPS, batch=4,
                                           guidance_scale=10.0, n_samples=32)
    assert seed == int(scores.argmin()) and "triplane_tv/tv" in run.history[-1]
    mug = get_object("mug")
    ours = evaluate_field(field, mug, resolution=32, mesh_resolution=64) | janus_probe(field, mug)
    df = dreamfusion_on_world(mug, steps=AVATAR_STEPS, batch=4, guidance_scale=10.0).field
    base = evaluate_field(df, mug, resolution=32, mesh_resolution=64) | janus_probe(df, mug)
    print(f"avatar {ours} vs DreamFusion-world {base} at {AVATAR_STEPS} steps")
    assert ours["iou"] >= 0.35 and ours["iou"] > base["iou"] + 0.1
    assert ours["psnr"] > base["psnr"] + 3 and ours["azimuth_error"] < base["azimuth_error"]
