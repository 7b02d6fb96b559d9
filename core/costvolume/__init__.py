"""GeoDream's cost volume: posed views -> a 3D geometry prior on a voxel grid, before any score distillation.

Every voxel centre is projected into every view; what the views say there (2D features, sampled bilinearly) is
aggregated by its mean and variance across the views that see it, so any number of views works and one view
that disagrees raises the variance instead of dictating the result. Voxels seen by fewer than two views are
outside the views' frusta and skipped (zero, flagged unseen).

Two builders, one output (CostVolume, whose `sdf(points)` is the geometry prior):
- learned (CostVolumeNet): a small 2D feature net on RGB + mask, the mean / variance aggregation, a dense 3D CNN
  (pure torch, no sparse convolution) regressing the volume V, and a geometry decoder s(x) = f_g(E(x), V(x)).
  Weights from scripts/train_cost_volume.py (procedural objects; the catalogue held out), shipped in weights/.
- classical (no learned parts): silhouette carving (the visual hull of the masks) refined by colour-variance
  photo-consistency (surface voxels whose colour disagrees across the views that see them are carved), as a
  signed distance on the grid.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..cameras import Cameras

#: the cube the volume covers: the unit cube with a margin
VOLUME_BOUND = 0.55
#: the views the builders work at (resized to this; features at half of it)
VIEW_SIZE = 64
#: a view set is silhouette-consistent when every view's mask is explained by the hull of all of them (at least
#: this share of its mask pixels see the hull). Measured on the catalogue's sampled views (bench_geodream): sets of
#: one object >= 0.92; with one view of another object some view < 0.9, and >= 0.95 once that view is left out
CONSISTENT = 0.9
#: the share of a view's border that must show the background for a mask to be read off it (the object may touch
#: one side of the frame: the sampler's cone does)
BACKGROUND_BORDER_SHARE = 0.7


def grid_centers(resolution: int, bound: float = VOLUME_BOUND, device=None) -> torch.Tensor:
    """Voxel centres [D,D,D,3] over [-bound, bound]^3, (x, y, z) index order."""
    step = 2 * bound / resolution
    c = -bound + step * (torch.arange(resolution, dtype=torch.float32, device=device) + 0.5)
    return torch.stack(torch.meshgrid(c, c, c, indexing="ij"), -1)


def sample_views(maps: torch.Tensor, cameras: Cameras, points: torch.Tensor):
    """Bilinear samples of per-view maps [N,C,h,w] at the projections of points [P,3]: ([N,P,C], in-view [N,P])."""
    h, w = maps.shape[-2:]
    uv, depth = cameras.project(points, h, w)
    valid = (depth > 1e-4) & (uv[..., 0] >= 0) & (uv[..., 0] <= w) & (uv[..., 1] >= 0) & (uv[..., 1] <= h)
    grid = torch.stack([uv[..., 0] / w * 2 - 1, uv[..., 1] / h * 2 - 1], -1)[:, :, None]  # [N,P,1,2]
    s = F.grid_sample(maps, grid.to(maps.dtype), mode="bilinear", padding_mode="border", align_corners=False)
    return s[..., 0].permute(0, 2, 1), valid


def aggregate(samples: torch.Tensor, valid: torch.Tensor):
    """Mean and variance [P,C] over the views that see each point, and the share of views that do [P]."""
    w = valid.float()[..., None]
    n = w.sum(0).clamp_min(1)
    mean = (samples * w).sum(0) / n
    var = (((samples - mean) ** 2) * w).sum(0) / n
    return mean, var, valid.float().mean(0)


def prepare_views(images: torch.Tensor, cameras: Cameras, masks: torch.Tensor | None = None):
    """Checks and resizes the views: ([N,4,S,S] RGB + mask channels at VIEW_SIZE, cameras). Masks (1 on the
    object) default to the difference from each image's uniform background (a sampler's white, say)."""
    from ..reference import mask_from_background
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"views must be an IMAGE batch [N,H,W,3], got {tuple(images.shape)}")
    n = images.shape[0]
    if n != len(cameras):
        raise ValueError(f"{n} views but {len(cameras)} cameras: give one camera per view, in the views' order")
    if n < 2:
        raise ValueError(f"a cost volume needs at least 2 views (it compares them), got {n}")
    if masks is not None:
        if masks.ndim == 2:
            masks = masks[None]
        if masks.shape[0] == 1:  # one mask for every view (ComfyUI's MASK is a batch)
            masks = masks.expand(n, -1, -1)
        if masks.shape[0] != n or masks.shape[1:] != images.shape[1:3]:
            raise ValueError(f"the masks {tuple(masks.shape)} do not match the views {tuple(images.shape[:3])}")
    else:
        # every pixel clearly off the background is object: a soft mask would make a pale object half-there
        # (tests/core/test_costvolume.py: the shaded white snowman on white)
        masks = torch.stack([(mask_from_background(img, border_share=BACKGROUND_BORDER_SHARE)[0] > 0.25).float()
                             for img in images])
    x = torch.cat([images.permute(0, 3, 1, 2), masks[:, None].to(images)], 1).float()
    if x.shape[-1] != VIEW_SIZE or x.shape[-2] != VIEW_SIZE:
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"views must be square (the pack's cameras are), got {x.shape[-1]}x{x.shape[-2]}")
        x = F.interpolate(x, size=(VIEW_SIZE, VIEW_SIZE), mode="area" if x.shape[-1] > VIEW_SIZE else "bilinear")
    return x, cameras


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


# ---- the learned builder --------------------------------------------------------------------------------------
class FrequencyEmbedding(nn.Module):
    """E(x): x and sin/cos of x at octave frequencies (the decoder's positional input)."""

    def __init__(self, octaves: int = 4):
        super().__init__()
        self.register_buffer("freqs", (2.0 ** torch.arange(octaves)) * math.pi, persistent=False)
        self.out_dim = 3 + 6 * octaves

    def forward(self, x):
        a = x[..., None] * self.freqs.to(x)
        return torch.cat([x, a.sin().flatten(-2), a.cos().flatten(-2)], -1)


class GeometryDecoder(nn.Module):
    """f_g(E(x), V(x)) -> SDF; frozen when a field refines V."""

    def __init__(self, channels: int, hidden: int = 64, octaves: int = 4):
        super().__init__()
        self.embed = FrequencyEmbedding(octaves)
        self.net = nn.Sequential(nn.Linear(self.embed.out_dim + channels, hidden), nn.Softplus(beta=100),
                                 nn.Linear(hidden, hidden), nn.Softplus(beta=100), nn.Linear(hidden, 1))

    def forward(self, points, feats):
        return self.net(torch.cat([self.embed(points / VOLUME_BOUND), feats], -1))[:, 0]


def _conv3(cin, cout, stride=1):
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride, 1), nn.GroupNorm(4, cout), nn.ReLU())


class CostVolumeNet(nn.Module):
    """The learned builder: feature net -> mean/variance over views -> 3D CNN -> V; and the decoder f_g."""

    def __init__(self, features: int = 16, channels: int = 8, width: int = 16, hidden: int = 64):
        super().__init__()
        self.config = dict(features=features, channels=channels, width=width, hidden=hidden)
        self.feature_net = nn.Sequential(
            nn.Conv2d(4, features, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(features, features, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(features, features, 3, 1, 1))
        self.down = nn.Sequential(_conv3(2 * features + 1, width), _conv3(width, width))
        self.mid = nn.Sequential(_conv3(width, 2 * width, 2), _conv3(2 * width, 2 * width))
        self.up = _conv3(2 * width + width, width)
        self.out = nn.Conv3d(width, channels, 3, 1, 1)
        self.decoder = GeometryDecoder(channels, hidden)

    def build(self, views: torch.Tensor, cameras: Cameras, resolution: int, chunk: int = 65536) -> CostVolume:
        """views [N,4,S,S] from prepare_views -> CostVolume at resolution^3 (even)."""
        if resolution % 2:
            raise ValueError(f"the learned cost volume's grid size must be even, got {resolution}")
        feats = self.feature_net(views)
        pts = grid_centers(resolution, device=views.device).reshape(-1, 3)
        cams = cameras.to(views.device)
        mean, var, seen_frac = [], [], []
        for s in range(0, pts.shape[0], chunk):  # memory grows with views x chunk, not views x grid
            smp, valid = sample_views(feats, cams, pts[s:s + chunk])
            m, v, f = aggregate(smp, valid)
            mean.append(m), var.append(v), seen_frac.append(f)
        seen_frac = torch.cat(seen_frac)
        seen = (seen_frac * len(cams) >= 2 - 1e-6)
        x = torch.cat([torch.cat(mean), torch.cat(var), seen_frac[:, None]], -1) * seen[:, None]
        x = x.T.reshape(1, -1, resolution, resolution, resolution)
        d = self.down(x)
        m = self.mid(d)
        u = F.interpolate(m, scale_factor=2, mode="trilinear", align_corners=False)
        v = self.out(self.up(torch.cat([u, d], 1)))[0]
        return CostVolume(v, seen.reshape(resolution, resolution, resolution), VOLUME_BOUND, "learned",
                          self.decoder)

    # ---- files --------------------------------------------------------------------------------------------
    def save(self, path: str, metadata: dict | None = None) -> None:
        from safetensors.torch import save
        from ..files import write_replacing
        meta = {"config": json.dumps(self.config), "format": "distill3d-cost-volume-1"} | \
            {k: str(v) for k, v in (metadata or {}).items()}
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        write_replacing(path, save(tensors, metadata=meta))

    @classmethod
    def from_file(cls, path: str) -> "CostVolumeNet":
        """Weights from a safetensors file written by save(); a file of another architecture is refused naming
        the tensors that do not match."""
        from safetensors import safe_open
        if not os.path.isfile(path):
            raise ValueError(f"no cost-volume weights at {path}: train them with scripts/train_cost_volume.py")
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        if meta.get("format") != "distill3d-cost-volume-1" or "config" not in meta:
            raise ValueError(f"{path} is not a Distill3D cost-volume weights file (its metadata names no "
                             f"'distill3d-cost-volume-1' format and config)")
        net = cls(**json.loads(meta["config"]))
        want = net.state_dict()
        missing = sorted(set(want) - set(tensors))
        extra = sorted(set(tensors) - set(want))
        shape = sorted(k for k in set(want) & set(tensors) if want[k].shape != tensors[k].shape)
        if missing or extra or shape:
            def some(keys):
                return ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
            parts = [f"missing {some(missing)}" if missing else "", f"unexpected {some(extra)}" if extra else "",
                     "shape differs for " + some([f"{k} {tuple(tensors[k].shape)} != {tuple(want[k].shape)}"
                                                  for k in shape]) if shape else ""]
            raise ValueError(f"{path} is a cost-volume net of another architecture: "
                             + "; ".join(p for p in parts if p))
        net.load_state_dict(tensors)
        net.metadata = meta
        return net.eval()


def default_weights() -> str:
    """The weights shipped with the pack (scripts/train_cost_volume.py wrote them)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "weights", "cost_volume.safetensors")


# ---- the classical builder ------------------------------------------------------------------------------------
def _signed_distance(inside: torch.Tensor, voxel: float) -> torch.Tensor:
    """A signed distance grid (negative inside) from an occupancy grid, by Euclidean distance transforms."""
    from scipy.ndimage import distance_transform_edt
    occ = inside.cpu().numpy()
    if not occ.any():
        return torch.full(inside.shape, voxel * inside.shape[0], dtype=torch.float32)
    out = distance_transform_edt(~occ) - distance_transform_edt(occ)
    return torch.from_numpy(out).float() * voxel


def classical_volume(views: torch.Tensor, cameras: Cameras, resolution: int, rounds: int = 3,
                     colour_threshold: float = 0.02) -> CostVolume:
    """Silhouette carving then colour-variance photo-consistency, as a signed distance volume (channel 0)."""
    pts = grid_centers(resolution, device=views.device).reshape(-1, 3)
    cams = cameras.to(views.device)
    rgbm, valid = sample_views(views, cams, pts)  # [N,P,4]
    seen = valid.sum(0) >= 2
    # a voxel is in the hull when every view that sees it covers it with its mask
    inside = seen & ((rgbm[..., 3] >= 0.5) | ~valid).all(0)
    voxel = 2 * VOLUME_BOUND / resolution
    uv, depth = cams.project(pts, VIEW_SIZE)
    uv = uv.round().long().clamp(0, VIEW_SIZE - 1)
    pix = uv[..., 1] * VIEW_SIZE + uv[..., 0]  # [N,P]
    for _ in range(rounds):
        # visibility from the current occupancy: a per-view z-buffer of the occupied voxels
        zbuf = torch.full((len(cams), VIEW_SIZE * VIEW_SIZE), float("inf"), device=views.device)
        d_occ = torch.where(inside[None] & valid, depth, torch.full_like(depth, float("inf")))
        zbuf.scatter_reduce_(1, pix, d_occ, reduce="amin")
        visible = valid & inside[None] & (depth <= zbuf.gather(1, pix) + 1.5 * voxel)
        w = visible.float()[..., None]
        n = w.sum(0)
        mean = (rgbm[..., :3] * w).sum(0) / n.clamp_min(1)
        var = (((rgbm[..., :3] - mean) ** 2) * w).sum(0).sum(-1) / n[:, 0].clamp_min(1)
        carve = inside & (n[:, 0] >= 2) & (var > colour_threshold)
        if not carve.any():
            break
        inside = inside & ~carve
    sdf = _signed_distance(inside.reshape(resolution, resolution, resolution), voxel)
    return CostVolume(sdf[None].to(views.device), seen.reshape(resolution, resolution, resolution),
                      VOLUME_BOUND, "classical")


# ---- a view that disagrees ------------------------------------------------------------------------------------
def silhouettes_explained(views: torch.Tensor, cameras: Cameras, resolution: int = 48, image: int = 32,
                          samples: int = 96) -> tuple[torch.Tensor, int]:
    """Per view [N]: the share of its mask's pixels whose ray meets the visual hull of all the views (dilated a
    voxel); and the hull's voxel count. Silhouettes of one object are all explained (~1); a view of something else
    carves the hull where the others see the object, and leaves its own silhouette unexplained where the hull is
    not."""
    pts = grid_centers(resolution, device=views.device).reshape(-1, 3)
    m, valid = sample_views(views[:, 3:4], cameras, pts)
    inside = (valid.sum(0) >= 2) & ((m[..., 0] >= 0.5) | ~valid).all(0)
    occ = F.max_pool3d(inside.float().reshape(1, 1, resolution, resolution, resolution), 3, 1, 1)
    o, d = cameras.rays(image)
    t = cameras.distance[:, None, None, None] + \
        torch.linspace(-1.75, 1.75, samples, device=views.device) * VOLUME_BOUND  # through the whole cube
    p = o[..., None, :] + d[..., None, :] * t[..., None]
    g = (p / VOLUME_BOUND).flip(-1).reshape(1, -1, 1, 1, 3)
    hit = F.grid_sample(occ, g, align_corners=False, padding_mode="zeros").reshape(len(cameras), image, image,
                                                                                     samples).amax(-1) > 0.5
    mask = F.interpolate(views[:, 3:4], size=(image, image), mode="area")[:, 0] >= 0.5
    return (hit & mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1), int(inside.sum())


def disagreeing_views(views: torch.Tensor, cameras: Cameras) -> list[int]:
    """The views to leave out so the rest are silhouette-consistent (a sampler's view of another object, a wrong
    pose), chosen greedily: while some view is unexplained, the one whose removal explains the rest best, if that
    makes them consistent. Never leaves fewer than 3 views (among 2 any pair is consistent: no way to tell which
    is wrong). Where leaving out either of two views explains the rest as well, the one whose removal leaves the
    larger hull goes: a disagreeing view carves away what the others agree on."""
    keep = list(range(views.shape[0]))
    while len(keep) > 3:
        if float(silhouettes_explained(views[keep], cameras[keep])[0].min()) >= CONSISTENT:
            break
        scores = []
        for k in keep:
            rest = [i for i in keep if i != k]
            explained, hull = silhouettes_explained(views[rest], cameras[rest])
            scores.append((round(float(explained.min()) / 0.02), hull))  # ties: within 0.02
        best = max(range(len(keep)), key=scores.__getitem__)
        if scores[best][0] * 0.02 < CONSISTENT - 0.01:
            break  # no single view explains the disagreement: keep them all (the variance aggregation copes)
        keep.pop(best)
    return [i for i in range(views.shape[0]) if i not in keep]


def build_cost_volume(images: torch.Tensor, cameras: Cameras, masks: torch.Tensor | None = None,
                      resolution: int = 32, method: str = "learned", net: CostVolumeNet | None = None,
                      device="cpu", drop_disagreeing: bool = True) -> CostVolume:
    """The Cost Volume Builder: views (IMAGE [N,H,W,3]) + cameras (+ masks) -> CostVolume. With
    `drop_disagreeing`, views whose silhouettes the others contradict are left out (listed in `.dropped`)."""
    if method not in ("learned", "classical"):
        raise ValueError(f"cost volume method must be 'learned' or 'classical', got {method!r}")
    if resolution < 8 or resolution > 256:
        raise ValueError(f"grid size must be within 8..256, got {resolution}")
    views, cameras = prepare_views(images.to(device), cameras.to(device), None if masks is None else masks.to(device))
    n = views.shape[0]
    need = n * resolution ** 3 * 16  # the classical builder's samples: 4 channels a view and voxel, float32
    if method == "classical" and need > 8 * 2 ** 30:
        largest = int((8 * 2 ** 30 / (n * 16)) ** (1 / 3)) // 8 * 8
        raise ValueError(f"a classical volume of {resolution}³ over {n} views needs ~{need / 2 ** 30:.0f} GiB: use "
                         f"at most {largest}³")
    with torch.no_grad():
        dropped = disagreeing_views(views, cameras) if drop_disagreeing else []
        if dropped:
            keep = [i for i in range(n) if i not in dropped]
            views, cameras = views[keep], cameras[keep]
        if method == "classical":
            vol = classical_volume(views, cameras, resolution)
        else:
            net = net if net is not None else CostVolumeNet.from_file(default_weights())
            vol = net.to(device).build(views, cameras, resolution)
    vol.dropped = tuple(dropped)
    return vol


def volume_mesh(volume: CostVolume, resolution: int = 64):
    """The volume's zero level set as a mesh (what the geometry prior alone says), for previews and IoU."""
    from ..mesh.extract import marching_cubes
    with torch.no_grad():
        return marching_cubes(lambda p: volume.sdf(p.to(volume.volume.device)).cpu(), resolution=resolution,
                              bounds=(-volume.bound, volume.bound))
