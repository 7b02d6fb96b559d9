"""DiffusionGAN3D's text-to-avatar: one latent, chosen among K samples by how well the prior thinks its renders
match the prompt; then the generator is fine-tuned for that latent with SDS, and a case-specific triplane (zero
at the start, smooth by a multi-scale TV loss, core.losses.gan.MultiScaleTV) is added to the generated one, so
the avatar may leave the generator's family where the prompt asks. The result is baked into a TriplaneField
(a D3_FIELD: Extract Mesh, Bake, Save apply).

    scores = latent_scores(g, prior, seeds)                 # lower: more like the prompt
    field = AvatarField(g, seed_latents([best], g.z_dim))
    optimize(field, [SDSLoss(prior), MultiScaleTV()], steps)  # the one optimizer loop
    result = field.bake()
"""
from __future__ import annotations

import copy

import torch

from ..cameras import Cameras
from .eg3d import TriplaneGenerator
from .field import TriplaneField
from .world import CAMERA_DISTANCE


class AvatarField(TriplaneField):
    """Planes = the trained generator's planes for a fixed w + a learnable `delta`. The planes are computed once
    per optimizer step (anneal() clears them), not once per ray batch."""

    kind = "avatar"

    def __init__(self, generator: TriplaneGenerator, z: torch.Tensor, truncation_psi: float = 1.0,
                 generator_lr_scale: float = 0.1, noise_mode: str = "const"):
        torch.nn.Module.__init__(self)
        if z.ndim != 2 or z.shape[0] != 1:
            raise ValueError(f"an avatar is one latent: z must be [1,z_dim], got {tuple(z.shape)}")
        with torch.inference_mode(False):
            self.generator = copy.deepcopy(generator).requires_grad_(True)
        self.generator.backbone.mapping.requires_grad_(False)
        with torch.no_grad():
            ws = self.generator.mapping(z.float(), torch.zeros(1, generator.c_dim), truncation_psi)
        self.register_buffer("ws", ws.detach().clone())
        self.noise_mode = noise_mode
        self.decoder = self.generator.decoder
        self._take_frame(generator)
        res = generator.backbone.synthesis.img_resolution
        self.delta = torch.nn.Parameter(torch.zeros(3, 32, res, res))
        self.generator_lr_scale = generator_lr_scale
        self.config = dict(kind="avatar")
        self._planes = None

    @property
    def planes(self) -> torch.Tensor:
        if self._planes is None:
            self._planes = self.generator.planes(self.ws, self.noise_mode)[0] + self.delta
        return self._planes

    def learnable_planes(self):
        return self.delta

    def anneal(self, step: int, total: int):
        self._planes = None

    def param_groups(self, lr: float) -> list[dict]:
        k = self.generator_lr_scale
        return [{"params": [self.delta], "lr": lr, "name": "case_triplane"},
                {"params": list(self.generator.backbone.synthesis.parameters()), "lr": lr * k, "name": "synthesis"},
                {"params": list(self.generator.decoder.parameters()), "lr": lr * k * 0.1, "name": "decoder"}]

    def bake(self) -> TriplaneField:
        """The avatar as a plain TriplaneField: its final planes and decoder, detached from the generator."""
        self._planes = None
        with torch.no_grad():
            planes = self.planes.detach().clone()
        self._planes = None
        return TriplaneField(planes, self.decoder, self.box_warp, self.scale, self.offset,
                             background_color=tuple(float(c) for c in self.background.color))

    def clone(self):
        raise ValueError("an avatar field is optimized once and baked (AvatarField.bake); clone the baked field")


def score_views(generator: TriplaneGenerator, n: int = 4, elevation: float = 15.0) -> Cameras:
    """The views a candidate is judged from: n azimuths around it at one elevation (the pack's generators), or
    spread over the frontal poses of adaptation_cameras (EG3D's)."""
    from .adapt import adaptation_cameras
    dist = adaptation_cameras(generator)
    lo, hi = dist.azimuth_range
    if hi - lo >= 360:
        az = [360.0 * i / n for i in range(n)]
    else:
        az = [lo + (hi - lo) * (i + 0.5) / n for i in range(n)]
    el = min(max(elevation, dist.elevation_range[0]), dist.elevation_range[1])
    return Cameras.from_spherical([el] * n, az, CAMERA_DISTANCE, dist.fov_range[0])


@torch.no_grad()
def latent_scores(generator: TriplaneGenerator, prior, z: torch.Tensor, views: int = 4, repeats: int = 4,
                  seed: int = 0, n_samples: int = 48, check_cancel=None) -> torch.Tensor:
    """[K] the prior's denoising loss on each candidate's renders (conditional eps error, the same timesteps and
    noises for every candidate, at 20-80% of the schedule): the SDS loss a candidate starts from. Lower is
    better."""
    from ..render.volume import render_views
    p = prior.predictor
    cams = p.cameras_for(score_views(generator, views))
    res = p.resolution
    cond = prior.conditions(None)[0]
    g = torch.Generator().manual_seed(seed)
    T = p.num_timesteps
    ts = [torch.randint(int(0.2 * T), int(0.8 * T), (views,), generator=g) for _ in range(repeats)]
    scores = []
    for i in range(z.shape[0]):
        if check_cancel is not None:
            check_cancel()
        ws = generator.mapping(z[i:i + 1].float(), torch.zeros(1, generator.c_dim))
        field = TriplaneField.from_generator(generator, ws)
        rec = render_views(field, cams, res, res, n_samples=n_samples, perturb=False)
        x = p.encode(rec.rgb)
        gen = torch.Generator().manual_seed(seed + 1)
        total = 0.0
        for t in ts:
            eps = torch.randn(x.shape, generator=gen)
            from ..priors import add_noise
            x_t = add_noise(x, eps, t, p.alphas_cumprod)
            kw = {"background": p.encode(rec.background)} if p.background_input else {}
            total += float((p.predict_eps(x_t, t, cond, cams, **kw) - eps).pow(2).mean())
        scores.append(total / repeats)
    return torch.tensor(scores)





@torch.no_grad()
def candidate_renders(generator: TriplaneGenerator, z: torch.Tensor, resolution: int = 224, views: int = 4,
                      n_samples: int = 48) -> torch.Tensor:
    """[K,V,H,W,3] each candidate from the views it is judged from (score_views), for an image-text scorer."""
    from ..render.volume import render_views
    cams = score_views(generator, views)
    out = []
    for i in range(z.shape[0]):
        ws = generator.mapping(z[i:i + 1].float(), torch.zeros(1, generator.c_dim))
        field = TriplaneField.from_generator(generator, ws)
        out.append(render_views(field, cams, resolution, resolution, n_samples=n_samples, perturb=False).rgb)
    return torch.stack(out)


def clip_scores(embed_images, text_embedding: torch.Tensor, renders: torch.Tensor) -> torch.Tensor:
    """[K] minus each candidate's mean cosine similarity between its views' image embeddings
    (embed_images([V,H,W,3]) -> [V,D]) and the text's embedding [D] (lower is better, as latent_scores)."""
    t = torch.nn.functional.normalize(text_embedding.float().reshape(1, -1), dim=-1)
    scores = []
    for views in renders:
        e = torch.nn.functional.normalize(embed_images(views).float().reshape(len(views), -1), dim=-1)
        if e.shape[1] != t.shape[1]:
            raise ValueError(f"the image embeddings have {e.shape[1]} values and the text embedding {t.shape[1]}: "
                             f"use a CLIP vision model and a CLIP text model of one family (e.g. ViT-L/14's vision "
                             f"model with SD 1.5's CLIP)")
        scores.append(-float((e @ t.T).mean()))
    return torch.tensor(scores)


def make_avatar(generator: TriplaneGenerator, prior, candidates: int = 8, seed: int = 0, steps: int = 150,
                lr: float = 1e-2, batch: int = 4, guidance_scale: float = 100.0, tv_weight: float = 1.0,
                generator_lr_scale: float = 0.1, truncation_psi: float = 1.0, n_samples: int = 48, device="cpu",
                scorer=None, on_progress=None, check_cancel=None):
    """The whole text-to-avatar: seeds seed .. seed+candidates-1 scored (by `scorer(generator, z) -> [K]` when
    given, e.g. CLIP; else latent_scores), the best fine-tuned (SDS + multi-scale TV on the case triplane) through
    core.optimize, baked. Returns (field, chosen seed, scores [K], the run)."""
    from ..losses.sds import SDSLoss
    from ..losses.gan import MultiScaleTV
    from ..optimize import optimize
    from .adapt import adaptation_cameras
    from .eg3d import seed_latents
    if candidates < 1:
        raise ValueError(f"the latent search needs at least 1 candidate, got {candidates}")
    seeds = list(range(seed, seed + candidates))
    z = seed_latents(seeds, generator.z_dim).to(device)
    scores = scorer(generator, z) if scorer is not None else latent_scores(generator, prior, z, seed=seed,
                                                                          check_cancel=check_cancel)
    best = int(torch.as_tensor(scores).argmin())
    field = AvatarField(generator, z[best:best + 1], truncation_psi, generator_lr_scale).to(device)
    terms = [SDSLoss(prior, adaptation_cameras(generator), views_per_step=batch, guidance_scale=guidance_scale)]
    if tv_weight > 0:
        terms.append(MultiScaleTV(weight=tv_weight))
    run = optimize(field, terms, steps, lr=lr, seed=seed, device=device, n_samples=n_samples,
                   lr_schedule="cosine", on_progress=on_progress, check_cancel=check_cancel)
    return field.bake(), seeds[best], torch.as_tensor(scores), run
__all__ = ["AvatarField", "latent_scores", "score_views", "make_avatar"]
