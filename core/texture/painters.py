"""Painters that need no model: the primitive world's own view of an object (which makes the painting loop
judgeable offline), optionally with the per-view brightness drift a diffusion painter shows. The painter that runs
the user's checkpoint through ComfyUI's sampler lives with the nodes (core never imports ComfyUI)."""
from __future__ import annotations

import copy

import torch

from .paint import Painter, PaintRequest


class WorldPainter(Painter):
    """Paints a view with the true albedo render of a world object at that camera (over white). With
    `brightness_jitter` j, each view comes back scaled by a random factor in [1 - j, 1 + j] (seeded), as an
    image model's views disagree in exposure: what the adaptive blend must hide at the seams."""

    def __init__(self, obj, brightness_jitter: float = 0.0, seed: int = 0):
        self.obj = obj
        self.jitter, self.seed = brightness_jitter, seed
        self.generator = None  # a painting's own (start)

    def start(self) -> "WorldPainter":
        """A painting: a copy whose brightness draws start from the seed."""
        run = copy.copy(self)
        run.generator = torch.Generator().manual_seed(self.seed)
        return run

    def __call__(self, request: PaintRequest) -> torch.Tensor:
        from ..world import render_object
        res = request.image.shape[0]
        img = render_object(self.obj, request.object_camera(), res, shading="albedo").rgb[0]
        if self.jitter > 0:
            f = 1 + self.jitter * (2 * torch.rand((), generator=self.generator) - 1)
            img = (img * f).clamp(0, 1)
        return img

