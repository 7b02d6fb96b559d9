"""An occupancy grid for empty-space skipping: which cells of the field's cube can hold visible matter."""
from __future__ import annotations

import torch
import torch.nn.functional as F


class OccupancyGrid:
    """A resolution^3 boolean grid over [-bound, bound]^3, refreshed from the field every few steps.

    A density cell is occupied where one sample step there would be at least `alpha_threshold` opaque; an SDF cell
    where the surface may pass within `band` cell diagonals (or the cell is inside). One cell of dilation keeps
    the surface's neighbourhood sampled while it moves between refreshes.
    """

    def __init__(self, bound: float, resolution: int = 64, alpha_threshold: float = 1e-3, band: float = 2.0,
                 device="cpu"):
        self.bound, self.resolution = bound, resolution
        self.alpha_threshold, self.band = alpha_threshold, band
        self.occupied = torch.ones(resolution, resolution, resolution, dtype=torch.bool, device=device)

    @property
    def cell(self) -> float:
        return 2 * self.bound / self.resolution

    def cell_centers(self, jitter: bool = False, generator=None) -> torch.Tensor:
        r = self.resolution
        dev = self.occupied.device
        idx = torch.stack(torch.meshgrid(*(torch.arange(r, device=dev),) * 3, indexing="ij"), -1).reshape(-1, 3)
        off = torch.rand(idx.shape, generator=generator).to(dev) if jitter else 0.5
        return -self.bound + (idx + off) * self.cell

    @torch.no_grad()
    def update(self, field, step_size: float, generator=None, chunk: int = 65536):
        pts = self.cell_centers(jitter=True, generator=generator)
        vals = torch.cat([field.geometry_value(pts[i:i + chunk]) for i in range(0, pts.shape[0], chunk)])
        if field.geometry == "sdf":  # the logistic density reaches ~8/s past the surface
            occ = vals < max(self.band * self.cell * 1.7320508, 8.0 / float(field.inv_s))
        else:
            occ = (1 - torch.exp(-vals * step_size)) > self.alpha_threshold
        occ = occ.reshape((self.resolution,) * 3).float()
        self.occupied = F.max_pool3d(occ[None, None], 3, stride=1, padding=1)[0, 0] > 0

    def query(self, points: torch.Tensor) -> torch.Tensor:
        """Whether each point [P,3] lies in an occupied cell (points outside the cube are empty)."""
        idx = ((points + self.bound) / self.cell).floor().long()
        inside = ((idx >= 0) & (idx < self.resolution)).all(-1)
        idx = idx.clamp(0, self.resolution - 1)
        return inside & self.occupied[idx[:, 0], idx[:, 1], idx[:, 2]]

    def fraction(self) -> float:
        return self.occupied.float().mean().item()
