"""StyleGAN2's synthesis network in plain torch (no custom CUDA ops), under EG3D's parameter names and with its
arithmetic: the FIR resampling (upfirdn2d), weight-modulated convolutions with demodulation, noise, the 'skip'
architecture that sums each resolution's RGB. EG3D's backbone is this network drawing 3 x 32 triplane channels;
its super-resolution blocks reuse SynthesisBlock. Parity: tests against EG3D's own network (tests/data fixture).
The CPU path is fp32 throughout, as EG3D's is off CUDA."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .networks import LRELU_GAIN, FullyConnected


def setup_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    """The separable low-pass filter as a normalized 2-D kernel (outer product, sum 1)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


#: EG3D's SynthesisBlock / SynthesisLayer keyword options (what its SynthesisNetwork and super-resolution heads pass
#: on to their blocks) that this port runs at their default only: a snapshot may name them, with that value
FIXED_BLOCK_OPTIONS = {"architecture": "skip", "resample_filter": [1, 3, 3, 1], "kernel_size": 3,
                       "activation": "lrelu"}
#: the options this port's blocks honour ('fp16_channels_last' only lays fp16 tensors out channels-last on CUDA in
#: EG3D: no value changes, and this port computes in fp32)
BLOCK_OPTIONS = ("use_noise", "fp16_channels_last")


def block_options(options: dict, where: str) -> dict:
    """EG3D's block and layer keyword options from a snapshot's arguments -> those this port's blocks take
    (use_noise); an option at a value the port does not run, or one EG3D's blocks do not take, is refused."""
    out = {}
    for key, value in options.items():
        if key in FIXED_BLOCK_OPTIONS:
            default = FIXED_BLOCK_OPTIONS[key]
            same = list(value) == default if isinstance(value, (list, tuple)) and isinstance(default, list) \
                else value == default
            if not same:
                raise ValueError(f"{where}: {key}={value!r} is not ported (this port's StyleGAN2 blocks run "
                                 f"{key}={default!r} only)")
        elif key == "use_noise":
            out["use_noise"] = bool(value)
        elif key != "fp16_channels_last":
            raise ValueError(f"{where}: {key!r} is not an option of EG3D's StyleGAN2 blocks (they take "
                             f"{', '.join(list(FIXED_BLOCK_OPTIONS) + list(BLOCK_OPTIONS))})")
    return out


def upfirdn2d(x, f, up: int = 1, down: int = 1, padding=(0, 0, 0, 0), gain: float = 1.0):
    """Upsample by zero insertion, pad (x0, x1, y0, y1; negative crops), convolve every channel with the 2-D
    filter f (a true convolution), then keep every down-th sample."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    px0, px1, py0, py1 = padding
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    k = (f * gain).to(x.dtype).flip([0, 1])
    x = F.conv2d(x, k[None, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down]


def upsample2d(x, f, up: int = 2):
    fw = f.shape[-1]
    return upfirdn2d(x, f, up=up, padding=((fw + up - 1) // 2, (fw - up) // 2, (fw + up - 1) // 2, (fw - up) // 2),
                     gain=up * up)


def _conv(x, w, f, up: int, padding: int, groups: int):
    """The convolutions the generator uses: stride 1 (3x3 or 1x1, correlation), or 2x up with a 3x3 kernel as a
    transposed convolution followed by the FIR filter."""
    if up == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    out_ch, in_per_group, kh, kw = w.shape
    if groups == 1:
        wt = w.transpose(0, 1)
    else:
        wt = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    fw = f.shape[-1]
    p0 = padding + (fw + up - 1) // 2 - (kw - 1)
    p1 = padding + (fw - up) // 2 - (kw - up)
    x = F.conv_transpose2d(x, wt, stride=up, groups=groups)
    return upfirdn2d(x, f, padding=(p0, p1, p0, p1), gain=up * up)


def modulated_conv2d(x, weight, styles, noise=None, up: int = 1, padding: int = 0, resample_filter=None,
                     demodulate: bool = True, fused: bool = True):
    """Each sample's kernel scaled per input channel by its style, then (demodulate) per output channel to unit
    norm; fused: one grouped convolution for the batch, else the styles applied to x (the same result)."""
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1) if (demodulate or fused) else None
    dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt() if demodulate else None
    if not fused:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = _conv(x, weight.to(x.dtype), resample_filter, up, padding, 1)
        if demodulate and noise is not None:
            return torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(n, -1, 1, 1))
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
        return x + noise.to(x.dtype) if noise is not None else x
    if demodulate:
        w = w * dcoefs.reshape(n, -1, 1, 1, 1)
    x = _conv(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, in_ch, kh, kw).to(x.dtype), resample_filter, up,
              padding, n)
    x = x.reshape(n, -1, *x.shape[2:])
    return x + noise if noise is not None else x


def _fused(default, training: bool) -> bool:
    return (not training) if default == "inference_only" else bool(default)


class SynthesisLayer(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, conv_clamp=None, resample_filter=(1, 3, 3, 1)):
        super().__init__()
        self.up, self.resolution, self.use_noise, self.conv_clamp = up, resolution, use_noise, conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros(out_channels))

    def forward(self, x, w, noise_mode: str = "random", fused_modconv: bool = True, gain: float = 1.0):
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) \
                * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise, self.up, self.padding, self.resample_filter,
                             fused=fused_modconv)
        x = F.leaky_relu(x + self.bias.to(x.dtype).reshape(1, -1, 1, 1), 0.2) * (LRELU_GAIN * gain)
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp * gain, self.conv_clamp * gain)
        return x


class ToRGBLayer(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = torch.nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / np.sqrt(in_channels)

    def forward(self, x, w, fused_modconv: bool = True):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused_modconv)
        x = x + self.bias.to(x.dtype).reshape(1, -1, 1, 1)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


class SynthesisBlock(torch.nn.Module):
    """One resolution of the 'skip' architecture: (2x up) conv0, conv1, and an RGB added to the upsampled RGB
    so far; the first block starts from a learned constant."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, conv_clamp=256, fused_modconv_default="inference_only", resample_filter=(1, 3, 3, 1),
                 up: int = 2, use_noise: bool = True):
        super().__init__()
        self.in_channels, self.resolution, self.fused_modconv_default = in_channels, resolution, fused_modconv_default
        self.up = up  # 1: EG3D's super-resolution "no up" block (same resolution in, RGB added without up-sampling)
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=up, conv_clamp=conv_clamp,
                                        resample_filter=resample_filter, use_noise=use_noise)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp,
                                    resample_filter=resample_filter, use_noise=use_noise)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv, self.num_torgb = (1 if in_channels == 0 else 2), 1

    def forward(self, x, img, ws, fused_modconv=None, noise_mode: str = "random"):
        fused = _fused(self.fused_modconv_default, self.training) if fused_modconv is None else fused_modconv
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.to(torch.float32).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused)
        else:
            x = self.conv0(x.to(torch.float32), next(w_iter), noise_mode=noise_mode, fused_modconv=fused)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused)
        if img is not None and self.up > 1:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter), fused_modconv=fused).to(torch.float32)
        return x, (img + y if img is not None else y)


class SynthesisNetwork(torch.nn.Module):
    """w [N,num_ws,w_dim] -> image [N,img_channels,R,R] through blocks b4 .. bR (channels min(base / r, max));
    consecutive blocks share one w (block b gets ws[i : i + convs + 1], i advancing by its convs)."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, conv_clamp=None, fused_modconv_default="inference_only",
                 use_noise: bool = True):
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution < 4 or 2 ** log2 != img_resolution:
            raise ValueError(f"img_resolution must be a power of 2 of at least 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        self.num_ws = 0
        for r in self.block_resolutions:
            block = SynthesisBlock(channels[r // 2] if r > 4 else 0, channels[r], w_dim, r, img_channels,
                                   is_last=(r == img_resolution), conv_clamp=conv_clamp,
                                   fused_modconv_default=fused_modconv_default, use_noise=use_noise)
            self.num_ws += block.num_conv
            if r == img_resolution:
                self.num_ws += block.num_torgb
            setattr(self, f"b{r}", block)

    def forward(self, ws, noise_mode: str = "random", fused_modconv=None):
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [N,{self.num_ws},{self.w_dim}], got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        i = 0
        for r in self.block_resolutions:
            block = getattr(self, f"b{r}")
            x, img = block(x, img, ws.narrow(1, i, block.num_conv + block.num_torgb), fused_modconv=fused_modconv,
                           noise_mode=noise_mode)
            i += block.num_conv
        return img
