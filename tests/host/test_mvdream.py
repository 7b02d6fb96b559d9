"""MVDream's U-Net from a checkpoint in the original layout: it computes what the original network computes, its
multi-view attention mixes the views of one object and nothing else, and files that are not MVDream are refused.

The tiny checkpoints are written by tests/host/make_tiny_mvdream.py from ComfyUI's own LDM classes; the
reference outputs come from those classes too (ComfyUI's UNetModel with a 'sequential' 16-d label embedding is
MVDream's U-Net in 2D mode: the same camera MLP added to the time embedding).
"""
import os
import sys
from types import SimpleNamespace

import pytest
import torch

from comfy_host import host_env
from core.cameras import orbit, to_mvdream
from core.priors import PromptedPrior
from core.priors.mvdream import MVDreamCheckpointError, MVDreamPrior, load_state_dict, split_checkpoint
from hostutil import ROOT, write_tiny_mvdream

sys.path.insert(0, os.path.join(ROOT, "tests", "host"))
import make_tiny_mvdream as M  # noqa: E402  (the layouts the tiny files are written in)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_mvdream(str(tmp_path_factory.mktemp("mvdream") / "tiny-4view.safetensors"))


@pytest.fixture(scope="module")
def comfy_classes():
    """ComfyUI's LDM U-Net and VAE classes, imported in this process (no server)."""
    path = host_env()["comfyui"]
    if path not in sys.path:
        sys.path.append(path)
    import comfy.cli_args
    comfy.cli_args.args.cpu = True  # as the test host runs; set before comfy.model_management is imported
    import comfy.ldm.models.autoencoder
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    return UNetModel, comfy.ldm.models.autoencoder.AutoencoderKL, comfy.ops.disable_weight_init


def comfy_unet(comfy_classes, base: str, unet_tensors: dict):
    """ComfyUI's LDM U-Net of the maker's config with a file's U-Net tensors: the reference MVDream in 2D mode
    (its 'sequential' label embedding is camera_embed under another name)."""
    UNetModel, _, ops = comfy_classes
    ref = UNetModel(**M.unet_kwargs(base), dtype=torch.float32, device="cpu", operations=ops)
    ref.load_state_dict({("label_emb.0." + k[len("camera_embed."):] if k.startswith("camera_embed.") else k): v
                         for k, v in unet_tensors.items()})
    return ref


def tokenizer_folder() -> str:
    return os.path.join(host_env()["comfyui"], "comfy", "sd1_tokenizer")


def rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


def test_tiny_checkpoint_loads_and_computes_what_the_original_layers_compute(tiny, comfy_classes, tmp_path):
    """The architecture read from the tensors and the converted weights give ComfyUI's LDM U-Net output (2D
    mode, with cameras), its VAE's encode/decode, and open_clip's penultimate-layer text features; the torch
    (.pt, {'state_dict'}) file of the same weights loads to the same network."""
    prior = MVDreamPrior(tiny, resolution=64, views=1, tokenizer_folder=tokenizer_folder())
    parts = split_checkpoint(load_state_dict(tiny))
    ref = comfy_unet(comfy_classes, "sd21", parts["unet"])
    g = torch.Generator().manual_seed(0)
    x, ctx = torch.randn(8, 4, 8, 8, generator=g), torch.randn(1, 77, 64, generator=g)
    t = torch.randint(0, 1000, (8,), generator=g)
    cams = orbit(8, 15.0)
    with torch.no_grad():
        ours = prior.predict_eps(x, t, ctx, cams)
        theirs = ref(x, t, context=ctx.expand(8, -1, -1), y=to_mvdream(cams))
    err_unet = rel(ours, theirs)
    vae = comfy_classes[1](ddconfig=M.VAE, embed_dim=4)
    vae.load_state_dict(parts["vae"])
    img = torch.rand(2, 64, 64, 3, generator=g)
    with torch.no_grad():
        z = prior.encode(img)
        err_enc = rel(z / 0.18215, vae.encode(img.permute(0, 3, 1, 2) * 2 - 1))
        err_dec = rel(prior.decode(z), ((vae.decode(z / 0.18215) + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1))
    # open_clip's text tower by hand: nn.MultiheadAttention resblocks with a causal mask, all but the last
    # (SD 2's penultimate layer), then ln_final
    sd = parts["openclip"]
    ids = prior.tokenizer("a snowman", padding="max_length", max_length=77, return_tensors="pt").input_ids
    assert ids[0, 0] == 49406 and ids[0, -1] == 0  # start token; open_clip pads with 0
    w = sd["token_embedding.weight"].shape[1]
    h = sd["token_embedding.weight"][ids] + sd["positional_embedding"]
    mask = torch.full((77, 77), float("-inf")).triu(1)
    ln = torch.nn.functional.layer_norm
    for i in range(M.TEXT["layers"] - 1):
        p = f"transformer.resblocks.{i}."
        mha = torch.nn.MultiheadAttention(w, w // 64, batch_first=True)
        mha.load_state_dict({k: sd[p + "attn." + k] for k in ("in_proj_weight", "in_proj_bias", "out_proj.weight",
                                                              "out_proj.bias")})
        y = ln(h, (w,), sd[p + "ln_1.weight"], sd[p + "ln_1.bias"])
        h = h + mha(y, y, y, attn_mask=mask, need_weights=False)[0]
        y = ln(h, (w,), sd[p + "ln_2.weight"], sd[p + "ln_2.bias"])
        y = torch.nn.functional.gelu(torch.nn.functional.linear(y, sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"]))
        h = h + torch.nn.functional.linear(y, sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
    with torch.no_grad():
        want = ln(h, (w,), sd["ln_final.weight"], sd["ln_final.bias"])
    err_text = rel(prior.embed("a snowman"), want)
    print(f"MVDREAM_EQUIV unet {err_unet:.2e} vae-encode {err_enc:.2e} vae-decode {err_dec:.2e} text {err_text:.2e}")
    assert max(err_unet, err_enc, err_dec, err_text) < 1e-5
    assert float(theirs.std()) > 0.05  # a real output, not zeros
    pt = write_tiny_mvdream(str(tmp_path / "tiny-4view.pt"), "--pt")
    with torch.no_grad():
        again = MVDreamPrior(pt, resolution=64, views=1).predict_eps(x, t, ctx, cams)
    assert torch.equal(again, ours)


def test_multi_view_attention_mixes_the_views_of_one_object_only(tiny):
    """Two objects of 4 views each: changing one view's input changes the other 3 views of its object and not
    the other object; in 2D mode (same weights) it changes no other view."""
    prior = MVDreamPrior(tiny, resolution=64, views=4)
    g = torch.Generator().manual_seed(1)
    x, ctx = torch.randn(8, 4, 8, 8, generator=g), torch.randn(1, 77, 64, generator=g)
    t = torch.full((8,), 500)
    cams = orbit(4, 15.0)[[0, 1, 2, 3, 0, 1, 2, 3]]
    x2 = x.clone()
    x2[0] += torch.randn(4, 8, 8, generator=g)

    def change(views):
        prior.set_views(views)
        with torch.no_grad():
            a, b = prior.predict_eps(x, t, ctx, cams), prior.predict_eps(x2, t, ctx, cams)
        return [rel(b[i], a[i]) for i in range(8)]

    mv, flat = change(4), change(1)
    print("MVDREAM_MIXING multi-view", " ".join(f"{d:.1e}" for d in mv), "| 2D", " ".join(f"{d:.1e}" for d in flat))
    assert min(mv[1:4]) > 1e-3          # the same object's other views respond
    assert max(mv[4:]) == 0.0           # the other object does not
    assert max(flat[1:]) == 0.0         # per-view attention: nothing mixes
    prior.set_views(4)
    with pytest.raises(ValueError, match="groups of 4 views .* a batch of 6"):
        prior.predict_eps(x[:6], t[:6], ctx, orbit(6, 15.0))
    # the Multi-View Sampler's copy for a set of six (Zero123++'s): one group of six over the same U-Net; the
    # original still groups its four
    six = prior.grouped(6)
    with torch.no_grad():
        a, b = six.predict_eps(x[:6], t[:6], ctx, orbit(6, 15.0)), six.predict_eps(x2[:6], t[:6], ctx, orbit(6, 15.0))
    assert min(rel(b[i], a[i]) for i in range(1, 6)) > 1e-3 and prior.views == 4
    with torch.no_grad():
        a, b = prior.predict_eps(x, t, ctx, cams), prior.predict_eps(x2, t, ctx, cams)
    assert max(rel(b[i], a[i]) for i in range(4, 8)) == 0.0


def test_the_sampler_and_multi_view_sds_run_on_the_tiny_checkpoint_with_text(tiny):
    """Text through the checkpoint's OpenCLIP and ComfyUI's BPE vocabulary; the sampler returns 4 views at the
    prior's size; multi-view SDS sends a gradient to a field's renders."""
    from core.priors.sampler import ddim_sample
    from core.losses.sds import MultiViewSDSLoss
    prior = PromptedPrior(MVDreamPrior(tiny, resolution=64, views=4, tokenizer_folder=tokenizer_folder()),
                          "a snowman", "blurry")
    c, u = prior.conditions(None)
    assert c.shape == (1, 77, 64) and rel(c, u) > 0.01
    images = ddim_sample(prior, orbit(4, 15.0), steps=3, guidance_scale=5.0)
    assert images.shape == (4, 64, 64, 3) and 0 <= float(images.min()) and float(images.max()) <= 1
    assert float(images.std()) > 0.01
    loss = MultiViewSDSLoss(prior)
    request = loss.request(0, 10, torch.Generator().manual_seed(0))
    assert (request.width, request.height, len(request.cameras)) == (64, 64, 4)
    renders = torch.rand(4, 64, 64, 3, requires_grad=True)
    value, logs = loss.loss(None, SimpleNamespace(rgb=renders), 0, 10)
    value.backward()
    assert torch.isfinite(value) and float(renders.grad.abs().sum()) > 0 and "sds" in logs


def test_files_that_are_not_mvdream_are_refused_saying_what_was_found(tiny, tmp_path):
    from safetensors.torch import save_file
    plain = write_tiny_mvdream(str(tmp_path / "plain-sd.safetensors"), "--no-camera")
    with pytest.raises(MVDreamCheckpointError, match="not an MVDream checkpoint.*no camera_embed"):
        MVDreamPrior(plain, resolution=64)
    other = str(tmp_path / "lora.safetensors")
    save_file({"lora_unet_down.alpha": torch.ones(1), "lora_unet_down.weight": torch.zeros(4, 4)}, other)
    with pytest.raises(MVDreamCheckpointError, match=r"no U-Net under model\.diffusion_model.*lora_unet_down"):
        MVDreamPrior(other, resolution=64)
    sd = load_state_dict(tiny)
    sd["model.diffusion_model.camera_embed.0.weight"] = torch.zeros(256, 12)
    wrong = str(tmp_path / "wrong-camera.safetensors")
    save_file(sd, wrong)
    with pytest.raises(MVDreamCheckpointError, match=r"camera_embed has shapes \(256, 12\).*\(256, 16\)"):
        MVDreamPrior(wrong, resolution=64)
    with pytest.raises(ValueError, match="multiples of 32.*got 100: use 96"):
        MVDreamPrior(tiny, resolution=100)
    with pytest.raises(MVDreamCheckpointError, match="no checkpoint at"):
        MVDreamPrior(str(tmp_path / "missing.safetensors"))
    prior = MVDreamPrior(tiny, resolution=64)
    with pytest.warns(UserWarning, match="square 64x64 views; 48x80 renders are resized"):
        z = prior.encode(torch.rand(4, 48, 80, 3))
    assert z.shape == (4, 4, 8, 8)
    with pytest.raises(ValueError, match=r"text features \[1, tokens, 64\]; got \(1, 77, 768\)"):
        prior.predict_eps(torch.randn(4, 4, 8, 8), torch.full((4,), 10), torch.randn(1, 77, 768), orbit(4, 15.0))


def test_the_mvdream_prior_node_refuses_a_plain_sd_file_in_models_mvdream(host):
    """A Stable Diffusion file put in models/mvdream by mistake fails the prompt with the reason; connected
    conditioning of the wrong width is refused; the server keeps serving."""
    from hostutil import mvdream_sampler_prompt, tiny_mvdream
    plain = tiny_mvdream(host, "distill3d_test_plain_sd.safetensors", "--no-camera")

    def prompt(name):
        return mvdream_sampler_prompt(name)

    entry = host.run(prompt(plain))
    assert entry["status"]["status_str"] == "error"
    assert "not an MVDream checkpoint" in str(entry["status"]["messages"])
    p = prompt(tiny_mvdream(host))
    p["2"]["inputs"]["views"] = 3  # the sampler denoises its set as one group, whatever the prior was made for
    assert host.run(p)["status"]["status_str"] == "success"
    p["2"]["inputs"]["views"] = 4
    assert host.run(p)["status"]["status_str"] == "success"
    # CONDITIONING from an SD 1.5 CLIP (768 wide) into a 64-wide MVDream U-Net
    from hostutil import random_sd15
    p["4"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": random_sd15(host)}}
    p["5"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "a snowman"}}
    p["1"]["inputs"].update(positive=["5", 0], negative=["5", 0])
    entry = host.run(p)
    assert entry["status"]["status_str"] == "error"
    assert "text features [1, tokens, 64]; got (1, 77, 768)" in str(entry["status"]["messages"])


def test_the_sd15_variant_layout_loads_and_computes_what_the_original_layers_compute(comfy_classes, tmp_path):
    """MVDream's sd-v1.5-4view layout (768-wide context, 8 heads, convolutional transformer projections, CLIP text
    under cond_stage_model.transformer): the U-Net matches ComfyUI's LDM U-Net, the text features are CLIP's last
    layer (SD 1.x's), and multi-view attention still mixes the views of one object."""
    from transformers import CLIPTextConfig, CLIPTextModel
    path = write_tiny_mvdream(str(tmp_path / "tiny-sd15-4view.safetensors"), "--base", "sd15")
    prior = MVDreamPrior(path, resolution=64, views=1, tokenizer_folder=tokenizer_folder())
    parts = split_checkpoint(load_state_dict(path))
    assert prior.context_dim == 768 and not prior.unet.config.use_linear_projection
    ref = comfy_unet(comfy_classes, "sd15", parts["unet"])
    g = torch.Generator().manual_seed(2)
    x, ctx = torch.randn(4, 4, 8, 8, generator=g), torch.randn(1, 77, 768, generator=g)
    t, cams = torch.randint(0, 1000, (4,), generator=g), orbit(4, 15.0)
    with torch.no_grad():
        err_unet = rel(prior.predict_eps(x, t, ctx, cams), ref(x, t, context=ctx.expand(4, -1, -1),
                                                                 y=to_mvdream(cams)))
    clip = CLIPTextModel(CLIPTextConfig(**M.CLIP_TEXT))
    clip.load_state_dict(parts["clip"])
    ids = prior.tokenizer("a snowman", padding="max_length", max_length=77, return_tensors="pt").input_ids
    assert ids[0, -1] == 49407  # CLIP (SD 1.x) pads with the end token
    with torch.no_grad():
        err_text = rel(prior.embed("a snowman"), clip(ids).last_hidden_state)
    print(f"MVDREAM_SD15_EQUIV unet {err_unet:.2e} text {err_text:.2e}")
    assert err_unet < 1e-5 and err_text < 1e-5
    prior.set_views(4)
    x2 = x.clone()
    x2[0] += 1
    with torch.no_grad():
        a, b = prior.predict_eps(x, t, ctx, cams), prior.predict_eps(x2, t, ctx, cams)
    assert min(rel(b[i], a[i]) for i in (1, 2, 3)) > 1e-4
