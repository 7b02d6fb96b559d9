"""The progressive painter: a fixed mesh textured view by view by an image model.

Per view: render the mesh with the texture painted so far; mark the pixels that still *need* paint (texels never
painted, texels painted only at a grazing angle that this view sees head-on) plus a band around them to blend;
hand the view (render, need mask, depth, normals, camera) to the painter; fold its image back into the texture by
the **adaptive blend**: a texel's new colour is the weighted mean of what it had and what this view says, with
weights cos(view angle)^ANGLE_POWER (a texel keeps its most head-on view) times a ramp across the blend band (the
old paint fades into the new over `band` pixels, so views agree at their seams). Finally the UV texture is
optimized by differentiable rendering against every painted view.

Texels live on the mesh's UV layout (xatlas's where the mesh has none); everything is in the pack's coordinates.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..cameras import Cameras
from ..mesh import Mesh

#: a texel painted at a view-angle cosine below this is grazing: a later view that sees it head-on repaints it
GRAZING = 0.5
#: ... when that view's cosine is larger by at least this
IMPROVE = 0.3
#: the blend's view-angle exponent: cos^4 halves a sample's weight by 33 degrees off the normal
ANGLE_POWER = 4
#: the largest mesh and texture the painter takes (memory: ~40 bytes a texel while painting)
MAX_FACES = 1_000_000
MAX_TEXTURE = 4096


@dataclass
class TexelSurface:
    """The surface point behind every covered texel of a size x size UV layout: texel ids (row-major from the
    top-left), positions [T,3] and face normals [T,3]."""
    size: int
    index: torch.Tensor
    position: torch.Tensor
    normal: torch.Tensor

    def uv(self) -> torch.Tensor:
        """The texels' centres as uv [T,2] (v up)."""
        px, py = self.index % self.size, self.index // self.size
        return torch.stack([(px + 0.5) / self.size, 1 - (py + 0.5) / self.size], -1)


def texel_surface(mesh: Mesh, size: int) -> TexelSurface:
    """Where each covered texel of `mesh`'s uv layout lies on the surface (one hit per texel)."""
    from ..mesh.texture import texel_hits
    face, px, py, bary = texel_hits(mesh, size)
    idx = py * size + px
    uniq, inv = torch.unique(idx, return_inverse=True)
    first = torch.full((uniq.numel(),), idx.numel(), dtype=torch.long).scatter_reduce(
        0, inv, torch.arange(idx.numel()), reduce="amin")
    f, b = face[first], bary[first]
    pos = (b[..., None] * mesh.vertices[mesh.faces[f]]).sum(1)
    return TexelSurface(size, uniq, pos, mesh.face_normals()[f])


def view_sequence(elevation: float = 15.0, distance: float = 1.8, fov: float = 40.0, views: int = 10) -> Cameras:
    """The painting order: front, back, the two sides, the four diagonals (at `elevation`), then top and bottom —
    each next view covering most of what the earlier ones could not; the first `views` of them."""
    ring = [0.0, 180.0, 90.0, 270.0, 45.0, 315.0, 135.0, 225.0]
    el = [elevation] * len(ring) + [75.0, -60.0]
    az = ring + [0.0, 0.0]
    if not 1 <= views <= len(az):
        raise ValueError(f"the fixed view sequence has 1..{len(az)} views, got {views}")
    n = views
    return Cameras.from_spherical(torch.tensor(el[:n]), torch.tensor(az[:n]), torch.full((n,), distance),
                                  torch.full((n,), fov))


def coverage_sequence(mesh: Mesh, views: int = 10, distance: float = 1.8, fov: float = 40.0, size: int = 256,
                      resolution: int = 128, first_elevation: float = 15.0) -> Cameras:
    """The painting order chosen for this mesh: the front first (at first_elevation), then, one by one, the
    candidate view (every 30 degrees of azimuth at elevations -60 .. 75) that would newly cover or improve the most
    texels by the painter's own rules (never painted; or painted only at a grazing angle and seen head-on from
    there) — so cavities, undersides and the inside of a shade get a view the fixed ring lacks."""
    from ..mesh.texture import unwrap
    if views < 1:
        raise ValueError(f"views must be at least 1, got {views}")
    check_mesh(mesh)
    els = [first_elevation] + [e for e in (-60.0, -30.0, 0.0, 15.0, 30.0, 50.0, 75.0) for _ in range(12)]
    azs = [0.0] + [30.0 * k for _ in range(7) for k in range(12)]
    n = len(els)
    candidates = Cameras.from_spherical(torch.tensor(els), torch.tensor(azs), torch.full((n,), distance),
                                        torch.full((n,), fov))
    _, seen, cos = texel_visibility(mesh if mesh.uv is not None else unwrap(mesh), candidates, size, resolution)
    cos = cos * seen
    best = torch.zeros(seen.shape[1])
    chosen = []
    for _ in range(min(views, n)):
        gain = ((seen & (best <= 0)) | (seen & (best < GRAZING) & (cos > best + IMPROVE))).sum(-1).float()
        if chosen:
            gain[chosen] = -1
            pick = int(gain.argmax())
            if gain[pick] <= 0:  # nothing left that any candidate would paint or improve
                break
        else:
            pick = 0
        chosen.append(pick)
        best = torch.maximum(best, cos[pick])
    return Cameras.from_spherical(torch.tensor([els[i] for i in chosen]), torch.tensor([azs[i] for i in chosen]),
                                  torch.full((len(chosen),), distance), torch.full((len(chosen),), fov))


def adaptive_blend_weights(cos: torch.Tensor, edge: torch.Tensor) -> torch.Tensor:
    """A view's weight for the texels it paints: head-on views dominate (cos^ANGLE_POWER), and across the blend
    band (`edge` 0 at the band's outer rim .. 1 where paint was needed) the new paint fades in."""
    return edge * cos.clamp(0, 1) ** ANGLE_POWER


@dataclass
class PaintRequest:
    """What a painter gets for one view: the current render over white [H,W,3], the mask to paint [H,W] (1: paint,
    between 0 and 1: the blend band), the object's coverage [H,W], depth [H,W] (1 nearest .. 0 far and background,
    as depth ControlNets expect), camera-space normals [H,W,3] as a normal map (0..1), the camera, and the view's
    place in the sequence. The camera is in the painting frame (the mesh moved into the unit cube);
    `object_camera()` gives it in the mesh's own coordinates (what a painter that renders the original needs)."""
    index: int
    total: int
    camera: Cameras
    image: torch.Tensor
    need: torch.Tensor
    covered: torch.Tensor
    depth: torch.Tensor
    normal: torch.Tensor
    placement: tuple = None  # (centre [3], scale): painting frame = (mesh coordinates - centre) * scale

    def object_camera(self) -> Cameras:
        if self.placement is None:
            return self.camera
        centre, scale = self.placement
        c2w = self.camera.c2w.clone()
        c2w[:, :3, 3] = c2w[:, :3, 3] / scale + centre
        return Cameras(c2w, self.camera.fov)

class Painter:
    """The painter interface: start() gives a painting, a callable PaintRequest -> image [H,W,3] in 0..1. A painter
    is a node output that ComfyUI caches and may hand to several paintings; painting never changes it, because
    paint_mesh paints with a fresh start() (which holds what a painting draws: a seeded generator)."""

    def start(self) -> "Painter":
        return self

    def __call__(self, request: "PaintRequest") -> torch.Tensor:
        raise NotImplementedError



@dataclass
class PaintResult:
    """The painted mesh and how it came about: per view the painted image, the need mask and the camera; per
    texel the view that owns it (largest weight, -1 never painted)."""
    mesh: Mesh
    views: torch.Tensor
    needs: torch.Tensor
    cameras: Cameras
    owner: torch.Tensor
    surface: TexelSurface
    figures: dict = field(default_factory=dict)


@dataclass
class _ViewMaps:
    uv: torch.Tensor        # [H,W,2]
    covered: torch.Tensor   # [H,W] bool
    depth: torch.Tensor     # [H,W] view depth (0 where uncovered)
    normal: torch.Tensor    # [H,W,3] world
    cos: torch.Tensor       # [H,W] normal . direction to the camera


def _view_maps(mesh: Mesh, camera: Cameras, res: int) -> _ViewMaps:
    from ..render.raster import rasterize
    attr = mesh.uv if mesh.uv is not None else torch.zeros(mesh.num_vertices, 2)
    with torch.no_grad():
        rec = rasterize(mesh.vertices, mesh.faces, camera, res, attributes=attr, antialias=False)
    covered = rec.alpha[0] > 0.5
    _, d = camera.rays(res)
    cos = (rec.normal[0] * -d[0]).sum(-1).clamp(0, 1) * covered
    return _ViewMaps(rec.extras["attributes"][0], covered, rec.depth[0], rec.normal[0], cos)


def _guides(maps: _ViewMaps, camera: Cameras):
    """(depth [H,W]: 1 nearest .. 0.2 farthest, 0 background — a depth ControlNet's convention; normal map [H,W,3]
    in camera space, 0..1, flat 0.5 background)."""
    depth = torch.where(maps.covered, maps.depth, torch.zeros_like(maps.depth))
    if maps.covered.any():
        lo, hi = float(depth[maps.covered].min()), float(depth[maps.covered].max())
        depth = torch.where(maps.covered, 1 - 0.8 * (depth - lo) / max(hi - lo, 1e-6), depth)
    w2c = camera.world_to_camera()[0, :3, :3]
    a = maps.covered[..., None].float()
    normal = torch.einsum("ij,hwj->hwi", w2c, maps.normal) * 0.5 + 0.5
    return depth, normal * a + (1 - a) * 0.5


def view_guides(mesh: Mesh, cameras: Cameras, resolution: int, normalize: bool = True):
    """What the painter will see of the bare geometry from each camera of the sequence, before any painting: depth
    [N,H,W] and normal maps [N,H,W,3] exactly as paint_mesh hands them to the painter (for a depth / normal
    ControlNet applied in the graph, one image per view)."""
    check_mesh(mesh)
    m, _ = _placed(mesh, normalize)
    out = [_guides(_view_maps(m, cameras[i], resolution), cameras[i]) for i in range(len(cameras))]
    return torch.stack([d for d, _ in out]), torch.stack([n for _, n in out])


def _texels_in_view(surface: TexelSurface, camera: Cameras, maps: _ViewMaps, res: int):
    """The texels this view sees: their pixel positions [T,2], visibility [T] and view-angle cosines [T]."""
    uvp, z = camera.project(surface.position, res)
    uvp, z = uvp[0], z[0]
    pix = uvp.floor().long()
    inb = (pix >= 0).all(-1) & (pix < res).all(-1) & (z > 1e-4)
    pix = pix.clamp(0, res - 1)
    depth = maps.depth[pix[:, 1], pix[:, 0]]
    front = maps.covered[pix[:, 1], pix[:, 0]] & (z <= depth + 0.004 + 0.01 * depth)
    to_cam = F.normalize(camera.position[0] - surface.position, dim=-1)
    cos = (surface.normal * to_cam).sum(-1)
    return uvp, inb & front & (cos > 0.05), cos.clamp(0, 1)


def texel_visibility(mesh: Mesh, cameras: Cameras, size: int, resolution: int, normalize: bool = True):
    """Which texels of `mesh`'s uv layout (size x size) each camera sees, as paint_mesh decides it: the texel
    surface, visible [N,T] and view-angle cosines [N,T] (the mesh moved into the unit cube unless normalize=False;
    a mesh without uvs must be unwrapped first)."""
    if mesh.uv is None:
        raise ValueError("texel_visibility needs a mesh with uvs (core.mesh.texture.unwrap)")
    m, _ = _placed(mesh, normalize)
    surface = texel_surface(m, size)
    seen, cosines = [], []
    for i in range(len(cameras)):
        _, visible, cos = _texels_in_view(surface, cameras[i], _view_maps(m, cameras[i], resolution), resolution)
        seen.append(visible)
        cosines.append(cos)
    return surface, torch.stack(seen), torch.stack(cosines)


def _sample(image: torch.Tensor, uvp: torch.Tensor, res: int) -> torch.Tensor:
    """Bilinear samples [T,C] of an [H,W,C] image at pixel positions [T,2]."""
    g = (uvp / res * 2 - 1).reshape(1, -1, 1, 2)
    return F.grid_sample(image.permute(2, 0, 1)[None].float(), g, mode="bilinear", padding_mode="border",
                         align_corners=False)[0, :, :, 0].T


def _texel_lookup(values: torch.Tensor, filled: torch.Tensor, size: int) -> torch.Tensor:
    """A dense [S,S] map of per-texel values with the empty texels beside the charts given their neighbours' max
    (a pixel whose uv lands just off a chart's texel centres reads its chart)."""
    m = values.reshape(1, 1, size, size)
    return torch.where(filled.reshape(size, size), m[0, 0], F.max_pool2d(m, 3, 1, 1)[0, 0])


def _blend_band(need: torch.Tensor, covered: torch.Tensor, band: int) -> torch.Tensor:
    """The edge ramp [H,W]: 1 where paint is needed, falling to 0 over `band` pixels into what was painted
    (never at the object's outline, which is not a seam)."""
    from scipy.ndimage import distance_transform_edt
    if band <= 0:
        return need.float()
    grown = F.max_pool2d(need.float()[None, None], 2 * band + 1, 1, band)[0, 0] > 0
    grown = grown & covered
    free = (grown | ~covered).numpy()
    dist = torch.from_numpy(distance_transform_edt(free)).float()
    return torch.where(need, torch.ones_like(dist), (dist / band).clamp(0, 1) * grown)


def check_mesh(mesh: Mesh, max_faces: int = MAX_FACES) -> None:
    """Refuse meshes the painter cannot paint, before any painting."""
    if mesh.num_faces == 0:
        raise ValueError("the mesh has no faces: there is nothing to paint")
    if not torch.isfinite(mesh.vertices).all():
        bad = int((~torch.isfinite(mesh.vertices).all(-1)).sum())
        raise ValueError(f"the mesh has {bad} vertices with non-finite coordinates (NaN / inf): repair or re-export it")
    if mesh.num_faces > max_faces:
        raise ValueError(f"the mesh has {mesh.num_faces:,} faces, more than the painter takes ({max_faces:,}): "
                         f"decimate it first — in ComfyUI 0.33 and later: To ComfyUI MESH -> Decimate Mesh "
                         f"(target_face_count {max_faces:,}) -> From ComfyUI MESH; or Blender's Decimate")


def check_texture_size(size: int) -> None:
    if not 64 <= size <= MAX_TEXTURE:
        need = size * size * 40 / 2 ** 30
        raise ValueError(f"texture size {size} is outside 64..{MAX_TEXTURE} (a {size}² texture needs ~{need:.1f} "
                         f"GiB while painting)")


def placement(mesh: Mesh, fill: float = 0.9) -> tuple[torch.Tensor, float]:
    """(centre, scale) that move a mesh's bounding box to the origin with its longest side `fill` (the unit cube
    the pack's cameras frame)."""
    lo, hi = mesh.vertices.min(0).values, mesh.vertices.max(0).values
    extent = float((hi - lo).max())
    if extent <= 0:
        raise ValueError("the mesh is a single point: it has no extent to paint")
    return (lo + hi) / 2, fill / extent


def _placed(mesh: Mesh, normalize: bool = True):
    """The mesh (uvs and texture kept) moved into the unit cube (the cameras' frame) and its (centre, scale); unmoved if not
    normalize."""
    centre, scale = placement(mesh) if normalize else (torch.zeros(3), 1.0)
    return Mesh((mesh.vertices - centre) * scale, mesh.faces, None, mesh.uv, mesh.texture), (centre, scale)


@dataclass(frozen=True, kw_only=True)
class PaintConfig:
    """The painting's settings, named as the Paint Texture node's inputs."""

    #: the texture's side in texels
    texture_size: int = 512
    #: the painted views' side in pixels
    resolution: int = 256
    #: 'adaptive' (each texel from its best view, blended across a band at view borders) or 'last' (every texel a
    #: view sees takes its colour: the plain projection, the baseline)
    blend: str = "adaptive"
    #: the blend band, a fraction of `resolution`
    blend_band: float = 0.04
    #: steps of the final texture optimization against every painted view (0: none; measured on the world's duck
    #: it does not beat the blend it starts from — 39.9 -> 39.7 dB held out, seams 0.010 -> 0.021 with a 10 %
    #: brightness drift — so it is off unless asked for) and its learning rate
    optimize_steps: int = 0
    lr: float = 0.005
    #: paint the mesh moved into the unit cube (the cameras' frame; the result keeps the mesh's own coordinates)
    normalize: bool = True


def paint_mesh(mesh: Mesh, painter, cameras: Cameras | None = None, *, config: PaintConfig | None = None,
               on_view=None, **settings) -> PaintResult:
    """Paint `mesh` view by view with `painter` (a Painter, or any callable PaintRequest -> image [H,W,3]).

    cameras: the sequence (view_sequence() by default); settings: a PaintConfig, or its fields as keywords;
    on_view(i, total, painted image): progress (it may raise to cancel)."""
    c = dataclasses.replace(config or PaintConfig(), **settings)
    size, resolution, band, blend = c.texture_size, c.resolution, c.blend_band, c.blend
    optimize_steps, lr, normalize = c.optimize_steps, c.lr, c.normalize
    if blend not in ("adaptive", "last"):
        raise ValueError(f"blend must be 'adaptive' or 'last', got {blend!r}")
    check_mesh(mesh)
    check_texture_size(size)
    painter = painter.start() if isinstance(painter, Painter) else painter
    from ..mesh.texture import dilate, sample_texture, unwrap
    src = mesh if mesh.textured else unwrap(mesh)
    m, (centre, scale) = _placed(src, normalize)
    cameras = view_sequence() if cameras is None else cameras
    surface = texel_surface(m, size)
    t = surface.index.numel()
    if mesh.has_texture_image:
        colour = sample_texture(mesh.texture, surface.uv())
    else:
        colour = torch.full((t, 3), 0.5)
    weight, best, owner, owner_w = torch.zeros(t), torch.zeros(t), torch.full((t,), -1), torch.zeros(t)
    filled = torch.zeros(size * size, dtype=torch.bool)
    filled[surface.index] = True
    band_px = max(1, round(band * resolution)) if blend == "adaptive" else 0
    views, needs, targets = [], [], []
    n = len(cameras)
    for i in range(n):
        cam = cameras[i]
        maps = _view_maps(m, cam, resolution)
        tex_now = torch.zeros(size * size, 3)
        tex_now[surface.index] = colour
        tex_now = dilate(tex_now.reshape(size, size, 3), filled.reshape(size, size), 2)
        a = maps.covered[..., None].float()
        render = a * sample_texture(tex_now, maps.uv) + (1 - a)
        if blend == "adaptive":
            dense_w = torch.zeros(size * size).index_put((surface.index,), weight)
            dense_b = torch.zeros(size * size).index_put((surface.index,), best)
            tx = (maps.uv[..., 0] * size).floor().long().clamp(0, size - 1)
            ty = ((1 - maps.uv[..., 1]) * size).floor().long().clamp(0, size - 1)
            w_px = _texel_lookup(dense_w, filled, size)[ty, tx]
            b_px = _texel_lookup(dense_b, filled, size)[ty, tx]
            need = maps.covered & ((w_px <= 0) | ((b_px < GRAZING) & (maps.cos > b_px + IMPROVE)))
        else:
            need = maps.covered.clone()
        edge = _blend_band(need, maps.covered, band_px)
        depth, normal = _guides(maps, cam)
        request = PaintRequest(i, n, cam, render, edge, maps.covered, depth, normal, (centre, scale))
        painted = painter(request)
        painted = _check_painted(painted, resolution, i)
        # only the masked region changes; the rest of the view stays what it was
        view = edge[..., None] * painted + (1 - edge[..., None]) * render
        uvp, visible, cos = _texels_in_view(surface, cam, maps, resolution)
        c = _sample(painted, uvp, resolution)
        if blend == "adaptive":
            e = _sample(edge[..., None], uvp, resolution)[:, 0]
            w = adaptive_blend_weights(cos, e) * visible
            sel = w > 1e-6
            colour[sel] = (weight[sel, None] * colour[sel] + w[sel, None] * c[sel]) / (weight[sel] + w[sel])[:, None]
            weight[sel] += w[sel]
            take = sel & (w > owner_w)
            owner[take], owner_w[take] = i, w[take]
            seen = sel & (e > 0.5)
            best[seen] = torch.maximum(best[seen], cos[seen])
        else:
            colour[visible], weight[visible], owner[visible] = c[visible], 1.0, i
        views.append(view)
        needs.append(edge)
        targets.append((maps.uv, view, adaptive_blend_weights(maps.cos, edge)))
        if on_view is not None:
            on_view(i + 1, n, view)
    tex = torch.zeros(size * size, 3)
    tex[surface.index] = colour
    painted_texels = torch.zeros(size * size, dtype=torch.bool)
    painted_texels[surface.index[weight > 0]] = True
    tex = tex.reshape(size, size, 3)
    if not mesh.has_texture_image:  # texels no view saw (a cavity's floor, a part hidden behind another) take their painted
        # neighbours' colours rather than the grey start; a texture the mesh came with is kept there as it was
        grown = dilate(tex, painted_texels.reshape(size, size), max(4, size // 32))
        tex = torch.where((filled & ~painted_texels).reshape(size, size, 1), grown, tex)
    figures = {"views": n, "texels": t, "painted_share": float((weight > 0).float().mean())}
    if blend == "adaptive" and optimize_steps > 0:
        tex, figures["optimize_loss_start"], figures["optimize_loss"] = _optimize_texture(tex, filled, targets,
                                                                                           optimize_steps, lr)
    tex = dilate(tex, filled.reshape(size, size), 4)
    out = Mesh(src.vertices, src.faces, None, src.uv, tex.clamp(0, 1))  # the paint, not old vertex colours
    return PaintResult(out, torch.stack(views), torch.stack(needs), cameras, owner, surface, figures)


def _check_painted(painted: torch.Tensor, resolution: int, index: int) -> torch.Tensor:
    if not torch.is_tensor(painted):
        raise ValueError(f"the painter returned {type(painted).__name__} for view {index + 1}, not an image tensor")
    if painted.ndim == 4 and painted.shape[0] == 1:
        painted = painted[0]
    if painted.ndim != 3 or painted.shape != (resolution, resolution, 3):
        raise ValueError(f"the painter returned an image of shape {tuple(painted.shape)} for view {index + 1}; the "
                         f"painter was asked for one image of {resolution}x{resolution}x3")
    return painted.float().cpu().clamp(0, 1)


def _optimize_texture(tex: torch.Tensor, filled: torch.Tensor, targets, steps: int, lr: float):
    """The texture fitted to every painted view by differentiable rendering (the geometry is fixed, so each view's
    pixel -> uv map is rasterized once): a weighted L2 with the blend's weights, from the blended texture. Only the
    texels on the charts are free; the padding around them follows by dilation (bilinear lookups near a chart's
    edge read it), so no texel off the surface is bent to fit a view."""
    from ..mesh.texture import dilate, sample_texture
    size = tex.shape[0]
    keep = filled.reshape(size, size)
    param = tex.clone().requires_grad_(True)
    opt = torch.optim.Adam([param], lr=lr)
    wsum = sum(float(w.sum()) for _, _, w in targets)
    losses = []
    with torch.enable_grad():
        for _ in range(steps):
            full = dilate(torch.where(keep[..., None], param, torch.zeros_like(param)), keep, 2)
            loss = 0.0
            for uv, target, w in targets:
                sel = w > 1e-4
                if sel.any():
                    pred = sample_texture(full, uv[sel])
                    loss = loss + (w[sel, None] * (pred - target[sel]) ** 2).sum()
            loss = loss / max(wsum, 1e-9)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    return param.detach(), losses[0], losses[-1]


def seam_error(result: PaintResult, truth: torch.Tensor) -> float:
    """Mean error of colour differences between neighbouring texels owned by different views, against the
    truth's differences there [S,S,3] (a seam is a jump the truth does not have). Neighbours: 4-adjacent in the
    texture and adjacent on the surface (not across a chart's cut)."""
    s = result.surface
    size = s.size
    tex = result.mesh.texture.reshape(-1, 3)
    tru = truth.reshape(-1, 3)
    own = torch.full((size * size,), -1).index_put((s.index,), result.owner)
    pos = torch.zeros(size * size, 3).index_put((s.index,), s.position)
    ok = torch.zeros(size * size, dtype=torch.bool).index_put((s.index,), result.owner >= 0)
    errs = []
    for shift in (1, size):
        a = torch.arange(size * size - shift)
        if shift == 1:
            a = a[(a % size) != size - 1]
        b = a + shift
        gap = (pos[a] - pos[b]).norm(dim=-1)
        near = gap < 3.0 * gap[ok[a] & ok[b]].median() if (ok[a] & ok[b]).any() else torch.zeros_like(gap, dtype=torch.bool)
        seam = ok[a] & ok[b] & (own[a] != own[b]) & near
        errs.append(((tex[a] - tex[b]) - (tru[a] - tru[b]))[seam].abs().mean(-1))
    e = torch.cat(errs)
    return float(e.mean()) if e.numel() else 0.0
