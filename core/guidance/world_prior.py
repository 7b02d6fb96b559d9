"""The primitive world's reference prior: the exact denoiser of a small, known image distribution.

Its data are renders of world objects from a grid of cameras. Under x_t = a y + s eps with y drawn uniformly from
those renders (optionally weighted by how close each render's camera is to the query camera), the MMSE estimate
E[y | x_t] is a softmax-weighted mean of the renders; epsilon follows. It is a true diffusion model of that world,
text-conditioned (the prompt picks the object; the unconditional model pools every object, so CFG means what it
means) and, in "view-aware" mode, camera-conditioned. No training, no weights: every pipeline runs offline and
every result can be judged against the truth.
"""
from __future__ import annotations

import math

import torch

from ..cameras import Cameras
from ..world import CATALOGUE, find_in_prompt, render_object
from . import NoisePredictor, linear_beta_alphas_cumprod


class WorldRenderSet:
    """Renders [K,3,R,R] in [-1,1] of one object over a camera grid, with the cameras' unit directions [K,3]."""

    def __init__(self, obj, resolution: int, elevations, azimuth_step: float, distance: float, fov: float,
                 shading: str, background):
        el = torch.tensor([float(e) for e in elevations])
        az = torch.arange(0.0, 360.0, azimuth_step)
        ee, aa = torch.meshgrid(el, az, indexing="ij")
        self.cameras = Cameras.from_spherical(ee.reshape(-1), aa.reshape(-1), distance, fov)
        rec = render_object(obj, self.cameras, resolution, shading=shading, background=background)
        self.images = rec.rgb.permute(0, 3, 1, 2) * 2 - 1
        self.dirs = torch.nn.functional.normalize(self.cameras.position, dim=-1)


class WorldPrior(NoisePredictor):
    """A NoisePredictor over the primitive world's renders (pixel space, resolution 32 or 64).

    mode 'view-aware': each render is weighted by a truncated Gaussian kernel of the angle between its camera and
    the query camera (renders beyond `max_angle` degrees get no weight; the nearest one always keeps some).
    mode '2D': the camera is ignored, as a text-to-image model sees the world (it will grow Janus faces).
    """

    space = "pixel"

    def __init__(self, resolution: int = 32, mode: str = "view-aware", kernel_degrees: float = 10.0,
                 max_angle: float = 25.0, elevations=(-10, 0, 10, 20, 30, 45, 60, 75), azimuth_step: float = 15.0,
                 distance: float = 1.8, fov: float = 40.0, shading: str = "albedo", background=(1.0, 1.0, 1.0),
                 device="cpu"):
        if mode not in ("view-aware", "2D"):
            raise ValueError(f"world prior mode must be 'view-aware' or '2D', got '{mode}'")
        if resolution not in (32, 64):
            raise ValueError(f"the world prior works at 32 or 64 pixels, got {resolution}")
        self.resolution, self.mode = resolution, mode
        self.kernel = math.radians(kernel_degrees)
        self.max_angle = math.radians(max_angle)
        self.grid = dict(elevations=tuple(elevations), azimuth_step=azimuth_step, distance=distance, fov=fov,
                         shading=shading, background=tuple(background))
        self.alphas_cumprod = linear_beta_alphas_cumprod()
        self.num_timesteps = self.alphas_cumprod.shape[0]
        self.device = torch.device(device)
        self._sets: dict[str, WorldRenderSet] = {}

    # ---- data -----------------------------------------------------------------------------------------------
    def render_set(self, name: str) -> WorldRenderSet:
        if name not in self._sets:
            s = WorldRenderSet(CATALOGUE[name], self.resolution, **self.grid)
            s.images, s.dirs = s.images.to(self.device), s.dirs.to(self.device)
            self._sets[name] = s
        return self._sets[name]

    def condition(self, prompt: str, negative: str = ""):
        """(conditional, unconditional): the object the prompt names, and every object pooled."""
        obj = find_in_prompt(prompt)
        return (obj.name,), tuple(CATALOGUE)

    # ---- the prior ------------------------------------------------------------------------------------------
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1:3] != (self.resolution, self.resolution):
            raise ValueError(f"the world prior takes {self.resolution}² renders, got {tuple(images.shape[1:3])}")
        return images.permute(0, 3, 1, 2) * 2 - 1

    def log_weights(self, x_t, alpha, sigma, images, dirs, cameras):
        """[B,K] log posterior weights of the candidate renders."""
        # |x - a y|^2 expanded, in float64: the exponent divides by sigma^2, which is tiny at low t
        x = x_t.flatten(1).double()
        y = images.flatten(1).double()
        a = alpha.double().reshape(-1, 1)
        d2 = (x * x).sum(1, keepdim=True) - 2 * a * (x @ y.T) + a * a * (y * y).sum(1)[None]
        logw = (-d2.clamp_min(0) / (2 * sigma.double().reshape(-1, 1) ** 2)).float()
        if self.mode == "view-aware":
            if cameras is None:
                raise ValueError("the view-aware world prior needs the cameras of the renders")
            q = torch.nn.functional.normalize(cameras.position.to(x_t.device), dim=-1)
            ang = torch.acos((q @ dirs.T).clamp(-1, 1))  # [B,K]
            kern = -(ang ** 2) / (2 * self.kernel ** 2)
            nearest = ang <= ang.min(1, keepdim=True).values + 1e-6
            kern = torch.where((ang <= self.max_angle) | nearest, kern, torch.full_like(kern, -float("inf")))
            logw = logw + kern
        return logw

    def posterior_mean(self, x_t, t, cond, cameras=None) -> torch.Tensor:
        """E[x0 | x_t] over the renders of the conditioning's objects: [B,3,R,R]."""
        a = self.alphas_cumprod.to(x_t.device)[t.long()]
        alpha, sigma = a.sqrt(), (1 - a).sqrt()
        sets = [self.render_set(n) for n in cond]
        images = torch.cat([s.images for s in sets])
        dirs = torch.cat([s.dirs for s in sets])
        w = torch.softmax(self.log_weights(x_t, alpha, sigma, images, dirs, cameras), dim=1)
        return torch.einsum("bk,kchw->bchw", w, images)

    @torch.no_grad()
    def predict_eps(self, x_t, t, cond, cameras=None) -> torch.Tensor:
        x0 = self.posterior_mean(x_t, t, cond, cameras)
        a = self.alphas_cumprod.to(x_t.device)[t.long()].reshape(-1, 1, 1, 1)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()
