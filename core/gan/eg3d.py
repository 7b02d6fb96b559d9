"""EG3D's triplane generator in plain torch: mapping (z, camera c -> w), a StyleGAN2 backbone drawing three
32-channel planes at 256², the triplane renderer at the neural rendering resolution, and a super-resolution head
(StyleGAN2 blocks on the rendered features, styled by the last w). Parameter names are EG3D's, so a snapshot's
G_ema loads (read_snapshot -> from_record) and renders what EG3D renders (parity tests against EG3D's own
generator, tests/data/eg3d_generator_reference.safetensors and eg3d_narrow_reference.safetensors). Which head a
model uses, its sizes and its rendering settings come from the snapshot's own init arguments and rendering_kwargs,
never from code in the file; what each of EG3D's constructor arguments does here: EG3D_PORT.md §11."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .networks import MappingNetwork, TriplaneDecoder
from .render import eg3d_rays, render_triplane
from .stylegan2 import (BLOCK_OPTIONS, FIXED_BLOCK_OPTIONS, SynthesisBlock, SynthesisNetwork, block_options,
                        setup_filter)

#: the super-resolution heads: input and output resolution, blocks [(out channels, block resolution, up)], whether
#: it keeps a filter buffer of its own, and whether it resizes its input only when smaller than its input resolution
#: (EG3D's 4X; the others whenever it differs). EG3D's own heads style their blocks with 512-wide ws (their w_dim
#: is fixed) and add their first block's RGB into the RGB they are given in place (the generator's image_raw).
SUPERRESOLUTION = {
    "training.superresolution.SuperresolutionHybrid8XDC": dict(input=128, output=512,
                                                               blocks=[(256, 256, 2), (128, 512, 2)]),
    "training.superresolution.SuperresolutionHybrid8X": dict(input=128, output=512,
                                                             blocks=[(128, 256, 2), (64, 512, 2)], filter=True),
    "training.superresolution.SuperresolutionHybrid4X": dict(input=128, output=256,
                                                             blocks=[(128, 128, 1), (64, 256, 2)], filter=True,
                                                             only_upsize=True),
    "training.superresolution.SuperresolutionHybrid2X": dict(input=64, output=128,
                                                             blocks=[(128, 64, 1), (64, 128, 2)], filter=True),
    # the pack's own small generators: EG3D's 2X head with a quarter of its channels, any w_dim, and its raw image
    # is the render itself (as it was trained)
    "distill3d.superresolution.Hybrid2XSmall": dict(input=64, output=128, blocks=[(32, 64, 1), (16, 128, 2)],
                                                    filter=True, ours=True),
}
#: rendering settings the generator reads (EG3D's rendering_kwargs names)
RENDER_KEYS = ("ray_start", "ray_end", "box_warp", "depth_resolution", "depth_resolution_importance",
               "superresolution_module", "sr_antialias", "superresolution_noise_mode", "c_gen_conditioning_zero")
#: sr_kwargs EG3D's heads take and ignore (their channels and clamps are their own)
SR_IGNORED = ("channel_base", "channel_max", "num_fp16_res", "conv_clamp")


def check_rendering(rk: dict) -> None:
    """Refuses rendering_kwargs this port does not render as EG3D does, naming them."""
    missing = [k for k in RENDER_KEYS if k not in rk]
    if missing:
        raise ValueError(f"rendering_kwargs lacks {', '.join(missing)}")
    if rk.get("ray_start") == "auto" or rk.get("ray_end") == "auto" or rk.get("disparity_space_sampling") or \
            rk.get("clamp_mode", "softplus") != "softplus":
        raise ValueError("ported: fixed ray limits, linear depth sampling and softplus densities (EG3D's "
                         f"FFHQ / AFHQ / ShapeNet settings); got ray_start {rk.get('ray_start')!r}, ray_end "
                         f"{rk.get('ray_end')!r}, disparity sampling {rk.get('disparity_space_sampling')!r}, "
                         f"clamp_mode {rk.get('clamp_mode')!r}")
    if rk.get("density_noise", 0) > 0:
        raise ValueError(f"rendering_kwargs density_noise {rk['density_noise']!r}: EG3D's renderer then adds "
                         f"random noise to every density; not ported (0 or absent only)")


class Superresolution(torch.nn.Module):
    """EG3D's super-resolution head: the features resized to its input resolution (bilinear, optionally
    antialiased), then StyleGAN2 blocks all styled by the last w; the RGB is carried and refined. sr_kwargs: EG3D's
    heads' own keyword arguments (channel_base, channel_max, num_fp16_res, conv_clamp: taken and ignored, as EG3D
    does) and their blocks' options (fused_modconv_default, use_noise, ...)."""

    def __init__(self, module: str, channels: int, img_resolution: int, w_dim: int, sr_num_fp16_res: int = 0,
                 sr_antialias: bool = True, fused_modconv_default="inference_only", sr_kwargs=None):
        super().__init__()
        if module not in SUPERRESOLUTION:
            raise ValueError(f"super-resolution module {module!r} is not ported; supported: "
                             f"{', '.join(sorted(SUPERRESOLUTION))}")
        spec = SUPERRESOLUTION[module]
        name = module.rsplit('.', 1)[-1]
        if img_resolution != spec["output"]:
            raise ValueError(f"{name} makes {spec['output']}² images, the generator asks for {img_resolution}²")
        if not spec.get("ours") and w_dim != 512:
            raise ValueError(f"EG3D's {name} styles its blocks with 512-wide ws; this generator's w_dim is {w_dim} "
                             f"(EG3D's own code cannot run it either)")
        options = {k: v for k, v in (sr_kwargs or {}).items() if k not in SR_IGNORED}
        fused_modconv_default = options.pop("fused_modconv_default", fused_modconv_default)
        options = block_options(options, f"sr_kwargs of {name}")
        self.input_resolution, self.only_upsize = spec["input"], bool(spec.get("only_upsize"))
        self.sr_antialias, self.adds_into_rgb = sr_antialias, not spec.get("ours")
        clamp = 256 if sr_num_fp16_res > 0 else None  # EG3D's clamp for its fp16 heads applies in fp32 too
        in_ch = channels
        for i, (out_ch, res, up) in enumerate(spec["blocks"]):
            setattr(self, f"block{i}", SynthesisBlock(in_ch, out_ch, w_dim, res, 3,
                                                      is_last=(i == len(spec["blocks"]) - 1), conv_clamp=clamp,
                                                      fused_modconv_default=fused_modconv_default, up=up, **options))
            in_ch = out_ch
        self.num_blocks = len(spec["blocks"])
        if spec.get("filter"):  # some of EG3D's heads keep a filter buffer of their own (unused)
            self.register_buffer("resample_filter", setup_filter())

    def run(self, rgb, x, ws, noise_mode: str = "none", fused_modconv=None):
        """(the image, the RGB EG3D's head leaves in the tensor `rgb` it was given): EG3D's heads add their first
        block's RGB into it in place when it went in unresized and that block does not upsample (2X at 64², 4X at
        128²); otherwise, and for the pack's own head, it is `rgb` as given."""
        ws = ws[:, -1:, :].repeat(1, 3, 1)
        given, res = rgb, x.shape[-1]
        resized = res < self.input_resolution if self.only_upsize else res != self.input_resolution
        if resized:
            size = (self.input_resolution, self.input_resolution)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=self.sr_antialias)
            rgb = F.interpolate(rgb, size=size, mode="bilinear", align_corners=False, antialias=self.sr_antialias)
        elif res != self.input_resolution:
            raise ValueError(f"the head takes features at {self.input_resolution}² (or smaller, resized), got "
                             f"{res}²")
        for i in range(self.num_blocks):
            block = getattr(self, f"block{i}")
            x, rgb = block(x, rgb, ws, fused_modconv=fused_modconv, noise_mode=noise_mode)
            if i == 0 and self.adds_into_rgb and not resized and block.up == 1:
                given = rgb
        return rgb, given

    def forward(self, rgb, x, ws, noise_mode: str = "none", fused_modconv=None):
        return self.run(rgb, x, ws, noise_mode, fused_modconv)[0]


class Backbone(torch.nn.Module):
    """StyleGAN2's generator as EG3D's backbone: mapping and a synthesis of 96 channels (3 planes x 32) at 256²
    (EG3D's; the pack's small generators draw smaller planes)."""

    def __init__(self, z_dim, c_dim, w_dim, channel_base=32768, channel_max=512, conv_clamp=None,
                 fused_modconv_default="inference_only", mapping_kwargs=None, resolution: int = 256,
                 use_noise: bool = True):
        super().__init__()
        self.synthesis = SynthesisNetwork(w_dim, resolution, 32 * 3, channel_base, channel_max, conv_clamp,
                                          fused_modconv_default, use_noise)
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, num_ws=self.synthesis.num_ws, **(mapping_kwargs or {}))


class TriplaneGenerator(torch.nn.Module):
    """z [N,z_dim] and camera conditioning c [N,25] -> {'image', 'image_raw', 'image_render', 'image_depth'}:
    EG3D's outputs (the super-resolved image; image_raw, the RGB EG3D returns as its raw image; the depth at the
    neural rendering resolution) and image_render, the volume-rendered RGB itself. image_raw is image_render except
    where EG3D's head adds its first block's RGB into the render in place (its 2X head at neural rendering 64², 4X
    at 128²): there EG3D's image_raw is render + that RGB, and so is ours.

    The arguments are EG3D's TriPlaneGenerator's (its **synthesis_kwargs spelled out: channel_base, channel_max,
    num_fp16_res, conv_clamp, fused_modconv_default, and the blocks' options in block_kwargs, see
    stylegan2.block_options), plus this port's neural_rendering_resolution and plane_resolution (EG3D: 256)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int = 3,
                 sr_num_fp16_res: int = 0, mapping_kwargs=None, rendering_kwargs=None, sr_kwargs=None,
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 0, conv_clamp=None,
                 fused_modconv_default="inference_only", neural_rendering_resolution: int = 64,
                 plane_resolution: int = 256, **block_kwargs):
        super().__init__()
        rk = dict(rendering_kwargs or {})
        check_rendering(rk)
        backbone_options = block_options(block_kwargs, "the generator's synthesis options")
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.build_args = dict(mapping_kwargs=dict(mapping_kwargs or {}), sr_num_fp16_res=sr_num_fp16_res,
                               sr_kwargs=dict(sr_kwargs or {}),
                               channel_base=channel_base, channel_max=channel_max, num_fp16_res=num_fp16_res,
                               conv_clamp=conv_clamp, fused_modconv_default=fused_modconv_default,
                               plane_resolution=plane_resolution, **block_kwargs)
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.rendering_kwargs, self.neural_rendering_resolution = rk, neural_rendering_resolution
        self.backbone = Backbone(z_dim, c_dim, w_dim, channel_base, channel_max, conv_clamp, fused_modconv_default,
                                 mapping_kwargs, plane_resolution, **backbone_options)
        self.superresolution = Superresolution(rk["superresolution_module"], 32, img_resolution, w_dim,
                                               sr_num_fp16_res, rk["sr_antialias"], fused_modconv_default,
                                               sr_kwargs)
        self.decoder = TriplaneDecoder(32, 32, lr_multiplier=rk.get("decoder_lr_mul", 1))

    def mapping(self, z, c, truncation_psi: float = 1.0, truncation_cutoff=None):
        if self.rendering_kwargs["c_gen_conditioning_zero"]:
            c = torch.zeros_like(c)
        return self.backbone.mapping(z, c * self.rendering_kwargs.get("c_scale", 0), truncation_psi,
                                     truncation_cutoff)

    def planes(self, ws, noise_mode: str = "random"):
        """The triplanes [N,3,32,R,R] for w (R = 256 for EG3D's models)."""
        p = self.backbone.synthesis(ws, noise_mode=noise_mode)
        return p.view(len(p), 3, 32, p.shape[-2], p.shape[-1])

    def synthesis(self, ws, c, neural_rendering_resolution: int | None = None, noise_mode: str = "random"):
        res = neural_rendering_resolution or self.neural_rendering_resolution
        rk = self.rendering_kwargs
        origins, directions = eg3d_rays(c, res)
        planes = self.planes(ws, noise_mode)
        features, depth, _ = render_triplane(planes, self.decoder, origins, directions, rk["ray_start"],
                                             rk["ray_end"], rk["depth_resolution"], rk["depth_resolution_importance"],
                                             rk["box_warp"], rk.get("white_back", False))
        n = len(ws)
        feature_image = features.permute(0, 2, 1).reshape(n, features.shape[-1], res, res).contiguous()
        depth_image = depth.permute(0, 2, 1).reshape(n, 1, res, res)
        render = feature_image[:, :3]
        image, raw = self.superresolution.run(render.clone(), feature_image, ws,
                                              noise_mode=rk["superresolution_noise_mode"])
        return {"image": image, "image_raw": raw, "image_render": render, "image_depth": depth_image}

    def forward(self, z, c, truncation_psi: float = 1.0, truncation_cutoff=None, neural_rendering_resolution=None,
                noise_mode: str = "random"):
        return self.synthesis(self.mapping(z, c, truncation_psi, truncation_cutoff), c, neural_rendering_resolution,
                              noise_mode)


#: EG3D's TriPlaneGenerator constructor arguments this port takes (the rest of a snapshot's are refused by name)
INIT_KEYS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "sr_num_fp16_res", "mapping_kwargs",
             "rendering_kwargs", "sr_kwargs", "channel_base", "channel_max", "num_fp16_res", "conv_clamp",
             "fused_modconv_default") + tuple(FIXED_BLOCK_OPTIONS) + BLOCK_OPTIONS
#: the defaults of EG3D's classes where they differ from this port's constructors' (a snapshot that leaves them out
#: was built with EG3D's: SynthesisBlock's conv_clamp 256 and fused_modconv_default True, SynthesisNetwork's
#: num_fp16_res 4; the super-resolution blocks' fused_modconv_default True)
EG3D_DEFAULTS = dict(conv_clamp=256, fused_modconv_default=True, num_fp16_res=4)
#: buffers a snapshot carries that generation does not use (training's label statistics)
TRAINING_ONLY = ("dataset_label_std",)


def _plain(value):
    """EasyDicts and other dict / list subclasses from a snapshot as plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def from_record(record) -> TriplaneGenerator:
    """Our generator from a snapshot's G_ema record (core.gan.snapshot): its constructor arguments, its current
    rendering_kwargs and neural rendering resolution, its tensors. Says what does not fit."""
    if record.class_name != "TriPlaneGenerator":
        raise ValueError(f"the snapshot's generator is a {record.class_name}, not EG3D's TriPlaneGenerator")
    if record.init_args:
        raise ValueError(f"EG3D's generator is built from keyword arguments; this one has {len(record.init_args)} "
                         f"positional ones")
    kwargs = _plain(record.init_kwargs)
    unknown = sorted(set(kwargs) - set(INIT_KEYS))
    if unknown:
        raise ValueError(f"the generator was built with {', '.join(unknown)}, which this port does not take (it "
                         f"takes {', '.join(INIT_KEYS)})")
    kwargs = {**EG3D_DEFAULTS, **kwargs}
    kwargs["sr_kwargs"] = {"fused_modconv_default": True, **(kwargs.get("sr_kwargs") or {})}
    if isinstance(record.attributes.get("rendering_kwargs"), dict):
        kwargs["rendering_kwargs"] = _plain(record.attributes["rendering_kwargs"])
    res = record.attributes.get("neural_rendering_resolution", 64)
    g = TriplaneGenerator(**kwargs, neural_rendering_resolution=int(res))
    state = {k: v for k, v in record.state_dict().items() if k not in TRAINING_ONLY}
    missing, unexpected = g.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"the snapshot's tensors do not fit EG3D's generator built from its own arguments: missing "
                         f"{missing[:6]}{' ...' if len(missing) > 6 else ''}, unexpected "
                         f"{unexpected[:6]}{' ...' if len(unexpected) > 6 else ''}")
    return g.eval().requires_grad_(False)


def load_generator(path: str) -> TriplaneGenerator:
    """A generator from an EG3D-family network snapshot (.pkl, read as data) or from our own safetensors."""
    if path.lower().endswith(".safetensors"):
        import json
        from safetensors import safe_open
        from safetensors.torch import load_file
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
        if "distill3d_generator" not in meta:
            raise ValueError(f"{path} is a safetensors file without a Distill3D generator's metadata (save it with "
                             f"core.gan.eg3d.save_generator)")
        config = json.loads(meta["distill3d_generator"])
        g = TriplaneGenerator(**config)
        g.load_state_dict(load_file(path), strict=True)
        return g.eval().requires_grad_(False)
    from .snapshot import read_snapshot
    snap = read_snapshot(path)
    record = snap.modules.get("G_ema") or snap.modules.get("G")
    return from_record(record)


def generator_config(g: TriplaneGenerator) -> dict:
    """The arguments that rebuild g (what save_generator stores)."""
    return dict(z_dim=g.z_dim, c_dim=g.c_dim, w_dim=g.w_dim, img_resolution=g.img_resolution,
                img_channels=g.img_channels, rendering_kwargs=g.rendering_kwargs,
                neural_rendering_resolution=g.neural_rendering_resolution, **g.build_args)


def save_generator(g: TriplaneGenerator, path: str) -> None:
    """Our own format: the tensors as safetensors, the arguments that rebuild the generator as metadata."""
    import json
    import os
    from safetensors.torch import save_file
    tmp = f"{path}.{os.getpid()}.partial"
    save_file({k: v.contiguous() for k, v in g.state_dict().items()}, tmp,
              metadata={"distill3d_generator": json.dumps(generator_config(g))})
    os.replace(tmp, path)


def camera_frame(g: TriplaneGenerator, distance: float = 1.8):
    """(scale, offset) from our world into the generator's: its rendering_kwargs' avg_camera_pivot and
    avg_camera_radius put our camera at `distance` in front onto its canonical camera (EG3D's FFHQ: pivot
    (0, 0, 0.2), radius 2.7); a generator trained in our world (pivot 0, radius = distance) gets (1, 0)."""
    from ..cameras import eg3d_frame
    rk = g.rendering_kwargs
    return eg3d_frame(distance, tuple(rk.get("avg_camera_pivot", (0.0, 0.0, 0.0))),
                      float(rk.get("avg_camera_radius", distance)))


def seed_latents(seeds, z_dim: int) -> torch.Tensor:
    """z for each seed exactly as EG3D's scripts draw it (numpy's RandomState(seed).randn), so seed N here is seed
    N there."""
    import numpy as np
    return torch.from_numpy(np.stack([np.random.RandomState(int(s)).randn(z_dim) for s in seeds])).float()


def render_samples(g: TriplaneGenerator, z: torch.Tensor, cameras, truncation_psi: float = 1.0,
                   neural_rendering_resolution: int | None = None, noise_mode: str = "const",
                   conditioning=None) -> dict:
    """Each latent rendered from each camera of `cameras` (ours; one camera for all, or one per latent), conditioned
    on `conditioning` (ours; default: the front camera at the same distance, as EG3D's scripts condition on their
    canonical camera). Images are 0..1 [N,H,W,3] as EG3D's scripts write them (image_raw: EG3D's raw image,
    image_render: the volume render itself; see TriplaneGenerator); depth [N,h,w]."""
    from ..cameras import Cameras, to_eg3d
    n = z.shape[0]
    if len(cameras) not in (1, n):
        raise ValueError(f"{len(cameras)} cameras for {n} latents: give one camera, or one per latent")
    dist = float(cameras.distance[0])
    scale, offset = camera_frame(g, dist)
    c = to_eg3d(cameras, scale, offset).expand(n, -1) if len(cameras) == 1 else to_eg3d(cameras, scale, offset)
    cond_cams = conditioning if conditioning is not None else Cameras.from_spherical(0.0, 0.0, dist, cameras.fov[:1])
    c_cond = to_eg3d(cond_cams, scale, offset).expand(n, -1)
    with torch.no_grad():
        ws = g.mapping(z, c_cond, truncation_psi)
        out = g.synthesis(ws, c, neural_rendering_resolution, noise_mode)
    to_image = lambda x: ((x * 127.5 + 128).clamp(0, 255) / 255).permute(0, 2, 3, 1)  # noqa: E731
    return {"image": to_image(out["image"]), "image_raw": to_image(out["image_raw"]),
            "image_render": to_image(out["image_render"]), "depth": out["image_depth"][:, 0]}
