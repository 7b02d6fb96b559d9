"""What the optimizer and the loss terms may use of the thing they optimize, declared once.

Volume fields (NeRF, NeuS, triplanes, the avatar), DMTet, a textured mesh and a generator under adaptation all
derive from Optimizable: core.optimize and core.losses read these members and nothing else, so a new kind of field
says what it can do here instead of being probed.
"""
from __future__ import annotations

import torch.nn as nn


class Optimizable(nn.Module):
    """The interface of whatever core.optimize optimizes. Class attributes are its declared capabilities."""

    #: what it is (saved configs, messages)
    kind = "field"
    #: 'density' (NeRF, triplanes), 'sdf' (NeuS) or 'mesh' (DMTet, a textured mesh): what geometry terms apply to.
    #: A 'mesh' field also has surface() -> (vertices, faces) and `texture`, the field its colours come from
    geometry = "density"
    #: True: render_rays renders any batch of rays (volume rendering); False: whole views only (rasterized, or a
    #: generator's renders of random latents)
    supports_rays = True
    #: True: a generator under adaptation. Its renders carry the step's latents and triplanes in extras ('z', 'ws',
    #: 'planes'); planes(ws, frozen=True) and render_views(..., z=z, frozen=True) give its frozen original's
    adapts_generator = False
    #: half the side of the cube [-bound, bound]^3 it lives in
    bound = 0.6

    def param_groups(self, lr: float) -> list[dict]:
        """Adam parameter groups ('params', 'lr', 'name'; optionally 'decay', the group's extra factor at the end)."""
        raise NotImplementedError

    def render_views(self, cameras, height: int, width: int | None = None, **kw):
        """A core.render.RenderRecord of whole views."""
        raise NotImplementedError

    def render_rays(self, origins, dirs, **kw):
        """A RenderRecord of a batch of rays (where supports_rays)."""
        raise NotImplementedError(f"{type(self).__name__} renders whole views, not ray batches")

    def anneal(self, step: int, total: int) -> None:
        """Called by the optimizer before every step (and with step = total when the run ends): the field's own
        schedules over the run (NeuS's sharpness). None by default."""

    def learnable_planes(self):
        """A learnable triplane added to a generator's (the avatar's), which the triplane TV loss regularizes;
        None for everything else."""
        return None
