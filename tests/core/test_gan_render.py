"""Parity with EG3D's own code: its ray sampler, importance renderer, mapping network and triplane decoder run on
seeded inputs (tests/data/eg3d_*_reference.safetensors, written by scripts/make_eg3d_reference.py from a NVlabs/eg3d
checkout) against ours on the same inputs, weights and random draws."""
import os
import sys

import pytest
import torch
from safetensors.torch import load_file

from core.gan.render import eg3d_rays, render_triplane

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from make_eg3d_reference import OPTIONS, RENDER_SEED, decoder, inputs  # noqa: E402

REF = load_file(os.path.join(ROOT, "tests", "data", "eg3d_render_reference.safetensors"))


def test_the_fixture_inputs_are_what_the_script_makes():
    for k, v in inputs().items():
        assert torch.equal(REF[k], v), k


def test_rays_are_eg3ds():
    o, d = eg3d_rays(REF["c"], 8)
    assert torch.allclose(o, REF["ray_origins"], atol=1e-6) and torch.allclose(d, REF["ray_directions"], atol=1e-6)


def test_triplane_render_is_eg3ds():
    """Colour features, depth and accumulated weight of 2 x 64 rays, 12 stratified + 12 importance samples each:
    equal to EG3D's to float precision, and far from what a wrong plane order gives."""
    torch.manual_seed(RENDER_SEED)
    dec = decoder(REF["decoder_w1"], REF["decoder_w2"])
    args = (REF["ray_origins"], REF["ray_directions"], OPTIONS["ray_start"], OPTIONS["ray_end"],
            OPTIONS["depth_resolution"], OPTIONS["depth_resolution_importance"], OPTIONS["box_warp"])
    rgb, depth, weight = render_triplane(REF["planes"], dec, *args)
    for name, got in (("rgb", rgb), ("depth", depth), ("weight_sum", weight)):
        assert torch.allclose(got, REF[name], atol=1e-5), (name, float((got - REF[name]).abs().max()))
    assert float(REF["weight_sum"].std()) > 0.01 and float(REF["rgb"].std()) > 0.01  # not a flat, empty render
    torch.manual_seed(RENDER_SEED)  # the negative control: planes 1 and 2 swapped
    swapped, _, _ = render_triplane(REF["planes"][:, [0, 2, 1]], dec, *args)
    assert float((swapped - REF["rgb"]).abs().max()) > 1e-2


NETS = load_file(os.path.join(ROOT, "tests", "data", "eg3d_networks_reference.safetensors"))


def test_mapping_network_and_decoder_are_eg3ds():
    """EG3D's own MappingNetwork and OSGDecoder state dicts load into ours unchanged (strict) and give their
    outputs: w with and without truncation (all ws, the first 2), the decoder's density and colour."""
    from core.gan.networks import MappingNetwork, TriplaneDecoder
    mapping = MappingNetwork(z_dim=8, c_dim=25, w_dim=8, num_ws=4, num_layers=2)
    mapping.load_state_dict({k[8:]: v for k, v in NETS.items() if k.startswith("mapping.")}, strict=True)
    decoder = TriplaneDecoder(8, 8)
    decoder.load_state_dict({k[8:]: v for k, v in NETS.items() if k.startswith("decoder.")}, strict=True)
    with torch.no_grad():
        z, c = NETS["z"], NETS["c"]
        for name, kw in (("ws", {}), ("ws_truncated", {"truncation_psi": 0.7}),
                         ("ws_truncated_2", {"truncation_psi": 0.7, "truncation_cutoff": 2})):
            got = mapping(z, c, **kw)
            assert torch.allclose(got, NETS[name], atol=1e-6), (name, float((got - NETS[name]).abs().max()))
        out = decoder(NETS["features"])
    assert torch.allclose(out["sigma"], NETS["sigma"], atol=1e-6)
    assert torch.allclose(out["rgb"], NETS["decoder_rgb"], atol=1e-6)
    assert not torch.allclose(NETS["ws_truncated_2"][:, 2:], NETS["ws_truncated"][:, 2:])  # the cutoff mattered
    with pytest.raises(ValueError, match=r"c must be \[N,25\], got \(3, 24\)"):
        mapping(z, c[:, :24])


def test_synthesis_network_is_eg3ds():
    """EG3D's StyleGAN2 synthesis network (16² of 6 channels, every parameter random, conv_clamp 2): its state
    dict loads strictly into ours, and the images agree with fused modulated convolutions (eval), unfused
    (train) and without noise — the FIR up-sampling, demodulation, constant noise, clamps and the skip RGB."""
    from core.gan.stylegan2 import SynthesisNetwork
    net = SynthesisNetwork(w_dim=8, img_resolution=16, img_channels=6, channel_base=64, channel_max=16,
                           conv_clamp=2.0)
    net.load_state_dict({k[10:]: v for k, v in NETS.items() if k.startswith("synthesis.")}, strict=True)
    ws = NETS["synthesis_ws"]
    with torch.no_grad():
        for name, mode, noise in (("image_fused", "eval", "const"), ("image_unfused", "train", "const"),
                                  ("image_no_noise", "eval", "none")):
            got = getattr(net, mode)()(ws, noise_mode=noise)
            assert torch.allclose(got, NETS[name], atol=1e-4, rtol=1e-4), (name, float((got - NETS[name]).abs().max()))
    assert float(NETS["image_fused"].std()) > 0.1
    assert float((NETS["image_no_noise"] - NETS["image_fused"]).abs().max()) > 1e-3  # the noise mattered
    with pytest.raises(ValueError, match=r"ws must be \[N,6,8\]"):
        net(ws[:, :5])


def test_the_whole_generator_is_eg3ds():
    """EG3D's TriPlaneGenerator (tiny: z 8, backbone channels <= 16, its 2x super-resolution head to 128², 16²
    rendering, 6 + 6 samples a ray) with weights seeded by parameter name: ours has exactly its state-dict names
    and shapes, and with the same weights, z, cameras, truncation and random draws renders the same image, raw
    image and depth."""
    import json
    from safetensors import safe_open
    from core.gan.eg3d import TriplaneGenerator
    from make_eg3d_reference import GENERATOR_KWARGS, NEURAL_RESOLUTION, seeded_state
    path = os.path.join(ROOT, "tests", "data", "eg3d_generator_reference.safetensors")
    with safe_open(path, "pt") as f:
        theirs = json.loads(f.metadata()["state_dict"])
    ref = load_file(path)
    g = TriplaneGenerator(**GENERATOR_KWARGS).eval()
    ours = {k: list(v.shape) for k, v in g.state_dict().items()}
    assert ours == theirs, sorted(set(ours) ^ set(theirs))
    g.load_state_dict({**g.state_dict(), **seeded_state(ours)}, strict=True)
    torch.manual_seed(RENDER_SEED)
    with torch.no_grad():
        out = g(ref["z"], ref["c"], truncation_psi=0.7, neural_rendering_resolution=NEURAL_RESOLUTION,
                noise_mode="const")
        torch.manual_seed(RENDER_SEED)  # a different w per layer: which w each layer and the head take shows
        out["image_mixed"] = g.synthesis(ref["ws_mixed"], ref["c"], NEURAL_RESOLUTION, noise_mode="const")["image"]
    for name in ("image", "image_raw", "image_depth", "image_mixed"):
        err = float((out[name] - ref[name]).abs().max())
        assert torch.allclose(out[name], ref[name], atol=1e-4, rtol=1e-4), (name, err)
    assert float(ref["image"].std()) > 0.05 and float(ref["image_depth"].std()) > 1e-3


def test_a_narrow_mapping_at_the_heads_own_resolution_is_eg3ds():
    """EG3D's TriPlaneGenerator with w 512, a 3-layer mapping 64 wide and a 32-wide camera embedding
    (mapping_kwargs layer_features, embed_features), rendered at 64², the 2X head's own input size: ours has its
    state-dict names and shapes and gives its ws, image, depth and raw image — which there is the render plus the
    head's first RGB (EG3D adds it into the render in place) — and the render itself as image_render."""
    import json
    from safetensors import safe_open
    from core.gan.eg3d import TriplaneGenerator
    from make_eg3d_reference import NARROW_KWARGS, NARROW_RESOLUTION, seeded_state
    path = os.path.join(ROOT, "tests", "data", "eg3d_narrow_reference.safetensors")
    with safe_open(path, "pt") as f:
        theirs = json.loads(f.metadata()["state_dict"])
    ref = load_file(path)
    g = TriplaneGenerator(**NARROW_KWARGS).eval()
    ours = {k: list(v.shape) for k, v in g.state_dict().items()}
    assert ours == theirs, sorted(set(ours) ^ set(theirs))
    assert ours["backbone.mapping.fc1.weight"] == [64, 64] and ours["backbone.mapping.embed.weight"] == [32, 25]
    g.load_state_dict({**g.state_dict(), **seeded_state(ours, seed=7)}, strict=True)
    with torch.no_grad():
        ws = g.mapping(ref["z"], ref["c"], truncation_psi=0.7)
        torch.manual_seed(RENDER_SEED)
        out = g.synthesis(ref["ws"], ref["c"], NARROW_RESOLUTION, noise_mode="const")
    assert torch.allclose(ws, ref["ws"], atol=1e-5), float((ws - ref["ws"]).abs().max())
    for name in ("image", "image_raw", "image_render", "image_depth"):
        err = float((out[name] - ref[name]).abs().max())
        assert torch.allclose(out[name], ref[name], atol=1e-4, rtol=1e-4), (name, err)
    assert float((ref["image_raw"] - ref["image_render"]).abs().max()) > 0.1  # EG3D's in-place add mattered
    assert float(ref["image"].std()) > 0.05 and float(ref["image_depth"].std()) > 1e-3
