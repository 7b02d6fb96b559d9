"""Loss terms: each asks for the renders it needs and turns them into a weighted scalar with logged figures.

A term's `request` returns a RayRequest (a batch of rays, e.g. random pixels of reference views), a ViewRequest
(whole images from cameras, e.g. for score distillation), SHARED_VIEWS (a regularizer of the views another term
asked for this step: it gets (that ViewRequest, its record)), or None (a regularizer of the field itself). The
optimizer renders every request and hands the record back to the term's `loss`. Terms sum; each has a weight and
an optional schedule of that weight over the run.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class RayRequest:
    origins: torch.Tensor
    dirs: torch.Tensor
    depth_scale: torch.Tensor | None = None
    light_dirs: torch.Tensor | None = None
    shading: str = "albedo"
    want_normals: bool = False


@dataclass
class ViewRequest:
    cameras: object
    height: int
    width: int
    shading: str = "albedo"
    want_normals: bool = False
    light_dirs: torch.Tensor | None = None
    background: torch.Tensor | None = None  # [N,3] solid colours behind the views; None: the field's own


SHARED_VIEWS = "shared-views"


def linear_ramp(start: float, end: float, until: float):
    """A weight schedule: `start` at step 0, linearly to `end` at fraction `until` of the run, then constant."""
    def f(step: int, total: int) -> float:
        x = min(step / max(until * total, 1), 1.0)
        return start + (end - start) * x
    return f


class LossTerm:
    """Base of every loss term. Subclasses implement request() and loss()."""

    name = "term"

    def __init__(self, weight: float = 1.0, schedule=None):
        self.weight = weight
        self.schedule = schedule

    def weight_at(self, step: int, total: int) -> float:
        return self.weight * (self.schedule(step, total) if self.schedule else 1.0)

    def to(self, device) -> "LossTerm":
        return self

    def preview(self) -> torch.Tensor | None:
        """An [H,W,3] image of what the term saw last step (e.g. render | target), or None."""
        return None

    def request(self, step: int, total: int, generator: torch.Generator, field=None):
        """What to render for this step (RayRequest / ViewRequest), or None. `field` tells what it can render."""
        return None

    def finish(self):
        """Called once when a run ends, however it ends (release what the run attached, e.g. hooks)."""

    def loss(self, field, record, step: int, total: int) -> tuple[torch.Tensor, dict]:  # pragma: no cover
        raise NotImplementedError


class LossList(list):
    """What a D3_LOSS socket carries: a list of terms. Combining is concatenation."""

    def __add__(self, other):
        return LossList(list(self) + list(other))
