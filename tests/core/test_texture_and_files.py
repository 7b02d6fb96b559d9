import os

import pytest
import torch

from core.cameras import orbit
from core.evaluate import held_out_views
from core.mesh import Mesh
from core.mesh.clean import remove_small_components
from core.mesh.export import encode, load_mesh, save_mesh
from core.mesh.extract import marching_cubes
from core.mesh.texture import bake, dilate, sample_texture
from core.metrics import psnr
from core.render.raster import render_mesh
from core.video import decode_frame_count, encode_mp4
from core.world import get_object, render_object, true_mesh


@pytest.fixture(scope="module")
def baked():
    obj = get_object("duck")
    return obj, bake(true_mesh(obj, 96), lambda p: obj.shape(p)[1], 512)


@pytest.mark.parametrize("fmt", ["glb", "obj"])
def test_baked_texture_survives_export_and_renders_like_the_object(tmp_path, baked, fmt):
    obj, mesh = baked
    assert mesh.textured and (mesh.uv >= 0).all() and (mesh.uv <= 1).all()
    path = save_mesh(mesh, str(tmp_path), "m", fmt)
    if fmt == "obj":
        assert sorted(os.listdir(tmp_path)) == ["m_00001_.mtl", "m_00001_.obj", "m_00001_.png"]
        assert "m_00001_.png" in open(tmp_path / "m_00001_.mtl").read()
    back = load_mesh(path)
    assert back.textured
    views = held_out_views()
    value = psnr(render_mesh(back, views, 64).rgb, render_object(obj, views, 64, shading="albedo").rgb)
    assert value >= 22, value


def test_obj_sets_share_one_counter_and_never_overwrite(tmp_path, baked):
    _, mesh = baked
    save_mesh(mesh, str(tmp_path), "m", "obj")
    save_mesh(mesh, str(tmp_path), "m", "glb")
    save_mesh(mesh, str(tmp_path), "m", "obj")
    names = sorted(os.listdir(tmp_path))
    assert names == ["m_00001_.mtl", "m_00001_.obj", "m_00001_.png", "m_00002_.glb", "m_00003_.mtl",
                     "m_00003_.obj", "m_00003_.png"]


def test_texture_sampling_and_dilation():
    tex = torch.zeros(4, 4, 3)
    tex[0, 0] = torch.tensor([1.0, 0.0, 0.0])  # top-left texel = uv (0, 1)
    assert torch.allclose(sample_texture(tex, torch.tensor([[0.125, 0.875]])), torch.tensor([[1.0, 0.0, 0.0]]))
    filled = torch.zeros(4, 4, dtype=torch.bool)
    filled[0, 0] = True
    grown = dilate(tex, filled, 1)
    assert torch.allclose(grown[1, 1], torch.tensor([1.0, 0.0, 0.0])) and grown[3, 3].sum() == 0


def test_small_floaters_are_removed():
    big = marching_cubes(lambda p: p.norm(dim=-1) - 0.3, 48)
    small = marching_cubes(lambda p: (p - torch.tensor([0.45, 0.45, 0.45])).norm(dim=-1) - 0.04, 48)
    both = Mesh(torch.cat([big.vertices, small.vertices]), torch.cat([big.faces, small.faces + big.num_vertices]))
    clean = remove_small_components(both, 0.05)
    assert clean.num_faces == big.num_faces and clean.num_vertices == big.num_vertices


def test_turntable_video_encodes_every_frame():
    obj = get_object("cube")
    frames = torch.cat([render_mesh(true_mesh(obj, 48), orbit(6)[i], 40).rgb for i in range(6)])
    data = encode_mp4(frames, 6)
    assert data[4:8] == b"ftyp" and decode_frame_count(data) == 6
    with pytest.raises(ValueError, match="non-empty"):
        encode_mp4(torch.zeros(0, 8, 8, 3))


def test_glb_texture_is_a_data_uri_and_the_file_stays_valid(baked):
    """Save Mesh's GLB carries its texture as a data: URI (ComfyUI's offline page refuses the blob: URL three.js
    makes for a binary-chunk image; tests/browser shows the painted texture in Preview3D): the JSON names no
    image bufferView, every accessor still points at a view inside the binary chunk, and trimesh reads back the
    same geometry and texture as from the binary-chunk original."""
    import json
    import struct
    from core.mesh.export import _trimesh, inline_glb_images
    _, mesh = baked
    data = encode(mesh, "glb")
    _, _, length = struct.unpack("<4sII", data[:12])
    json_len, _ = struct.unpack("<II", data[12:20])
    tree = json.loads(data[20:20 + json_len])
    bin_len, _ = struct.unpack("<II", data[20 + json_len:28 + json_len])
    assert length == len(data) == 28 + json_len + bin_len
    (image,) = tree["images"]
    assert image["uri"].startswith("data:image/png;base64,") and "bufferView" not in image
    for a in tree["accessors"]:
        v = tree["bufferViews"][a["bufferView"]]
        assert v["byteOffset"] + v["byteLength"] <= bin_len == tree["buffers"][0]["byteLength"]
    original = _trimesh(mesh, linear_colors=True).export(file_type="glb")
    assert b"\x89PNG" in original and b"\x89PNG" not in data  # the image moved, not copied
    a, b = load_mesh(data, "glb"), load_mesh(original, "glb")
    for x, y in ((a.vertices, b.vertices), (a.faces, b.faces), (a.uv, b.uv), (a.texture, b.texture)):
        assert torch.equal(x, y)
    assert inline_glb_images(data) == data  # nothing left to move
