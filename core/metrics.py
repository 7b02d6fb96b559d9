"""Figures to check 3D results against the primitive world: IoU, Chamfer distance, F-score, PSNR, SSIM.

IoU alone punishes thin parts for voxel rounding (a true thin part grown by one voxel can lose a third of its
IoU); surface figures do not, which is why reconstruction reports F-score at a distance threshold and Chamfer
beside it (Tatarchenko et al. 2019, "What do single-view 3D reconstruction networks learn?")."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .mesh import Mesh
from .mesh.occupancy import voxelize


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    """Intersection over union of two boolean occupancy grids of one shape."""
    if a.shape != b.shape:
        raise ValueError(f"occupancy grids differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = a.bool(), b.bool()
    union = (a | b).sum().item()
    return 1.0 if union == 0 else (a & b).sum().item() / union


def mesh_iou(mesh: Mesh, true_occupancy_fn, resolution: int = 128, bounds=(-0.5, 0.5)) -> float:
    """Volumetric IoU of a closed mesh against a true occupancy function (points [P,3] -> bool [P])."""
    from .world import grid_points

    pts = grid_points(resolution, bounds)
    truth = true_occupancy_fn(pts.reshape(-1, 3)).reshape(resolution, resolution, resolution)
    return iou(voxelize(mesh, resolution, bounds), truth)


#: the F-score's distance threshold: 2 % of the world's side (its objects fit in a unit cube), about two voxels of
#: a 96³ extraction over the fields' bound; a surface within it counts as right
FSCORE_THRESHOLD = 0.02


def nearest_distances(x: torch.Tensor, y: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """For each point of x [P,3], the distance to its nearest point of y [Q,3]."""
    return torch.cat([torch.cdist(x[i:i + chunk], y, compute_mode="donot_use_mm_for_euclid_dist").min(1).values
                      for i in range(0, x.shape[0], chunk)])


def chamfer_distance(a: torch.Tensor, b: torch.Tensor, chunk: int = 4096) -> float:
    """Symmetric Chamfer distance between point sets [P,3] and [Q,3]: mean nearest distance, both ways, averaged."""
    return float(0.5 * (nearest_distances(a, b, chunk).mean() + nearest_distances(b, a, chunk).mean()))


def fscore(pred: torch.Tensor, true: torch.Tensor, threshold: float = FSCORE_THRESHOLD) -> dict:
    """F-score of surface points `pred` [P,3] against `true` [Q,3] at `threshold`: precision (the share of pred
    within it of true), recall (the share of true within it of pred), their harmonic mean; and the Chamfer
    distance from the same distances."""
    if pred.shape[0] == 0:
        return {"fscore": 0.0, "precision": 0.0, "recall": 0.0, "chamfer": float("inf")}
    d_pt, d_tp = nearest_distances(pred, true), nearest_distances(true, pred)
    p, r = float((d_pt < threshold).float().mean()), float((d_tp < threshold).float().mean())
    f = 0.0 if p + r == 0 else 2 * p * r / (p + r)
    return {"fscore": f, "precision": p, "recall": r, "chamfer": float(0.5 * (d_pt.mean() + d_tp.mean()))}


def mesh_chamfer(a: Mesh, b: Mesh, n: int = 20000, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    return chamfer_distance(a.sample_surface(n, g), b.sample_surface(n, g))


def mesh_fscore(mesh: Mesh, true_points: torch.Tensor, threshold: float = FSCORE_THRESHOLD, n: int = 10000,
                seed: int = 0) -> dict:
    """fscore of n points sampled on `mesh` (seeded) against true surface points."""
    if mesh.faces.shape[0] == 0:
        return fscore(torch.zeros(0, 3), true_points, threshold)
    cpu = Mesh(mesh.vertices.detach().cpu(), mesh.faces.cpu())  # seeded samples alike on every device
    return fscore(cpu.sample_surface(n, torch.Generator().manual_seed(seed)), true_points.cpu(), threshold)


def psnr(x: torch.Tensor, y: torch.Tensor, max_val: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of images in 0..max_val (any matching shape)."""
    mse = F.mse_loss(x.float(), y.float()).item()
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(max_val ** 2 / mse)).item()


def ssim(x: torch.Tensor, y: torch.Tensor, max_val: float = 1.0, window: int = 11, sigma: float = 1.5) -> float:
    """Mean structural similarity of image batches [N,H,W,C] in 0..max_val (Gaussian window, Wang et al. 2004)."""
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"SSIM takes two [N,H,W,C] batches of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    x = x.float().permute(0, 3, 1, 2)
    y = y.float().permute(0, 3, 1, 2)
    c = x.shape[1]
    half = window // 2
    g = torch.exp(-((torch.arange(window, dtype=torch.float32) - half) ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    k = (g[:, None] * g[None, :]).expand(c, 1, window, window)

    def blur(t):
        return F.conv2d(t, k, groups=c)

    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx ** 2
    syy = blur(y * y) - my ** 2
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
    return float(s.mean())
