"""Regularizers of the field itself (no render needed) or of any render."""
from __future__ import annotations

import torch

from . import LossTerm


class EikonalLoss(LossTerm):
    """NeuS's eikonal term: the SDF's gradient has unit length, at random points of the field's cube."""

    name = "eikonal"

    def __init__(self, weight: float = 0.1, points_per_step: int = 1024, schedule=None):
        super().__init__(weight, schedule)
        self.points_per_step = points_per_step
        self._gen = None

    def request(self, step, total, generator, field=None):
        self._gen = generator
        return None

    def loss(self, field, record, step, total):
        if field.geometry == "mesh":  # DMTet: the SDF lives on the grid; nothing to regularize here
            return torch.zeros((), device=next(field.parameters()).device), {}
        if field.geometry != "sdf":
            raise ValueError("the eikonal loss needs an SDF field (NeuS); a NeRF has a density")
        dev = next(field.parameters()).device
        p = (torch.rand(self.points_per_step, 3, generator=self._gen).to(dev) * 2 - 1) * field.bound
        g = field.gradient(p)
        value = ((g.norm(dim=-1) - 1) ** 2).mean()
        return value, {"eikonal": float(value.detach())}
