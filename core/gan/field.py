"""3D GAN generators as things the pack's optimizer and mesh tools take.

TriplaneField: one sample's triplanes and the generator's decoder as a D3_FIELD (density + albedo at our world's
points), so the pack's renderer, Extract Mesh, Bake and Save apply. A point p of our world is the point s p + o
of the generator's (core.gan.eg3d.camera_frame: EG3D's FFHQ frame, or identity for the pack's own generators);
its density is the generator's softplus(sigma - 1), times s (distances in our world are 1/s of its).

GeneratorTrainer: a generator being adapted (DiffusionGAN3D), as the one optimizer loop's 'field': each view it is
asked to render shows another random latent (one per view), through the same TriplaneField rendering; the record
carries the latents and triplanes, and the trainer keeps the frozen copy, for the relative distance and
reconstruction losses (core.losses.gan).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..fields import Background, Field, Optimizable
from ..render import RenderRecord
from .eg3d import TriplaneGenerator, camera_frame
from .render import sample_triplane
from .world import CAMERA_DISTANCE


def _frame(g: TriplaneGenerator) -> tuple[float, torch.Tensor]:
    scale, offset = camera_frame(g, CAMERA_DISTANCE)
    return float(scale), torch.as_tensor(offset, dtype=torch.float32).reshape(3)


class TriplaneField(Field):
    """A D3_FIELD from triplanes [3,C,R,R] and a generator's decoder. `delta` (optional, learnable) is added to
    the planes: the text-to-avatar's case-specific triplane."""

    kind = "triplane"
    geometry = "density"
    supports_rays = True

    def __init__(self, planes: torch.Tensor, decoder: torch.nn.Module, box_warp: float, scale: float = 1.0,
                 offset=(0.0, 0.0, 0.0), bound: float = 0.6, background_color=(1.0, 1.0, 1.0)):
        torch.nn.Module.__init__(self)
        if planes.ndim != 4 or planes.shape[0] != 3:
            raise ValueError(f"triplanes must be [3,C,R,R], got {tuple(planes.shape)}")
        self.planes = torch.nn.Parameter(planes.detach().clone())
        self.decoder = copy.deepcopy(decoder)
        self.box_warp, self.scale = float(box_warp), float(scale)
        self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32).reshape(3).clone())
        self.bound = bound
        self.background = Background("solid", background_color)
        self.config = dict(box_warp=self.box_warp, scale=self.scale, bound=bound,
                           background_color=tuple(background_color))

    @classmethod
    def from_generator(cls, g: TriplaneGenerator, ws: torch.Tensor, noise_mode: str = "const") -> "TriplaneField":
        """The field of one sample (ws [1,num_ws,w_dim])."""
        scale, offset = _frame(g)
        with torch.no_grad():
            planes = g.planes(ws, noise_mode)[0]
        white = (1.0, 1.0, 1.0) if g.rendering_kwargs.get("white_back") else (0.0, 0.0, 0.0)
        return cls(planes, g.decoder, g.rendering_kwargs["box_warp"], scale, offset, background_color=white)

    def _take_frame(self, g: TriplaneGenerator):
        """The generator's frame, box and background (for fields whose planes come from `g` as it trains)."""
        scale, offset = _frame(g)
        self.box_warp, self.scale = float(g.rendering_kwargs["box_warp"]), scale
        self.register_buffer("offset", offset)
        self.bound = 0.6
        white = (1.0, 1.0, 1.0) if g.rendering_kwargs.get("white_back") else (0.0, 0.0, 0.0)
        self.background = Background("solid", white)

    def query_planes(self, planes: torch.Tensor, points: torch.Tensor):
        """Density [P] and albedo [P,3] of points [P,3] on `planes` [3,C,R,R] with this field's decoder."""
        p = points * self.scale + self.offset.to(points)
        out = self.decoder(sample_triplane(planes[None], p[None], self.box_warp))
        return F.softplus(out["sigma"][0, :, 0] - 1) * self.scale, out["rgb"][0, :, :3].clamp(0, 1)

    def query(self, points):
        return self.query_planes(self.planes, points)

    def param_groups(self, lr: float) -> list[dict]:
        return [{"params": [self.planes], "lr": lr, "name": "triplane"},
                {"params": list(self.decoder.parameters()), "lr": lr * 0.1, "name": "decoder"}]

    def clone(self) -> "TriplaneField":
        with torch.inference_mode(False):
            new = TriplaneField(self.planes.detach().clone(), self.decoder, self.box_warp, self.scale,
                                self.offset.detach().clone(), self.bound,
                                tuple(float(c) for c in self.background.color.detach().reshape(-1)[:3]))
            with torch.no_grad():
                for p_new, p_old in zip(new.decoder.parameters(), self.decoder.parameters()):
                    p_new.copy_(p_old)
        return new.to(self.planes.device)


def render_planes(view_field: TriplaneField, planes: torch.Tensor, cameras, height: int, width: int,
                  **kw) -> RenderRecord:
    """Renders of one triplane set per camera (planes [N,3,C,R,R], N = len(cameras)) through `view_field`'s
    decoder and frame, with the pack's renderer; a RenderRecord of [N,H,W] images."""
    from ..render.volume import render_views
    parts = []
    per_view = {k: kw.pop(k) for k in ("background", "light_dirs") if kw.get(k) is not None}
    for i in range(len(cameras)):
        view_field.planes_override = planes[i]
        try:
            parts.append(render_views(view_field, cameras[i:i + 1], height, width,
                                      **kw, **{k: v[i:i + 1] if v.ndim == 2 else v for k, v in per_view.items()}))
        finally:
            view_field.planes_override = None

    def cat(name):
        vals = [getattr(p, name) for p in parts]
        return None if vals[0] is None else torch.cat(vals)
    return RenderRecord(rgb=cat("rgb"), alpha=cat("alpha"), depth=cat("depth"), normal=cat("normal"),
                        albedo=cat("albedo"), shading=parts[0].shading, background=cat("background"),
                        extras={"samples_evaluated": sum(p.extras["samples_evaluated"] for p in parts)})


class _PlaneView(TriplaneField):
    """A TriplaneField whose planes are set per render (render_planes): the generator's decoder shared, not
    copied, so gradients reach the generator being trained."""

    def __init__(self, g: TriplaneGenerator):
        torch.nn.Module.__init__(self)
        self.decoder = g.decoder  # shared
        self._take_frame(g)
        self.planes_override = None

    def query(self, points):
        return self.query_planes(self.planes_override, points)


class GeneratorTrainer(Optimizable):
    """A generator under adaptation as the optimizer's 'field' (see the module docstring). The mapping network
    stays frozen (the latent space keeps its meaning: seed N is still 'the same' sample); the synthesis network
    and the decoder learn, the decoder at a tenth of the rate."""

    kind = "generator"
    supports_rays = False
    adapts_generator = True
    bound = 0.6

    def __init__(self, generator: TriplaneGenerator, truncation_psi: float = 1.0, noise_mode: str = "const"):
        super().__init__()
        self.frozen = copy.deepcopy(generator).eval().requires_grad_(False)
        with torch.inference_mode(False):
            self.generator = copy.deepcopy(generator).requires_grad_(True)
        self.generator.backbone.mapping.requires_grad_(False)
        self.truncation_psi, self.noise_mode = truncation_psi, noise_mode
        self.view = _PlaneView(self.generator)
        self.frozen_view = _PlaneView(self.frozen)

    def param_groups(self, lr: float) -> list[dict]:
        return [{"params": list(self.generator.backbone.synthesis.parameters()), "lr": lr, "name": "synthesis"},
                {"params": list(self.generator.decoder.parameters()), "lr": lr * 0.1, "name": "decoder"}]

    def parameters(self, recurse: bool = True):  # what the optimizer measures and clips: the trained generator
        return (p for p in self.generator.parameters() if p.requires_grad)

    def latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.generator.z_dim, generator=generator)

    def ws(self, z: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        g = self.frozen if frozen else self.generator
        c = torch.zeros(len(z), g.c_dim, device=z.device)
        with torch.no_grad():
            return g.mapping(z, c, self.truncation_psi)

    def planes(self, ws: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        if frozen:
            with torch.no_grad():
                return self.frozen.planes(ws, self.noise_mode)
        return self.generator.planes(ws, self.noise_mode)

    def render_views(self, cameras, height, width=None, generator=None, z=None, frozen: bool = False,
                     **kw) -> RenderRecord:
        """One random latent per camera (or the given z [N,z_dim]); extras: 'z', 'ws', 'planes'."""
        z = self.latents(len(cameras), generator) if z is None else z
        ws = self.ws(z, frozen)
        planes = self.planes(ws, frozen)
        kw = {k: v for k, v in kw.items() if k not in ("occupancy", "chunk")}
        if frozen:
            with torch.no_grad():
                rec = render_planes(self.frozen_view, planes, cameras, height, width or height, **kw)
        else:
            rec = render_planes(self.view, planes, cameras, height, width or height, generator=generator, **kw)
        rec.extras.update(z=z, ws=ws, planes=planes)
        return rec

    def render_rays(self, *a, **kw):
        raise ValueError("a generator under adaptation renders whole views (SDS, VSD), not ray batches: connect "
                         "losses that render views")

    def train(self, mode: bool = True):
        self.generator.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, *a, **kw):
        super().to(*a, **kw)
        return self

    def adapted(self) -> TriplaneGenerator:
        """The adapted generator, frozen, ready to sample or adapt again."""
        return copy.deepcopy(self.generator).eval().requires_grad_(False)


__all__ = ["TriplaneField", "GeneratorTrainer", "render_planes"]
