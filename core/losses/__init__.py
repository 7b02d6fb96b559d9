"""Loss terms: each asks for the renders it needs and turns them into a weighted scalar with logged figures.

A term's `request` returns a RayRequest (a batch of rays, e.g. random pixels of reference views), a ViewRequest
(whole images from cameras, e.g. for score distillation), SHARED_VIEWS (a regularizer of the views another term
asked for this step: it gets (that ViewRequest, its record)), or None (a regularizer of the field itself). The
optimizer renders every request and hands the record back to the term's `loss`. Terms sum, each with its weight.

A term is a value: a node output that ComfyUI caches and may hand to several nodes and several runs. Using it never
changes it. The optimizer starts a run of each term (`start`: a copy that holds what the run changes: the step's
generator and pending draws, device copies of its tensors, estimators, boosters) and uses only the run.
"""
from __future__ import annotations

import copy
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


class LossTerm:
    """Base of every loss term. Subclasses implement request() and loss(), and begin() where a run needs state."""

    name = "term"
    #: True: it regularizes the normals of the views another term renders (they are then rendered with normals)
    wants_normals = False

    def __init__(self, weight: float = 1.0):
        self.weight = weight

    def weight_at(self, step: int, total: int) -> float:
        return self.weight

    def start(self, device) -> "LossTerm":
        """A run of this term on `device`: a copy that the run may change (see the module docstring); the term
        itself stays as it was made."""
        run = copy.copy(self)
        run.origin = self
        run.begin(device)
        return run

    def begin(self, device) -> None:
        """Called on a fresh run (see start): move its tensors to `device` and set up what the run changes. The
        attributes it reassigns are the run's own; shared objects (a prior, a tensor) must be replaced, not
        changed in place."""

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
