"""Judging a 3D result against the primitive world: the standard views, IoU, held-out PSNR, silhouettes.

One protocol for tests, benchmarks and the evaluation node, so every figure the pack reports means the same.
"""
from __future__ import annotations

import torch

from .cameras import Cameras, orbit
from .metrics import iou, mesh_iou, psnr, ssim

WHITE = (1.0, 1.0, 1.0)  # the background of the world's true renders


def training_views(n: int = 24, distance: float = 1.8, fov: float = 40.0) -> Cameras:
    """n views on four rings: elevation 15 (5/12 of them), 45 (1/4), 75 (1/6, seeing into cavities), -20."""
    a, b, c = round(n * 5 / 12), n // 4, n // 6
    d = n - a - b - c
    rings = [(a, 15, 0.0), (b, 45, 180.0 / max(b, 1)), (c, 75, 90.0 / max(c, 1)), (d, -20, 45.0 / max(d, 1))]
    return Cameras.cat([orbit(k, el, distance, fov, az) for k, el, az in rings if k > 0])


def held_out_views(n: int = 8, distance: float = 1.8, fov: float = 40.0) -> Cameras:
    """Views none of the training rings contain: elevation 30, azimuths offset by a quarter step."""
    return orbit(n, 30, distance, fov, 360.0 / n / 4 + 7.0)


@torch.no_grad()
def evaluate_field(field, obj, resolution: int = 64, mesh_resolution: int = 96, views: Cameras | None = None,
                   mesh=None) -> dict:
    """IoU of the field's extracted surface (at mesh_resolution, and `iou_64` at 64³), its F-score (with precision,
    recall) at metrics.FSCORE_THRESHOLD and Chamfer distance against the true surface (the fair figures for thin
    parts, which IoU punishes for voxel rounding), and PSNR / SSIM / silhouette IoU of albedo renders at held-out
    views (over white, as the true renders: a learned environment background is not part of the object)."""
    from .mesh.extract import field_mesh
    from .world import render_object

    views = held_out_views() if views is None else views
    dev = next(field.parameters()).device
    rec = field.render_views(views.to(dev), resolution, perturb=False, background=WHITE)
    true = render_object(obj, views, resolution, shading="albedo")
    mesh = field_mesh(field, mesh_resolution) if mesh is None else mesh
    return {
        **judge_surface(mesh, obj, mesh_resolution),
        "psnr": psnr(rec.rgb.cpu(), true.rgb),
        "ssim": ssim(rec.rgb.cpu(), true.rgb),
        "silhouette_iou": iou(rec.alpha.cpu() > 0.5, true.alpha > 0.5),
    }


def judge_surface(mesh, obj, resolution: int = 96) -> dict:
    """A surface against the object's: IoU at `resolution` and at 64³ (`iou_64`), F-score (precision, recall) at
    metrics.FSCORE_THRESHOLD and Chamfer distance, the fair figures for thin parts, which IoU punishes for voxel
    rounding."""
    from .metrics import mesh_fscore
    from .world import occupancy, true_surface_points
    return {"iou": mesh_iou(mesh, lambda p: occupancy(obj, p), resolution),
            "iou_64": mesh_iou(mesh, lambda p: occupancy(obj, p), 64),
            **mesh_fscore(mesh, true_surface_points(obj))}


def asymmetric_objects() -> tuple[str, ...]:
    """World objects that are asymmetric front/back or left/right (the catalogue says how): the ones on which
    the Janus probe means something."""
    from .world import get_object, object_names
    return tuple(n for n in object_names() if get_object(n).asymmetry)


@torch.no_grad()
def janus_probe(field, obj, elevation: float = 15.0, held_out: int = 8, resolution: int = 32,
                candidate_step: float = 5.0, distance: float = 1.8, fov: float = 40.0) -> dict:
    """Does the result face the right way all around? For renders at `held_out` azimuths (offset from the
    training grids), the azimuth of the best-matching true view at that elevation (every `candidate_step`°);
    returns the mean azimuth error (degrees; ~90 for a random match), the fraction of views off by over 45° (~0.75
    random; a Janus object that shows its front from behind scores high) and the PSNR of the back view (az 180)."""
    from .world import render_object
    dev = next(field.parameters()).device
    views = orbit(held_out, elevation, distance, fov, 360.0 / held_out / 2 + 2.5)
    rec = field.render_views(views.to(dev), resolution, perturb=False, background=WHITE).rgb.cpu()
    n_cand = int(round(360.0 / candidate_step))
    true = render_object(obj, orbit(n_cand, elevation, distance, fov), resolution, shading="albedo").rgb
    mse = ((rec[:, None] - true[None]) ** 2).flatten(2).mean(-1)  # [held-out, candidate]
    best = mse.argmin(1).float() * candidate_step
    diff = torch.remainder(best - views.azimuth.cpu(), 360.0)
    err = torch.minimum(diff, 360.0 - diff)
    back = orbit(1, elevation, distance, fov, 180.0)
    back_psnr = psnr(field.render_views(back.to(dev), resolution, perturb=False, background=WHITE).rgb.cpu(),
                     render_object(obj, back, resolution, shading="albedo").rgb)
    return {"azimuth_error": float(err.mean()), "janus_fraction": float((err > 45).float().mean()),
            "back_psnr": back_psnr}


def judge_image_to_3d(field, obj) -> dict:
    """evaluate_field's figures plus the Janus probe (azimuth error, back-view PSNR) of an image-to-3D result."""
    return evaluate_field(field, obj, resolution=32) | janus_probe(field, obj)


def saturation(images: torch.Tensor, alpha: torch.Tensor | None = None) -> float:
    """Mean HSV saturation (max - min) / max of images [N,H,W,3] in 0..1, over covered pixels when alpha is given:
    SDS's oversaturation shows as renders more saturated than the truth."""
    mx, mn = images.amax(-1), images.amin(-1)
    s = (mx - mn) / mx.clamp_min(1e-6)
    if alpha is None:
        return float(s.mean())
    m = alpha > 0.5
    return float(s[m].mean()) if m.any() else 0.0


@torch.no_grad()
def judge_texture(field, obj, resolution: int = 64) -> dict:
    """Texture figures at held-out views: PSNR, SSIM (sharpness and structure) and saturation, with the truth's
    saturation beside it (over white, albedo)."""
    from .world import render_object
    views = held_out_views()
    dev = next(field.parameters()).device
    rec = field.render_views(views.to(dev), resolution, background=WHITE)
    true = render_object(obj, views, resolution, shading="albedo")
    rgb = rec.rgb.cpu()
    return {"psnr": psnr(rgb, true.rgb), "ssim": ssim(rgb, true.rgb),
            "saturation": saturation(rgb, true.alpha), "true_saturation": saturation(true.rgb, true.alpha)}


@torch.no_grad()
def judge_family(field, members: list, resolution: int = 32, grid: int = 64, views: Cameras | None = None) -> dict:
    """A result judged against a family of many right answers (members: WorldObjects, e.g. the world prior's K):
    the nearest member by IoU (`nearest`) and the result's IoU, F-score at metrics.FSCORE_THRESHOLD (`fscore`, fair
    to thin members), held-out PSNR and texture PSNR (colour where both cover) against it; its IoU and PSNR against
    the family's average (the members' mean occupancy and mean render: SDS's over-smoothed "average of many
    plausible objects" scores high there); its saturation beside the members'; and cross-view member agreement
    (per held-out view, the member whose true render it matches best; `agreement` is the share of views that pick the
    commonest one: 1 for one coherent object, low for a Janus patchwork). `voxels` and `renders` are kept for
    seed_diversity."""
    from .mesh.extract import field_mesh
    from .mesh.occupancy import voxelize
    from .metrics import mesh_fscore
    from .world import grid_points, occupancy, render_object, true_surface_points

    views = held_out_views() if views is None else views
    dev = next(field.parameters()).device
    rec = field.render_views(views.to(dev), resolution, perturb=False, background=WHITE)
    rgb, alpha = rec.rgb.cpu(), rec.alpha.cpu()
    mesh = field_mesh(field, grid)
    vox = voxelize(mesh, grid)
    pts = grid_points(grid).reshape(-1, 3)
    occ = torch.stack([occupancy(m, pts).reshape(grid, grid, grid) for m in members])  # [K,g,g,g]
    true = [render_object(m, views, resolution, shading="albedo") for m in members]
    ious = [iou(vox, o) for o in occ]
    k = max(range(len(members)), key=lambda i: ious[i])
    both = (alpha > 0.5) & (true[k].alpha > 0.5)
    tex = psnr(rgb[both], true[k].rgb[both]) if both.any() else 0.0
    mean_render = torch.stack([t.rgb for t in true]).mean(0)
    mse = torch.stack([((rgb - t.rgb) ** 2).flatten(1).mean(-1) for t in true])  # [K, views]
    picks = mse.argmin(0)
    return {"nearest": k, "iou": ious[k], **mesh_fscore(mesh, true_surface_points(members[k])),
            "psnr": psnr(rgb, true[k].rgb), "texture_psnr": tex,
            "ious": ious, "average_iou": iou(vox, occ.float().mean(0) >= 0.5),
            "average_psnr": psnr(rgb, mean_render), "saturation": saturation(rgb, alpha),
            "member_saturation": sum(saturation(t.rgb, t.alpha) for t in true) / len(true),
            "view_members": picks.tolist(), "agreement": float((picks == picks.mode().values).float().mean()),
            "voxels": vox, "renders": rgb}


def seed_diversity(judged: list[dict]) -> dict:
    """How different results from different seeds are (judge_family's outputs): mean pairwise 1 - IoU of their
    shapes, mean pairwise RMS colour distance of their held-out renders, and how many distinct nearest members."""
    n = len(judged)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if not pairs:
        return {"shape": 0.0, "colour": 0.0, "distinct_members": 1}
    shape = sum(1 - iou(judged[i]["voxels"], judged[j]["voxels"]) for i, j in pairs) / len(pairs)
    colour = sum(float(((judged[i]["renders"] - judged[j]["renders"]) ** 2).mean().sqrt()) for i, j in pairs)
    return {"shape": shape, "colour": colour / len(pairs), "distinct_members": len({d["nearest"] for d in judged})}
