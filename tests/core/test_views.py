"""Load Views: a posed image folder (transforms.json) in the pack's convention — cameras, crops, masks, order, box —
checked against the world's own renders written to disk as nerfstudio would, in a z-up world moved and scaled."""
import json
import os

import pytest
import torch

from core.cameras import Cameras
from core.evaluate import psnr
from core.views import load_views, seen_by_all
from core.world import get_object, true_mesh
from posed_views import FOV, write_scene


@pytest.fixture
def scene(tmp_path):
    obj = get_object("duck")
    cams = Cameras.from_spherical([15.0] * 5 + [40.0] * 6, [0, 72, 144, 216, 288] + [30, 90, 150, 210, 270, 330],
                                  1.8, FOV)
    rec = write_scene(str(tmp_path), obj, cams, stretch_frame=3)
    return tmp_path, obj, cams, rec


def test_load_views_recovers_cameras_images_masks_and_the_object_box(scene):
    root, obj, cams, rec = scene
    views = load_views(str(root), resolution=64)
    # natural order of the file names, whatever order the file lists them in
    assert views.names == [f"view_{i}.png" for i in range(len(cams))]
    # the same views: rotations exactly, positions up to the box's move and scale, the centred crop's fov
    assert torch.allclose(views.cameras.c2w[:, :3, :3], cams.c2w[:, :3, :3], atol=1e-5)
    a = torch.cat([cams.position, torch.ones(len(cams), 1)], 1)
    fit = torch.linalg.lstsq(a, views.cameras.position).solution
    assert (a @ fit - views.cameras.position).abs().max() < 1e-4
    k = float(fit[:3].diagonal().mean())
    assert (fit[:3] - k * torch.eye(3)).abs().max() < 1e-4  # one uniform scale: no shear, no turn
    assert torch.allclose(views.cameras.fov, torch.full((len(cams),), FOV), atol=1e-3)
    # the images and masks are the renders (the stretched frame through a resample: a little softer)
    for i in range(len(cams)):
        floor = 25 if i == 3 else 40
        assert psnr(views.images[i:i + 1], rec.rgb[i:i + 1]) > floor, i
        assert (views.masks[i] - rec.alpha[i]).abs().mean() < (0.02 if i == 3 else 0.005), i
    # the box: the object, moved and scaled by the same change, fills the unit cube with the margin
    pts = true_mesh(obj, 48).vertices
    moved = pts * k + fit[3]
    assert moved.abs().max() <= 0.5
    assert float((moved.max(0).values - moved.min(0).values).max()) > 0.7
    # the box comes from the visual hull: every surface point is inside every mask
    assert seen_by_all(pts * k + fit[3], views.cameras, views.masks, threshold=0.3).float().mean() > 0.95


def test_load_views_refuses_bad_folders_naming_the_frame(tmp_path):
    obj = get_object("duck")
    cams = Cameras.from_spherical([15.0] * 4, [0, 90, 180, 270], 1.8, FOV)
    write_scene(str(tmp_path), obj, cams)
    spec = json.load(open(tmp_path / "transforms.json"))

    def write(s):
        json.dump(s, open(tmp_path / "transforms.json", "w"))

    bad = json.loads(json.dumps(spec))
    bad["frames"][1]["file_path"] = "images/missing"
    write(bad)
    with pytest.raises(ValueError, match="frame 'images/missing'.*not in"):
        load_views(str(tmp_path), 64)
    bad = json.loads(json.dumps(spec))
    m = torch.tensor(bad["frames"][2]["transform_matrix"])
    m[:3, :3] *= 1.5
    bad["frames"][2]["transform_matrix"] = m.tolist()
    name = bad["frames"][2]["file_path"]
    write(bad)
    with pytest.raises(ValueError, match=f"frame '{name}'.*not rigid"):
        load_views(str(tmp_path), 64)
    bad = json.loads(json.dumps(spec))
    m = torch.tensor(bad["frames"][0]["transform_matrix"])
    m[:3, :3] = -m[:3, :3] @ torch.diag(torch.tensor([1.0, 1.0, 1.0]))  # looks away (and mirrored: refused too)
    m[:3, 0] = -m[:3, 0]
    bad["frames"][0]["transform_matrix"] = m.tolist()
    name = bad["frames"][0]["file_path"]
    write(bad)
    with pytest.raises(ValueError, match=f"frame '{name}' does not look at"):
        load_views(str(tmp_path), 64)
    write({"frames": spec["frames"][:1]})
    with pytest.raises(ValueError, match="at least 2"):
        load_views(str(tmp_path), 64)
    os.remove(tmp_path / "transforms.json")
    with pytest.raises(ValueError, match="no transforms.json"):
        load_views(str(tmp_path), 64)
