"""The diffusers-folder prior on a tiny random IF stage I folder written by the test (the real on-disk layout)."""
import os
import shutil

import pytest
import torch

from core.cameras import CameraDistribution
from core.fields import make_field
from core.priors import PromptedPrior
from core.priors.diffusers_prior import DiffusersFolderError, DiffusersPrior
from core.losses.sds import SDSLoss
from core.optimize import optimize

from tiny_diffusers import make_tiny_if


@pytest.fixture(scope="module")
def tiny_if(tmp_path_factory):
    return make_tiny_if(str(tmp_path_factory.mktemp("diffusers") / "tiny-if-I"))


def test_if_folder_loads_as_a_pixel_prior_with_cached_text(tiny_if):
    prior = DiffusersPrior(tiny_if)
    assert (prior.kind, prior.space, prior.resolution, prior.prediction) == ("IFPipeline", "pixel", 64, "epsilon")
    cond, uncond = prior.condition("a rubber duck", "")
    assert cond.shape == (1, 77, 32) and not torch.equal(cond, uncond)
    assert prior.condition("a rubber duck")[0] is cond  # computed once
    x_t = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([20, 700])
    eps = prior.predict_eps(x_t, t, cond)
    direct = prior.unet(x_t, t, encoder_hidden_states=cond.expand(2, -1, -1)).sample[:, :3]
    assert torch.allclose(eps, direct, atol=1e-5)  # epsilon is the first half of IF's 6 output channels


def test_sds_through_the_if_folder_reaches_the_field(tiny_if):
    prior = PromptedPrior(DiffusersPrior(tiny_if), "a rubber duck")
    term = SDSLoss(prior, CameraDistribution(), views_per_step=1, guidance_scale=20.0)
    torch.manual_seed(0)
    res = optimize(make_field("nerf"), [term], 3, lr=0.01, n_samples=16)
    assert res.stopped is None and res.steps_done == 3
    assert res.param_change > 1e-4
    assert all(torch.isfinite(torch.tensor(h["sds/sds"])) for h in res.history)
    # the view-dependent prompts were each encoded once
    assert {"a rubber duck", "a rubber duck, front view"} & set(prior.predictor._embeds)


def test_a_missing_part_or_an_unknown_pipeline_is_named(tiny_if, tmp_path):
    def without(relpath):
        broken = tmp_path / relpath.replace("/", "_")
        shutil.copytree(tiny_if, broken)
        os.remove(broken / relpath)
        return broken

    with pytest.raises(DiffusersFolderError, match="weights of 'unet'"):
        DiffusersPrior(str(without("unet/diffusion_pytorch_model.safetensors")))
    with pytest.raises(DiffusersFolderError, match="missing scheduler/scheduler_config.json"):
        DiffusersPrior(str(without("scheduler/scheduler_config.json")))
    with pytest.raises(DiffusersFolderError, match="missing text_encoder/config.json"):
        DiffusersPrior(str(without("text_encoder/config.json")))
    broken = without("tokenizer/special_tokens_map.json")
    (broken / "model_index.json").write_text('{"_class_name": "FluxPipeline"}')
    with pytest.raises(DiffusersFolderError, match="FluxPipeline; supported: StableDiffusionPipeline, IFPipeline"):
        DiffusersPrior(str(broken))
    with pytest.raises(DiffusersFolderError, match="model_index.json is missing"):
        DiffusersPrior(str(tmp_path))


@pytest.mark.heavy
def test_vsd_lora_estimator_adapts_the_if_unet_only_inside_and_learns(tiny_if):
    """ProlificDreamer's estimator on a real diffusers U-Net: zero-initialized, so at first the adapted U-Net is the
    prior; trained on renders of a fixed image it learns (its epsilon loss falls); outside `active` the U-Net is
    exactly the prior again; after the run its hooks are gone."""
    from core.cameras import orbit
    from core.priors import add_noise
    from core.losses.vsd import VSDLoss
    from core.render import RenderRecord
    predictor = DiffusersPrior(tiny_if, resolution=32)  # 32²: its attention at 16² (64²: 4x the test's time)
    prior = PromptedPrior(predictor, "a rubber duck")
    cams = orbit(2, 15, 2.0, 40)
    term = VSDLoss(prior, cams, views_per_step=2, estimator_lr=1e-2)
    assert term.estimator_kind == "lora" and term.estimator_steps == 1  # auto, for a network prior
    gen = torch.Generator().manual_seed(0)
    term.request(0, 100, gen)
    term._cams = cams
    image = torch.zeros(2, 32, 32, 3)
    image[:, 8:24, 8:24] = torch.tensor([1.0, 0.5, 0.0])
    rec = RenderRecord(rgb=image.clone().requires_grad_(), alpha=torch.ones(2, 32, 32), depth=torch.ones(2, 32, 32))
    x = predictor.encode(image)
    predictor.unet.requires_grad_(True)  # as a host may leave a loaded model: the estimator must freeze it
    term._ensure_estimator(x)
    own = sum(p.numel() for p in term.estimator.parameters())
    assert own < 0.2 * sum(p.numel() for p in predictor.unet.parameters())  # the adapters, not the U-Net
    assert not any(p.requires_grad for p in predictor.unet.parameters())
    x_t = add_noise(x, torch.randn(x.shape, generator=gen), torch.tensor([300, 600]), predictor.alphas_cumprod)
    t = torch.tensor([300, 600])
    cond = prior.conditions()[0]
    before = predictor.predict_eps(x_t, t, cond)
    with torch.no_grad():
        assert torch.allclose(term.eps_phi(x_t, t, cams), before, atol=1e-6)  # starts as the prior
    hooks = sum(len(m._forward_hooks) for m in predictor.unet.modules())
    assert hooks == len(term.estimator.lora.targets) + 1
    probe_t = torch.tensor([100, 300, 500, 700, 900] * 2)
    probe_eps = torch.randn((10, *x.shape[1:]), generator=gen)
    probe_cams = cams[[0, 1] * 5]
    probe_x_t = add_noise(x[[0, 1] * 5], probe_eps, probe_t, predictor.alphas_cumprod)

    def probe():  # the estimator's epsilon loss on fixed noise draws (the training loss itself is noisy)
        with torch.no_grad():
            return float((term.eps_phi(probe_x_t, probe_t, probe_cams) - probe_eps).pow(2).mean())

    start = probe()
    for step in range(60):
        value, logs = term.loss(None, rec, step, 60)
        assert torch.isfinite(value) and logs["estimator"] > 0
    end = probe()
    print(f"LoRA estimator epsilon loss {start:.4f} -> {end:.4f} ({len(term.estimator.lora.targets)} projections)")
    assert end < 0.9 * start  # measured 1.089 -> 0.888 (at 64²: 0.865): a rank-4 adapter on a tiny random U-Net
    with torch.no_grad():
        assert not torch.allclose(term.eps_phi(x_t, t, cams), before, atol=1e-4)  # adapted inside...
    assert torch.equal(predictor.predict_eps(x_t, t, cond), before)  # ...the prior outside
    term.finish()
    assert sum(len(m._forward_hooks) for m in predictor.unet.modules()) == 0
