"""Judging 3D GAN generators: their samples' shapes (occupancy in our world), renders, diversity and colour; a
generator against its world family, and an adapted generator against the one it came from. One protocol for the
tests, bench/bench_gan.py and the training script's figures.
"""
from __future__ import annotations

import torch

from ..cameras import Cameras, orbit
from ..metrics import iou
from .eg3d import TriplaneGenerator
from .field import TriplaneField

#: a point is inside where one step of this length (world units; about a sample spacing) stops half the light
OPACITY_STEP = 0.03


def sample_fields(g: TriplaneGenerator, z: torch.Tensor, truncation_psi: float = 1.0) -> list[TriplaneField]:
    with torch.no_grad():
        ws = g.mapping(z.float(), torch.zeros(len(z), g.c_dim), truncation_psi)
        return [TriplaneField.from_generator(g, ws[i:i + 1]) for i in range(len(z))]


@torch.no_grad()
def sample_occupancy(g: TriplaneGenerator, z: torch.Tensor, resolution: int = 32) -> torch.Tensor:
    """[N, R³] bool: inside (density over one OPACITY_STEP stops half the light) on the world cube's grid."""
    from ..world import grid_points
    pts = grid_points(resolution).reshape(-1, 3)
    return torch.stack([1 - torch.exp(-f.query(pts)[0] * OPACITY_STEP) > 0.5 for f in sample_fields(g, z)])


@torch.no_grad()
def sample_renders(g: TriplaneGenerator, z: torch.Tensor, cameras: Cameras, resolution: int = 32,
                   n_samples: int = 48):
    """(rgb [N,V,H,W,3], alpha [N,V,H,W]) of each sample from every camera (the pack's renderer, white)."""
    from ..render.volume import render_views
    rgb, alpha = [], []
    for f in sample_fields(g, z):
        rec = render_views(f, cameras, resolution, resolution, n_samples=n_samples, perturb=False)
        rgb.append(rec.rgb)
        alpha.append(rec.alpha)
    return torch.stack(rgb), torch.stack(alpha)


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """The mean over pairs of the RMS difference of x[i] and x[j] (x [N,...])."""
    f = x.reshape(len(x), -1).double()
    d = torch.cdist(f, f) / f.shape[1] ** 0.5
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


@torch.no_grad()
def sample_planes(g: TriplaneGenerator, z: torch.Tensor) -> torch.Tensor:
    ws = g.mapping(z.float(), torch.zeros(len(z), g.c_dim))
    return g.planes(ws, "const")


def object_colour(rgb: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """[3]: the mean colour of the covered pixels."""
    w = (alpha > 0.5).float()[..., None]
    return (rgb * w).sum(tuple(range(rgb.ndim - 1))) / w.sum().clamp_min(1)


def redness(colour: torch.Tensor) -> float:
    """How red a colour is: red minus the mean of green and blue (-1 .. 1)."""
    return float(colour[0] - (colour[1] + colour[2]) / 2)


def compare_generators(before: TriplaneGenerator, after: TriplaneGenerator, z: torch.Tensor,
                       views: int = 4, resolution: int = 32, grid: int = 32) -> dict:
    """An adapted generator against its original on the same latents: the diversity of renders and triplanes
    after / before (mean pairwise distance), each sample's shape IoU after vs before, the mean colours."""
    cams = orbit(views, 20.0, 1.8, 40.0, 30.0)
    rb, ab = sample_renders(before, z, cams, resolution)
    ra, aa = sample_renders(after, z, cams, resolution)
    ob, oa = sample_occupancy(before, z, grid), sample_occupancy(after, z, grid)
    ious = [iou(oa[i], ob[i]) for i in range(len(z))]
    cb, ca = object_colour(rb, ab), object_colour(ra, aa)
    return {"render_diversity": mean_pairwise_distance(ra) / max(mean_pairwise_distance(rb), 1e-12),
            "plane_diversity": mean_pairwise_distance(sample_planes(after, z)) /
            max(mean_pairwise_distance(sample_planes(before, z)), 1e-12),
            "shape_iou_mean": sum(ious) / len(ious), "shape_iou_min": min(ious),
            "colour_before": [round(float(c), 3) for c in cb], "colour_after": [round(float(c), 3) for c in ca],
            "redness_before": redness(cb), "redness_after": redness(ca)}


def family_iou(g: TriplaneGenerator, z: torch.Tensor, grid: int = 32) -> list[float]:
    """Each sample's shape IoU with the family member its latent stands for (the pack's generators)."""
    from .world import family_of, latent_members
    from ..world import grid_points
    fam = family_of(g)
    if fam is None:
        raise ValueError("this generator was not trained on a world family")
    occ = sample_occupancy(g, z, grid)
    pts = grid_points(grid).reshape(-1, 3)
    return [iou(occ[i], fam.object(u).shape.sdf(pts) < 0) for i, u in enumerate(latent_members(fam, z))]



def local_edit_psnr(before: TriplaneGenerator, after: TriplaneGenerator, prior, source: str, z: torch.Tensor,
                    views: int = 4, resolution: int = 32, seed: int = 0) -> dict:
    """PSNR of the adapted generator's renders against the original's where the edit mask (the reconstruction
    loss's own, computed on the original's renders) says the prompt does not act; and the mask's share."""
    from ..losses.gan import DiffusionReconstructionLoss
    cams = prior.predictor.cameras_for(orbit(views, 20.0, 1.8, 40.0, 30.0))
    rb, _ = sample_renders(before, z, cams, resolution)
    ra, _ = sample_renders(after, z, cams, resolution)
    term = DiffusionReconstructionLoss(prior, source, repeats=4)
    gen = torch.Generator().manual_seed(seed)
    masks = torch.stack([term.edit_mask(rb[i], cams, gen) for i in range(len(z))])  # [N,V,H,W]
    keep = (masks < 0.5)[..., None].expand_as(rb)
    mse = float(((ra - rb)[keep] ** 2).mean())
    import math
    return {"psnr_outside": 10 * math.log10(1 / max(mse, 1e-12)), "mask_share": float((masks >= 0.5).float().mean())}


__all__ = ["sample_fields", "sample_occupancy", "sample_renders", "sample_planes", "mean_pairwise_distance",
           "object_colour", "redness", "compare_generators", "family_iou", "local_edit_psnr", "OPACITY_STEP"]
