"""EG3D's triplane generator in plain torch: mapping (z, camera c -> w), a StyleGAN2 backbone drawing three
32-channel planes at 256², the triplane renderer at the neural rendering resolution, and a super-resolution head
(StyleGAN2 blocks on the rendered features, styled by the last w). Parameter names are EG3D's, so a snapshot's
G_ema loads (read_snapshot -> from_record) and renders what EG3D renders (parity tests against EG3D's own
generator, tests/data/eg3d_generator_reference.safetensors). Which head a model uses, its sizes and its rendering
settings come from the snapshot's own init arguments and rendering_kwargs, never from code in the file."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .networks import MappingNetwork, TriplaneDecoder
from .render import eg3d_rays, render_triplane
from .stylegan2 import SynthesisBlock, SynthesisNetwork

#: the super-resolution heads: (input resolution, output resolution, [(out channels, block resolution, up)] ...)
SUPERRESOLUTION = {
    "training.superresolution.SuperresolutionHybrid8XDC": (128, 512, [(256, 256, 2), (128, 512, 2)]),
    "training.superresolution.SuperresolutionHybrid2X": (64, 128, [(128, 64, 1), (64, 128, 2)]),
}
#: rendering settings the generator reads (EG3D's rendering_kwargs names)
RENDER_KEYS = ("ray_start", "ray_end", "box_warp", "depth_resolution", "depth_resolution_importance",
               "superresolution_module", "sr_antialias", "superresolution_noise_mode", "c_gen_conditioning_zero")


class Superresolution(torch.nn.Module):
    """EG3D's super-resolution head: the features resized to its input resolution (bilinear, optionally
    antialiased), then StyleGAN2 blocks all styled by the last w; the RGB is carried and refined."""

    def __init__(self, module: str, channels: int, img_resolution: int, w_dim: int, sr_num_fp16_res: int = 0,
                 sr_antialias: bool = True, fused_modconv_default="inference_only"):
        super().__init__()
        if module not in SUPERRESOLUTION:
            raise ValueError(f"super-resolution module {module!r} is not ported; supported: "
                             f"{', '.join(sorted(SUPERRESOLUTION))}")
        self.input_resolution, out_res, blocks = SUPERRESOLUTION[module]
        if img_resolution != out_res:
            raise ValueError(f"{module.rsplit('.', 1)[-1]} makes {out_res}² images, the generator asks for "
                             f"{img_resolution}²")
        self.sr_antialias = sr_antialias
        clamp = 256 if sr_num_fp16_res > 0 else None  # EG3D's clamp for its fp16 heads applies in fp32 too
        in_ch = channels
        for i, (out_ch, res, up) in enumerate(blocks):
            setattr(self, f"block{i}", SynthesisBlock(in_ch, out_ch, w_dim, res, 3, is_last=(i == len(blocks) - 1),
                                                      conv_clamp=clamp, fused_modconv_default=fused_modconv_default,
                                                      up=up))
            in_ch = out_ch
        self.num_blocks = len(blocks)
        if blocks[0][2] == 1:  # EG3D's heads with a "no up" first block also keep a filter buffer of their own
            from .stylegan2 import setup_filter
            self.register_buffer("resample_filter", setup_filter())

    def forward(self, rgb, x, ws, noise_mode: str = "none", fused_modconv=None):
        ws = ws[:, -1:, :].repeat(1, 3, 1)
        if x.shape[-1] != self.input_resolution:
            size = (self.input_resolution, self.input_resolution)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=self.sr_antialias)
            rgb = F.interpolate(rgb, size=size, mode="bilinear", align_corners=False, antialias=self.sr_antialias)
        for i in range(self.num_blocks):
            x, rgb = getattr(self, f"block{i}")(x, rgb, ws, fused_modconv=fused_modconv, noise_mode=noise_mode)
        return rgb


class Backbone(torch.nn.Module):
    """StyleGAN2's generator as EG3D's backbone: mapping and a 256² synthesis of 96 channels (3 planes x 32)."""

    def __init__(self, z_dim, c_dim, w_dim, channel_base=32768, channel_max=512, conv_clamp=None,
                 fused_modconv_default="inference_only", mapping_kwargs=None):
        super().__init__()
        self.synthesis = SynthesisNetwork(w_dim, 256, 32 * 3, channel_base, channel_max, conv_clamp,
                                          fused_modconv_default)
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, num_ws=self.synthesis.num_ws, **(mapping_kwargs or {}))


class TriplaneGenerator(torch.nn.Module):
    """z [N,z_dim] and camera conditioning c [N,25] -> {'image', 'image_raw', 'image_depth'} (EG3D's outputs:
    the super-resolved image, the rendered RGB at the neural rendering resolution, its depth)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int = 3,
                 sr_num_fp16_res: int = 0, mapping_kwargs=None, rendering_kwargs=None, sr_kwargs=None,
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 0, conv_clamp=None,
                 fused_modconv_default="inference_only", neural_rendering_resolution: int = 64):
        super().__init__()
        rk = dict(rendering_kwargs or {})
        missing = [k for k in RENDER_KEYS if k not in rk]
        if missing:
            raise ValueError(f"rendering_kwargs lacks {', '.join(missing)}")
        if rk.get("ray_start") == "auto" or rk.get("disparity_space_sampling") or \
                rk.get("clamp_mode", "softplus") != "softplus":
            raise ValueError("ported: fixed ray limits, linear depth sampling and softplus densities (EG3D's "
                             f"FFHQ / AFHQ settings); got ray_start {rk.get('ray_start')!r}, disparity sampling "
                             f"{rk.get('disparity_space_sampling')!r}, clamp_mode {rk.get('clamp_mode')!r}")
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.rendering_kwargs, self.neural_rendering_resolution = rk, neural_rendering_resolution
        self.backbone = Backbone(z_dim, c_dim, w_dim, channel_base, channel_max, conv_clamp, fused_modconv_default,
                                 mapping_kwargs)
        self.superresolution = Superresolution(rk["superresolution_module"], 32, img_resolution, w_dim,
                                               sr_num_fp16_res, rk["sr_antialias"],
                                               (sr_kwargs or {}).get("fused_modconv_default", fused_modconv_default))
        self.decoder = TriplaneDecoder(32, 32, lr_multiplier=rk.get("decoder_lr_mul", 1))

    def mapping(self, z, c, truncation_psi: float = 1.0, truncation_cutoff=None):
        if self.rendering_kwargs["c_gen_conditioning_zero"]:
            c = torch.zeros_like(c)
        return self.backbone.mapping(z, c * self.rendering_kwargs.get("c_scale", 0), truncation_psi,
                                     truncation_cutoff)

    def planes(self, ws, noise_mode: str = "random"):
        """The triplanes [N,3,32,256,256] for w."""
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
        rgb = feature_image[:, :3]
        image = self.superresolution(rgb.clone(), feature_image, ws, noise_mode=rk["superresolution_noise_mode"])
        return {"image": image, "image_raw": rgb, "image_depth": depth_image}

    def forward(self, z, c, truncation_psi: float = 1.0, truncation_cutoff=None, neural_rendering_resolution=None,
                noise_mode: str = "random"):
        return self.synthesis(self.mapping(z, c, truncation_psi, truncation_cutoff), c, neural_rendering_resolution,
                              noise_mode)
