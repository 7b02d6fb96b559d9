"""Load Views: a posed image folder (transforms.json) in the pack's convention — cameras, crops, masks, order, box —
checked against the world's own renders written to disk as nerfstudio would, in a z-up world moved and scaled;
frames that disagree (another object, a turned pose) are named and left out of the box; files outside the folder
are refused."""
import json
import math
import os
import re
import shutil

import pytest
import torch

from core.cameras import Cameras
from core.evaluate import psnr
from core.reference import object_masks
from core.views import load_views, object_box, seen_by_all
from core.world import get_object, true_mesh
from posed_views import FOV, add_frame, write_scene


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


# ---- frames that disagree, and files outside the folder --------------------------------------------------------

@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The duck's 11-view scene (one frame with non-square pixels) and what Load Views makes of it."""
    root = tmp_path_factory.mktemp("clean")
    cams = Cameras.from_spherical([15.0] * 5 + [40.0] * 6, [0, 72, 144, 216, 288] + [30, 90, 150, 210, 270, 330],
                                  1.8, FOV)
    write_scene(str(root), get_object("duck"), cams, stretch_frame=3)
    return root, cams, load_views(str(root), 64)


def _copy(clean, tmp_path):
    root = tmp_path / "scene"
    shutil.copytree(clean[0], root)
    return root


def _frames(root):
    return json.load(open(root / "transforms.json"))


def _write(root, spec):
    json.dump(spec, open(root / "transforms.json", "w"))


def test_a_frame_of_another_object_is_named_and_left_out_of_the_box(clean, tmp_path):
    _, cams, base = clean
    assert base.left_out == [] and base.notes == []  # the clean set: every frame agrees, the box as before
    root = _copy(clean, tmp_path)
    add_frame(str(root), get_object("table"), Cameras.from_spherical([25.0], [100.0], 1.8, FOV), "images/view_11.png")
    views = load_views(str(root), 64)
    assert views.names[-1] == "view_11.png" and len(views.images) == 12  # still in the outputs, in file-name order
    assert views.left_out == [11]
    assert len(views.notes) == 1 and views.notes[0].startswith("frame 'images/view_11.png': the other views do not "
                                                              "explain its mask")
    # the box is the clean set's: the same move and scale, so the same cameras for the 11 frames
    assert views.scale == pytest.approx(base.scale, rel=1e-4)
    assert torch.allclose(views.center, base.center, atol=1e-4)
    assert torch.allclose(views.cameras.c2w[:11], base.cameras.c2w, atol=1e-4)
    # what it would have been with the table's frame in it: carved to 0.8 of the object's
    size_all = object_box(views.cameras, views.masks)[1]
    size_kept = object_box(views.cameras[list(range(11))], views.masks[:11])[1]
    assert size_kept == pytest.approx(0.9, abs=0.01) and size_all < 0.85 * size_kept


def test_a_frame_posed_10_degrees_off_is_named_with_its_angle(clean, tmp_path):
    _, cams, base = clean
    root = _copy(clean, tmp_path)
    spec = _frames(root)
    frame = next(f for f in spec["frames"] if f["file_path"] == "images/view_4.png")
    m = torch.tensor(frame["transform_matrix"])
    a = math.radians(10.0)  # turned about its own up axis
    turn = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    m[:3, :3] = m[:3, :3] @ turn
    frame["transform_matrix"] = m.tolist()
    _write(root, spec)
    views = load_views(str(root), 64)
    assert views.left_out == [4]
    note = views.notes[0]
    assert note.startswith("frame 'images/view_4.png': its pose disagrees with the other views"), note
    angle = float(re.search(r"looks about (\d+)° away", note).group(1))
    assert 8 <= angle <= 12, note
    # the box from the other ten: within 2% of the clean set's (with the turned frame in it: carved to 0.8)
    assert views.scale == pytest.approx(base.scale, rel=0.02)
    assert float((views.center - base.center).abs().max()) * base.scale < 0.02
    others = [i for i in range(11) if i != 4]
    size_all = object_box(views.cameras, views.masks)[1]
    size_kept = object_box(views.cameras[others], views.masks[others])[1]
    assert size_kept == pytest.approx(0.9, abs=0.01) and size_all < 0.85 * size_kept


def test_views_whose_masks_share_no_point_are_refused_naming_the_frames(tmp_path):
    cams = Cameras.from_spherical([15.0] * 4, [0, 90, 180, 270], 1.8, FOV)
    write_scene(str(tmp_path), get_object("duck"), cams)
    spec = _frames(tmp_path)
    a = math.radians(20.0)  # every camera turned 20° the same way about its own up axis: opposite views' cones part
    turn = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    for f in spec["frames"]:
        m = torch.tensor(f["transform_matrix"])
        m[:3, :3] = m[:3, :3] @ turn
        f["transform_matrix"] = m.tolist()
    _write(tmp_path, spec)
    with pytest.raises(ValueError, match="no point lies inside every mask: these frames' masks have no point in "
                                         "common: 'images/view_0.png' and 'images/view_2.png'; 'images/view_1.png' "
                                         "and 'images/view_3.png'"):
        load_views(str(tmp_path), 64)


def test_files_outside_the_scene_folder_are_refused_naming_the_frame(clean, tmp_path):
    root = _copy(clean, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(root / "images" / "view_0.png", outside / "secret.png")
    spec = _frames(root)

    def refused(change, match):
        bad = json.loads(json.dumps(spec))
        frame = next(f for f in bad["frames"] if f["file_path"] == "images/view_2.png")
        change(frame)
        _write(root, bad)
        with pytest.raises(ValueError, match=match):
            load_views(str(root), 64)

    absolute = str(outside / "secret.png")
    refused(lambda f: f.update(file_path=absolute), f"frame '{re.escape(absolute)}': its image .* is an absolute path")
    refused(lambda f: f.update(file_path="../elsewhere/secret.png"),
            "frame '../elsewhere/secret.png': its image '../elsewhere/secret.png' climbs out of the scene's folder")
    refused(lambda f: f.update(file_path="images/../../elsewhere/secret"), "frame 'images/../../elsewhere/secret'.*"
                                                                          "climbs out")
    refused(lambda f: f.update(mask_path="../elsewhere/secret.png"),
            "frame 'images/view_2.png': its mask '../elsewhere/secret.png' climbs out")
    os.symlink(outside / "secret.png", root / "images" / "link.png")
    refused(lambda f: f.update(file_path="images/link.png"), "frame 'images/link.png'.*symbolic link .*leads out")
    os.symlink(outside, root / "linked")
    refused(lambda f: f.update(file_path="linked/secret"), "frame 'linked/secret'.*symbolic link")
    # a link that stays inside the folder is a file of the scene
    os.symlink(root / "images" / "view_2.png", root / "images" / "alias.png")
    good = json.loads(json.dumps(spec))
    next(f for f in good["frames"] if f["file_path"] == "images/view_2.png")["file_path"] = "images/alias.png"
    _write(root, good)
    views = load_views(str(root), 64)
    assert "alias.png" in views.names and views.left_out == []


def test_reference_views_masks_name_the_view_they_cannot_read():
    masks = torch.zeros(4, 32, 32)
    masks[:, 8:24, 8:24] = 1.0
    masks[2] = 0.5  # neither convention
    with pytest.raises(ValueError, match=r"the mask of view 2 of 4 \(counting from 0, 'view_2.png'\) is ambiguous: "
                                         r"along the image border it is 0\.50"):
        object_masks(masks, 4, (32, 32), [f"view_{i}.png" for i in range(4)])
    with pytest.raises(ValueError, match=r"the mask of view 2 of 4 \(counting from 0\) is ambiguous"):
        object_masks(masks, 4, (32, 32))
    inverted, notes = object_masks(1 - masks[:1], 4, (32, 32))  # one mask for all, Load Image's convention
    assert inverted.shape == (4, 32, 32) and torch.equal(inverted[3], masks[0]) and len(notes) == 1
