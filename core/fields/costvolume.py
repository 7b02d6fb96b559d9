"""The cost-volume field (GeoDream's priors refinement): a NeuS whose SDF is s(x) = f_g(E(x), V(x)) — the
cost volume's frozen geometry decoder on the volume V, which is optimized with its own learning rate and decay —
and a new texture (grid + MLP), so SDS / VSD / multi-view SDS refine the geometry prior instead of starting
from a sphere. A classical volume (an SDF grid) refines the same way, without a decoder."""
from __future__ import annotations

import torch
import torch.nn as nn

from .volume import NeuSField


class CostVolumeNeuSField(NeuSField):
    """NeuS on a cost volume. `cost_volume`: a core.costvolume.CostVolume; `volume_lr`: V's learning rate as a
    multiple of the run's; `volume_decay`: its extra factor by the end of the run (GeoDream decays it)."""

    kind = "costvolume-neus"

    def __init__(self, cost_volume=None, volume_lr: float = 0.1, volume_decay: float = 0.1, **kw):
        if cost_volume is None:
            raise ValueError("a cost-volume field needs a cost volume (Cost Volume Builder)")
        kw.setdefault("bound", cost_volume.bound)
        kw.setdefault("init_variance", 0.5)  # the prior is already a surface: start sharp enough to see it
        super().__init__(**kw)
        self.config.update(cost_volume=cost_volume, volume_lr=volume_lr, volume_decay=volume_decay)
        self.prior = cost_volume
        self.volume = nn.Parameter(cost_volume.volume.detach().clone().float())
        self.decoder = None
        if cost_volume.decoder is not None:
            import copy
            self.decoder = copy.deepcopy(cost_volume.decoder).float()
            for p in self.decoder.parameters():
                p.requires_grad_(False)
        self.volume_lr, self.volume_decay = volume_lr, volume_decay

    def _geometry(self, points, raw):
        feats = self.prior.features(points, self.volume)
        if self.decoder is None:
            return feats[:, 0]
        return self.decoder(points, feats)

    def param_groups(self, lr: float) -> list[dict]:
        groups = [g for g in super().param_groups(lr)]
        return groups + [{"params": [self.volume], "lr": lr * self.volume_lr, "name": "volume",
                          "decay": self.volume_decay}]
