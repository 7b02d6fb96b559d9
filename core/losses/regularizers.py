"""Regularizers of the field itself (no render needed) or of any render."""
from __future__ import annotations

import torch

from . import LossTerm


class EikonalLoss(LossTerm):
    """NeuS's eikonal term: the SDF's gradient has unit length, at random points of the field's cube."""

    name = "eikonal"

    def __init__(self, weight: float = 0.1, *, points_per_step: int = 1024):
        super().__init__(weight)
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


class RenderRegularizer(LossTerm):
    """DreamFusion / threestudio regularizers of the views another loss rendered this step (SHARED_VIEWS):

    sparsity     mean sqrt(alpha^2 + 0.01): DreamFusion's opacity penalty, against floaters and fog;
    entropy      mean binary entropy of alpha: coverage decided, 0 or 1, no semi-transparent haze;
    orientation  mean alpha * max(0, n . v)^2 with v toward the camera reversed (Ref-NeRF): normals that face
                 away from the viewer on visible surfaces are penalized, so shading sees real geometry.
    """

    name = "regularizer"

    def __init__(self, *, sparsity: float = 0.0, entropy: float = 0.0, orientation: float = 0.0, weight: float = 1.0):
        super().__init__(weight)
        if min(sparsity, entropy, orientation) < 0:
            raise ValueError("regularizer weights must not be negative")
        self.sparsity, self.entropy, self.orientation = sparsity, entropy, orientation
        self.wants_normals = orientation > 0

    def request(self, step, total, generator, field=None):
        from . import SHARED_VIEWS
        return SHARED_VIEWS

    def loss(self, field, views, step, total):
        req, rec = views
        a = rec.alpha
        logs, value = {}, torch.zeros((), device=a.device)
        if self.sparsity:
            s = (a * a + 0.01).sqrt().mean()
            value, logs["sparsity"] = value + self.sparsity * s, float(s.detach())
        if self.entropy:
            p = a.clamp(1e-5, 1 - 1e-5)
            e = (-(p * p.log() + (1 - p) * (1 - p).log())).mean()
            value, logs["entropy"] = value + self.entropy * e, float(e.detach())
        if self.orientation:
            if rec.normal is None:
                raise ValueError("the orientation regularizer needs normals from the renderer")
            o, d = req.cameras.rays(req.height, req.width)
            facing = (rec.normal * d.to(rec.normal)).sum(-1).clamp_min(0)  # > 0: the normal points away from us
            o_loss = (a.detach() * facing ** 2).mean()
            value, logs["orientation"] = value + self.orientation * o_loss, float(o_loss.detach())
        return value, logs
