"""Through-holes: a hex nut of the tests' own making, written as a PLY file, rendered into a posed folder and read
by Load Views, is fitted by NeuS with the Views to 3D workflow's losses; space carving (free_space_weight) opens its
hole, which the mask term alone left plugged (bench/bench_holes.py: without carving the hole stays filled, alpha 1.0,
IoU ~0.71 at 600 steps). One shared 400-step fit, about 50 s."""
import pytest
import torch

from core.evaluate import mesh_iou
from core.mesh.extract import field_mesh
from core.recipes import fit_views
from posed_views import nut_scene


@pytest.fixture(scope="module")
def nut(tmp_path_factory):
    views, occupancy, centre, axis = nut_scene(str(tmp_path_factory.mktemp("nut")))
    torch.manual_seed(0)
    field = fit_views(views.images, views.cameras, views.masks, steps=400, seed=0).field
    return views, occupancy, centre, axis, field


def test_neus_opens_the_hole_of_a_nut_read_from_a_file(nut):
    views, occupancy, centre, axis, field = nut
    iou = mesh_iou(field_mesh(field, 96), occupancy, 96)
    with torch.no_grad():
        alpha = float(field.render_rays((centre + 2 * axis)[None], -axis[None], perturb=False).alpha[0])
    print("nut: IoU", iou, "alpha through the hole", alpha)
    assert alpha < 0.1, alpha  # light passes through the hole's centre
    assert iou > 0.8, iou


def test_carving_rays_are_the_background_rays_that_cross_the_other_views_hull(nut):
    """The rays carving draws from: background pixels only, among them the ones through the hole (every other view
    sees the nut there), and far fewer than the whole background."""
    from core.losses.reference import FREE, carving_rays
    views = nut[0]
    n, r = views.masks.shape[:2]
    o, d = views.cameras.rays(r)
    idx = carving_rays(o.reshape(-1, 3), d.reshape(-1, 3), views.cameras, views.masks)
    background = int((views.masks < FREE).sum())
    assert bool((views.masks.reshape(-1)[idx] < FREE).all())
    assert 0 < len(idx) < 0.5 * background, (len(idx), background)
    uv, _ = views.cameras.project(nut[2][None], r, r)  # the hole's centre in every view
    through = [k * r * r + int(uv[k, 0, 1]) * r + int(uv[k, 0, 0]) for k in range(n)]
    through = [p for p in through if views.masks.reshape(-1)[p] < FREE]  # views that see through the hole
    print("carving rays", len(idx), "of", background, "background pixels;", len(through), "views see through")
    assert through and set(through) <= set(idx.tolist())
