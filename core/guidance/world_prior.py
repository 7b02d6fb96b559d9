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

from ..cache import cached, content_key
from ..cameras import Cameras
from ..world import CATALOGUE, find_in_prompt, render_object
from . import NoisePredictor, linear_beta_alphas_cumprod


def _object_fingerprint(obj) -> torch.Tensor:
    """The object's SDF and albedo at fixed points: changes whenever its construction does."""
    pts = torch.rand(4096, 3, generator=torch.Generator().manual_seed(0)) - 0.5
    d, albedo = obj.shape(pts)
    return torch.cat([d.reshape(-1, 1), albedo.reshape(-1, 3)], 1).mul(1e5).round()


def _renderer_source() -> bytes:
    import importlib
    mods = [importlib.import_module(f"..world.{m}", __package__) for m in ("render", "sdf")]
    return b"".join(open(m.__file__, "rb").read() for m in mods)


MODES = ("view-aware", "2D", "multi-view")


class WorldPrior(NoisePredictor):
    """A NoisePredictor over the primitive world's renders (pixel space, resolution 32 or 64).

    Every object is rendered from one camera grid (elevations x azimuth steps, fixed distance and fov); the render
    sets are cached on disk (core.cache) since building all 16 takes tens of seconds on a CPU.
    mode 'view-aware': each render is weighted by a truncated Gaussian kernel of the angle between its camera and
    the query camera (renders beyond `max_angle` degrees get no weight; the nearest one always keeps some), so only
    the few renders near each query camera are ever compared.
    mode '2D': the camera is ignored, as a text-to-image model sees the world (it will grow Janus faces).
    mode 'multi-view': MVDream's setting: the batch is groups of `views` views of one object (one elevation,
    azimuths differing by multiples of the grid step, e.g. r + i·360/V), denoised jointly: the exact posterior mean
    over the object's render *tuples*, each tuple weighted by the product of its views' likelihoods and the camera
    kernel of the group's first view (the others follow it rigidly, so their angles are the same).
    """

    space = "pixel"
    exact = True
    shadings = ("albedo",)  # the render sets are albedo renders

    def __init__(self, resolution: int = 32, mode: str = "view-aware", kernel_degrees: float = 10.0,
                 max_angle: float = 25.0, elevations=(-10, 0, 10, 20, 30, 45, 60, 75), azimuth_step: float = 15.0,
                 distance: float = 1.8, fov: float = 40.0, shading: str = "albedo", background=(1.0, 1.0, 1.0),
                 views: int = 4, device="cpu"):
        if mode not in MODES:
            raise ValueError(f"world prior mode must be one of {', '.join(MODES)}, got '{mode}'")
        if mode == "multi-view" and (views < 1 or (360.0 / azimuth_step) % views):
            raise ValueError(f"{views} views cannot split the {azimuth_step:g}° azimuth grid evenly: use a divisor of "
                             f"{int(360 / azimuth_step)}")
        self.views = views if mode == "multi-view" else 1
        if resolution not in (32, 64):
            raise ValueError(f"the world prior works at 32 or 64 pixels, got {resolution}")
        self.resolution, self.mode = resolution, mode
        self.kernel = math.radians(kernel_degrees)
        self.max_angle = math.radians(max_angle)
        self.grid = dict(elevations=tuple(float(e) for e in elevations), azimuth_step=float(azimuth_step),
                         distance=float(distance), fov=float(fov), shading=shading,
                         background=tuple(float(b) for b in background))
        el = torch.tensor(self.grid["elevations"])
        az = torch.arange(0.0, 360.0, azimuth_step)
        ee, aa = torch.meshgrid(el, az, indexing="ij")
        self.cameras = Cameras.from_spherical(ee.reshape(-1), aa.reshape(-1), distance, fov)
        self.fixed_camera = (float(distance), float(fov))
        self.alphas_cumprod = linear_beta_alphas_cumprod()
        self.num_timesteps = self.alphas_cumprod.shape[0]
        self.device = torch.device(device)
        self.dirs = torch.nn.functional.normalize(self.cameras.position, dim=-1).to(self.device)
        self._sets: dict[str, torch.Tensor] = {}
        self._stacks: dict[tuple, torch.Tensor] = {}

    # ---- data -----------------------------------------------------------------------------------------------
    def render_set(self, name: str) -> torch.Tensor:
        """[G,3,R,R] renders in [-1,1] of one object from every grid camera (self.cameras, self.dirs)."""
        if name not in self._sets:
            obj = CATALOGUE[name]
            key = content_key(_object_fingerprint(obj), _renderer_source(), self.resolution, self.grid)

            def build():
                rgb = render_object(obj, self.cameras, self.resolution, shading=self.grid["shading"],
                                    background=self.grid["background"]).rgb
                return rgb.permute(0, 3, 1, 2).contiguous() * 2 - 1
            self._sets[name] = cached("world_render_sets", key, build).to(self.device)
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

    def candidates(self, cameras, batch: int):
        """Per query: (grid indices it may match, their log camera weights). 2D: every grid camera, weight 0."""
        if self.mode == "2D":
            every = torch.arange(self.dirs.shape[0], device=self.device)
            return [(every, torch.zeros(every.shape[0], device=self.device))] * batch
        if cameras is None:
            raise ValueError("the view-aware world prior needs the cameras of the renders")
        q = torch.nn.functional.normalize(cameras.position.to(self.device), dim=-1)
        ang = torch.acos((q @ self.dirs.T).clamp(-1, 1))  # [B,G]
        keep = (ang <= self.max_angle) | (ang <= ang.min(1, keepdim=True).values + 1e-6)
        out = []
        for b in range(batch):
            idx = keep[b].nonzero().squeeze(-1)
            out.append((idx, -(ang[b, idx] ** 2) / (2 * self.kernel ** 2)))
        return out

    def _stack(self, cond):
        """([O,G,D] float64 render sets of the conditioning's objects, their squared norms [O,G])."""
        if cond not in self._stacks:
            y = torch.stack([self.render_set(n) for n in cond]).flatten(2).double()
            self._stacks[cond] = (y, (y * y).sum(-1))
        return self._stacks[cond]

    def group_offsets(self, cameras) -> torch.Tensor:
        """[B/V, V] grid-azimuth steps of each view from its group's first view; refuses groups that are not
        one elevation with azimuths on the grid's step."""
        v, step = self.views, self.grid["azimuth_step"]
        if cameras is None:
            raise ValueError("the multi-view world prior needs the cameras of the renders")
        if len(cameras) % v:
            raise ValueError(f"the multi-view world prior denoises groups of {v} views: a batch of {len(cameras)} "
                             f"views cannot be grouped; use a multiple of {v}")
        el = cameras.elevation.reshape(-1, v).cpu()
        az = cameras.azimuth.reshape(-1, v).cpu()
        rel = torch.remainder(az - az[:, :1], 360.0) / step
        off = rel.round()
        if (el - el[:, :1]).abs().max() > 0.5 or (rel - off).abs().max() > 0.05:
            raise ValueError(f"each group of {v} views must share one elevation and differ in azimuth by multiples "
                             f"of {step:g}° (as MVDream's r + i·360/{v}); got elevations {el.tolist()} and azimuths "
                             f"{az.tolist()}")
        return off.long() % int(round(360.0 / step))

    def joint_posterior_mean(self, x_t, t, cond, cameras) -> torch.Tensor:
        """E[x0 tuple | x_t tuple] for groups of `views` views: [B,3,R,R] (see the class docstring)."""
        v, n_az = self.views, int(round(360.0 / self.grid["azimuth_step"]))
        a = self.alphas_cumprod.to(x_t.device)[t.long()].double()
        sets, sq = self._stack(cond)
        offsets = self.group_offsets(cameras).to(self.device)
        out = torch.empty_like(x_t)
        firsts = cameras[list(range(0, len(cameras), v))]
        for g, (idx, log_cam) in enumerate(self.candidates(firsts, len(firsts))):
            rows, cols = idx // n_az, idx % n_az
            tup = rows[None] * n_az + (cols[None] + offsets[g][:, None]) % n_az  # [V,k] grid index per view
            logw = log_cam.double()[None].expand(sets.shape[0], -1).clone()  # [O,k]
            for i in range(v):
                b = g * v + i
                y, x = sets[:, tup[i]], x_t[b].flatten().double()
                d2 = (x @ x) - 2 * a[b].sqrt() * (y @ x) + a[b] * sq[:, tup[i]]
                logw -= d2.clamp_min(0) / (2 * (1 - a[b]))
            w = torch.softmax(logw.flatten(), 0).reshape(logw.shape)
            for i in range(v):
                out[g * v + i] = torch.einsum("ok,okd->d", w, sets[:, tup[i]]).reshape(x_t.shape[1:]).to(x_t.dtype)
        return out

    def posterior_mean(self, x_t, t, cond, cameras=None) -> torch.Tensor:
        """E[x0 | x_t] over the renders of the conditioning's objects: [B,3,R,R]."""
        if self.mode == "multi-view":
            return self.joint_posterior_mean(x_t, t, cond, cameras)
        a = self.alphas_cumprod.to(x_t.device)[t.long()].double()
        sets, sq = self._stack(cond)
        out = torch.empty_like(x_t)
        for b, (idx, log_cam) in enumerate(self.candidates(cameras, x_t.shape[0])):
            y = sets[:, idx]  # [O,k,D]
            x = x_t[b].flatten().double()
            # |x - a y|^2 in float64: the exponent divides by sigma^2, which is tiny at low t
            d2 = (x @ x) - 2 * a[b].sqrt() * (y @ x) + a[b] * sq[:, idx]
            logw = -d2.clamp_min(0) / (2 * (1 - a[b])) + log_cam.double()[None]
            w = torch.softmax(logw.flatten(), 0).reshape(logw.shape)
            out[b] = torch.einsum("ok,okd->d", w, y).reshape(x_t.shape[1:]).to(x_t.dtype)
        return out

    @torch.no_grad()
    def predict_eps(self, x_t, t, cond, cameras=None) -> torch.Tensor:
        x0 = self.posterior_mean(x_t, t, cond, cameras)
        a = self.alphas_cumprod.to(x_t.device)[t.long()].reshape(-1, 1, 1, 1)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()
