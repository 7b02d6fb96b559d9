"""A built cost volume and the geometry prior it gives: its SDF at any point (CostVolume.sdf) and its mesh."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

@dataclass
class CostVolume:
    """A built volume: `volume` [C,D,D,D] over [-bound, bound]^3, `seen` [D,D,D] (voxels two or more views see),
    and how it turns into an SDF: the learned decoder f_g(E(x), V(x)), or (classical) channel 0 is the SDF."""
    volume: torch.Tensor
    seen: torch.Tensor
    bound: float
    method: str
    decoder: nn.Module | None = None
    #: the indices of the given views left out as disagreeing with the others' silhouettes
    dropped: tuple = ()
    #: what the view set cannot show (core.costvolume.view_set_findings), for the log
    findings: tuple = ()

    @property
    def resolution(self) -> int:
        return self.volume.shape[-1]

    def features(self, points: torch.Tensor, volume: torch.Tensor | None = None) -> torch.Tensor:
        """V(x) [P,C]: trilinear samples of the volume (or of `volume`, e.g. a field's optimized copy)."""
        v = self.volume if volume is None else volume
        # grid_sample's (x, y, z) address the last three dims (W, H, D): our (x, y, z) index order reversed
        g = (points / self.bound).flip(-1).reshape(1, -1, 1, 1, 3).to(v)
        return F.grid_sample(v[None], g, mode="bilinear", padding_mode="border", align_corners=False)[0, :, :, 0, 0].T

    def sdf(self, points: torch.Tensor, volume: torch.Tensor | None = None) -> torch.Tensor:
        """The geometry prior's signed distance at points [P,3]."""
        feats = self.features(points, volume)
        if self.decoder is None:
            return feats[:, 0]
        return self.decoder(points, feats)


def volume_mesh(volume: CostVolume, resolution: int = 64):
    """The volume's zero level set as a mesh (what the geometry prior alone says), for previews and IoU."""
    from ..mesh.extract import marching_cubes
    with torch.no_grad():
        return marching_cubes(lambda p: volume.sdf(p.to(volume.volume.device)).cpu(), resolution=resolution,
                              bounds=(-volume.bound, volume.bound))
