"""Results carry their graph as ComfyUI's own savers write it: the GLB's asset.extras (SaveGLB) and the MP4's
container tags (Save Video), each value JSON text; read back here by ports of the page's own readers
(tests/shared_results.py), and by trimesh / the pack's loader."""
import json

import numpy as np
import pytest
import torch

from core.cameras import orbit
from core.mesh import Mesh
from core.mesh.export import (GLB_METADATA_WINDOW, encode, glb_asset_extras, glb_graph_readable, load_mesh,
                              read_glb, save_mesh)
from core.mesh.texture import bake
from core.render.raster import render_mesh
from core.video import decode_frame_count, encode_mp4, read_metadata
from core.world import get_object, true_mesh
from shared_results import glb_graph, mp4_graph

WORKFLOW = {"last_node_id": 2, "nodes": [{"id": 1, "type": "Distill3DWorldObject", "widgets_values": ["duck", ""]},
                                         {"id": 2, "type": "Distill3DSaveMesh",
                                          "widgets_values": ["distill3d/ünïcode", "glb"]}],
            "links": [], "version": 0.4}
PROMPT = {"1": {"class_type": "Distill3DWorldObject", "inputs": {"object": "duck", "prompt": ""}}}
# what nodes/mesh.graph_metadata makes of the hidden inputs: ComfyUI's SaveGLB writes json.dumps of each
EXTRAS = {"prompt": json.dumps(PROMPT), "workflow": json.dumps(WORKFLOW)}


@pytest.fixture(scope="module")
def duck():
    return true_mesh(get_object("duck"), 48)


def test_glb_carries_the_graph_in_asset_extras_and_still_loads(tmp_path, duck):
    textured = bake(duck, None, 128)
    for mesh in (duck, textured):
        plain, tagged = encode(mesh, "glb"), encode(mesh, "glb", EXTRAS)
        assert glb_asset_extras(plain) == {}
        assert glb_asset_extras(tagged) == EXTRAS  # exactly SaveGLB's layout: JSON text under "prompt", "workflow"
        assert read_glb(tagged)[0]["asset"]["version"] == "2.0"
        assert glb_graph(tagged) == {"workflow": WORKFLOW, "prompt": PROMPT} and glb_graph(plain) == {}
        a, b = load_mesh(tagged, "glb"), load_mesh(plain, "glb")  # trimesh reads it, the same mesh as without
        assert torch.equal(a.vertices, b.vertices) and torch.equal(a.faces, b.faces)
        if mesh.textured:
            (image,) = read_glb(tagged)[0]["images"]
            assert image["uri"].startswith("data:image/png;base64,")  # still embedded for the offline page
            assert torch.equal(a.texture, b.texture) and torch.equal(a.uv, b.uv)
        else:
            assert torch.allclose(a.vertex_colors, b.vertex_colors)
    path = save_mesh(textured, str(tmp_path), "d/m", "glb", asset_extras=EXTRAS)
    assert glb_graph(open(path, "rb").read())["workflow"] == WORKFLOW
    for fmt in ("obj", "ply"):  # ComfyUI writes no graph into these; neither do we (and they still save)
        assert b"Distill3DWorldObject" not in encode(duck, fmt, EXTRAS)


def test_a_texture_too_large_for_the_pages_window_stays_in_the_binary_chunk(duck):
    """The page reads the first MiB of a dropped GLB: a data: URI texture past it would hide the graph, so such a
    texture stays in the binary chunk (ComfyUI's SaveGLB's layout); without a graph it is embedded as before."""
    noise = torch.from_numpy(np.random.default_rng(0).random((640, 640, 3), dtype=np.float32))
    big = Mesh(duck.vertices, duck.faces, None, torch.rand(duck.vertices.shape[0], 2), noise)
    tagged, plain = encode(big, "glb", EXTRAS), encode(big, "glb")
    assert not glb_graph_readable(plain) and len(plain) > GLB_METADATA_WINDOW
    assert glb_graph_readable(tagged) and glb_graph(tagged)["prompt"] == PROMPT
    (image,) = read_glb(tagged)[0]["images"]
    assert "bufferView" in image and "uri" not in image
    assert read_glb(plain)[0]["images"][0]["uri"].startswith("data:")
    a, b = load_mesh(tagged, "glb"), load_mesh(plain, "glb")
    assert torch.equal(a.texture, b.texture) and torch.equal(a.uv, b.uv) and torch.equal(a.faces, b.faces)


def test_mp4_carries_the_graph_in_its_container_tags(duck):
    frames = torch.cat([render_mesh(duck, orbit(3)[i], 32).rgb for i in range(3)])
    tagged, plain = encode_mp4(frames, 6, EXTRAS), encode_mp4(frames, 6)
    tags = read_metadata(tagged)
    assert tags["prompt"] == EXTRAS["prompt"] and tags["workflow"] == EXTRAS["workflow"]
    assert mp4_graph(tagged) == {"prompt": PROMPT, "workflow": WORKFLOW}
    assert "prompt" not in read_metadata(plain) and mp4_graph(plain) == {}
    assert decode_frame_count(tagged) == 3
    with pytest.raises(TypeError, match="must be text"):
        encode_mp4(frames, 6, {"workflow": WORKFLOW})
