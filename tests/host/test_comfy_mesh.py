"""Distill3D meshes handed to ComfyUI's own MESH type and saved by ComfyUI's own SaveGLB, on both hosts.

ComfyUI 0.33.0's MESH carries uvs, vertex colors and a texture, and its SaveGLB writes them (TEXCOORD_0, COLOR_0,
an embedded PNG): there the GLB must reopen textured / colored and render like the object. ComfyUI 0.3.75's MESH is
vertices and faces only: there the same graph must still run and give the object's shape."""
import pytest
import torch

from core.evaluate import held_out_views
from core.mesh import Mesh
from core.mesh.export import load_mesh
from core.metrics import mesh_iou, psnr
from core.render.raster import render_mesh
from core.world import get_object, occupancy, render_object

OBJECT = "duck"


def _prompt() -> dict:
    return {
        "1": {"class_type": "Distill3DWorldObject", "inputs": {"object": OBJECT, "prompt": ""}},
        "2": {"class_type": "Distill3DWorldTrueMesh", "inputs": {"object": ["1", 0], "resolution": 96}},
        "3": {"class_type": "Distill3DBakeTexture", "inputs": {"mesh": ["2", 0], "texture_size": 256, "padding": 4}},
        "4": {"class_type": "Distill3DToComfyMesh", "inputs": {"mesh": ["3", 0]}},
        "5": {"class_type": "SaveGLB", "inputs": {"mesh": ["4", 0], "filename_prefix": "tests/comfy_textured"}},
        "6": {"class_type": "Distill3DToComfyMesh", "inputs": {"mesh": ["2", 0]}},
        "7": {"class_type": "SaveGLB", "inputs": {"mesh": ["6", 0], "filename_prefix": "tests/comfy_colored"}},
    }


@pytest.mark.both_hosts
def test_comfyui_savegl_b_of_our_mesh_reopens_with_texture_and_colors_where_the_host_carries_them(host):
    entry = host.run(_prompt())
    assert entry["status"]["status_str"] == "success", entry["status"]
    files = {f["node"]: f for f in host.output_files(entry)}
    textured = load_mesh(host.view(files["5"]), "glb")
    colored = load_mesh(host.view(files["7"]), "glb")
    obj = get_object(OBJECT)
    for mesh in (textured, colored):
        assert mesh_iou(mesh, lambda p: occupancy(obj, p), 96) >= 0.95
    carries = host.version != "0.3.75"
    print(f"COMFY MESH on ComfyUI {host.version}: textured={textured.textured} "
          f"colored={colored.vertex_colors is not None}")
    if not carries:  # the older MESH: geometry only, and the graph still runs
        assert not textured.textured and colored.vertex_colors is None
        return
    assert textured.textured and textured.texture.shape[:2] == (256, 256)
    assert colored.vertex_colors is not None
    views = held_out_views(4)
    truth = render_object(obj, views, 64, shading="albedo").rgb
    scores = {name: psnr(render_mesh(m, views, 64).rgb, truth) for name, m in
              (("textured", textured), ("colored", colored))}
    # the floor's negative control: the same texture read with v flipped (glTF's convention missed)
    flipped = Mesh(textured.vertices, textured.faces, None,
                   torch.stack([textured.uv[:, 0], 1 - textured.uv[:, 1]], -1), textured.texture)
    scores["v flipped"] = psnr(render_mesh(flipped, views, 64).rgb, truth)
    print(f"COMFY MESH PSNR vs the true albedo: {scores}")
    assert scores["textured"] >= 31 and scores["colored"] >= 31, scores  # measured 34.1 and 34.2 dB
    assert scores["v flipped"] < 31, scores  # measured 27.6 dB


@pytest.mark.newest_only
def test_a_mesh_unwrapped_by_comfyuis_own_node_is_painted_through_its_uvs(host):
    """ComfyUI's MESH from its own Unwrap Mesh node (its uv atlas, no texture) goes into Paint Texture through From
    ComfyUI MESH; the painted GLB renders like the object — which it only does if ComfyUI's uv convention (v down)
    was read right both ways; it also goes back out through ComfyUI's SaveGLB."""
    prompt = {
        "1": {"class_type": "Distill3DWorldObject", "inputs": {"object": OBJECT, "prompt": ""}},
        "2": {"class_type": "Distill3DWorldTrueMesh", "inputs": {"object": ["1", 0], "resolution": 64}},
        "3": {"class_type": "Distill3DToComfyMesh", "inputs": {"mesh": ["2", 0]}},
        "4": {"class_type": "UnwrapMesh", "inputs": {"mesh": ["3", 0], "segmenter": "adaptive", "resolution": 512,
                                                     "padding": 2, "weld_distance": 0.0}},
        "5": {"class_type": "Distill3DFromComfyMesh", "inputs": {"mesh": ["4", 0]}},
        "6": {"class_type": "Distill3DWorldPainter", "inputs": {"object": ["1", 0], "brightness_jitter": 0.0,
                                                                "seed": 0}},
        "12": {"class_type": "Distill3DPaintViewSequence", "inputs": {
            "order": "coverage", "views": 10, "elevation": 15.0, "distance": 1.8, "fov": 40.0, "mesh": ["5", 0]}},
        "7": {"class_type": "Distill3DPaintTexture", "inputs": {
            "mesh": ["5", 0], "painter": ["6", 0], "cameras": ["12", 0], "texture_size": 256, "resolution": 128,
            "blend": "adaptive", "blend_band": 0.04, "optimize_steps": 0}},
        "8": {"class_type": "Distill3DSaveMesh", "inputs": {"mesh": ["7", 0], "filename_prefix": "tests/painted",
                                                            "format": "glb"}},
        "9": {"class_type": "Distill3DToComfyMesh", "inputs": {"mesh": ["7", 0]}},
        "10": {"class_type": "SaveGLB", "inputs": {"mesh": ["9", 0], "filename_prefix": "tests/painted_comfy"}},
    }
    entry = host.run(prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    files = {f["node"]: f for f in host.output_files(entry)}
    obj = get_object(OBJECT)
    views = held_out_views(4)
    truth = render_object(obj, views, 96, shading="albedo").rgb
    for node in ("8", "10"):
        painted = load_mesh(host.view(files[node]), "glb")
        assert painted.textured and painted.texture.shape[:2] == (256, 256)
        got = psnr(render_mesh(painted, views, 96).rgb, truth)
        print(f"painted through ComfyUI's Unwrap Mesh uvs, saved by node {node}: PSNR {got:.2f} dB, "
              f"{painted.num_vertices} vertices")
        assert got >= 28.0, got


def test_bad_mesh_files_are_refused_clearly_and_the_server_keeps_serving(host):
    """Load Mesh File: a path leaving the input folder is a node error naming the folder; a file that is no mesh
    fails naming the file (core's load_mesh says so for every caller); the server then still runs a graph."""
    import os
    status, body = host.queue({"1": {"class_type": "Distill3DLoadMeshFile", "inputs": {"file": "../secret.glb"}},
                               "2": {"class_type": "Distill3DSaveMesh", "inputs": {
                                   "mesh": ["1", 0], "filename_prefix": "tests/x", "format": "glb"}}})
    assert status == 400 and "leaves ComfyUI's input folder" in str(body), body
    bad = os.path.join(host.base, "input", "distill3d_test_not_a_mesh.glb")
    with open(bad, "wb") as f:
        f.write(b"this is not a glb")
    entry = host.run({"1": {"class_type": "Distill3DLoadMeshFile", "inputs": {"file": os.path.basename(bad)}},
                      "2": {"class_type": "Distill3DSaveMesh", "inputs": {
                          "mesh": ["1", 0], "filename_prefix": "tests/x", "format": "glb"}}})
    assert entry["status"]["status_str"] == "error"
    assert "distill3d_test_not_a_mesh.glb could not be read as a mesh" in str(entry["status"]["messages"])
    entry = host.run({"1": {"class_type": "Distill3DWorldObject", "inputs": {"object": OBJECT, "prompt": ""}},
                      "2": {"class_type": "Distill3DWorldTrueMesh", "inputs": {"object": ["1", 0], "resolution": 32}},
                      "3": {"class_type": "Distill3DSaveMesh", "inputs": {
                          "mesh": ["2", 0], "filename_prefix": "tests/after_bad_mesh", "format": "glb"}}})
    assert entry["status"]["status_str"] == "success", entry["status"]
