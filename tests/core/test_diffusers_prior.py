"""The diffusers-folder prior on a tiny random IF stage I folder written by the test (the real on-disk layout)."""
import os
import shutil

import pytest
import torch

from core.cameras import CameraDistribution
from core.fields import make_field
from core.guidance import PromptedPrior
from core.guidance.diffusers_prior import DiffusersFolderError, DiffusersPrior
from core.guidance.sds import SDSLoss
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
    term = SDSLoss(prior, CameraDistribution(), batch=1, guidance_scale=20.0)
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
