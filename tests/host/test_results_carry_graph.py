"""Results carry their graph inside a real ComfyUI, as its own savers do: Save Mesh's GLB (asset.extras) and Render
Turntable's MP4 (container tags) hold the prompt and the workflow the page sent, read back here as the page reads a
dropped file (tests/shared_results.py); with --disable-metadata neither holds anything. The turntable's result is
ComfyUI's own video preview ({"images": [the MP4], "animated": [true]}), which both frontends play on the node."""
import uuid

import pytest

from comfy_host import HOST_DIRS, ComfyHost
from core.video import decode_frame_count, read_metadata
from core.mesh.export import glb_asset_extras, load_mesh
from shared_results import glb_graph, mp4_graph, shared_results_prompt

# the page's graph as the frontend sends it in extra_data.extra_pnginfo (a stand-in: the browser test sends a real one)
WORKFLOW = {"last_node_id": 4, "nodes": [{"id": i, "type": t} for i, t in
                                         enumerate(["Distill3DWorldObject", "Distill3DWorldTrueMesh",
                                                    "Distill3DSaveMesh", "Distill3DRenderTurntable"], 1)],
            "links": [], "extra": {"note": "ünïcode"}, "version": 0.4}


def _run(host, prompt: dict, workflow: dict | None) -> dict:
    body = {"prompt": prompt, "client_id": uuid.uuid4().hex}
    if workflow is not None:
        body["extra_data"] = {"extra_pnginfo": {"workflow": workflow}}
    status, answer = host.post("/prompt", body)
    assert status == 200 and not answer.get("node_errors"), answer
    entry = host.wait(answer["prompt_id"], timeout=300)
    assert entry["status"]["status_str"] == "success", entry["status"]
    return entry


def _results(host, entry) -> tuple[bytes, bytes]:
    (glb,) = [f for f in host.output_files(entry) if f["filename"].endswith(".glb")]
    (mp4,) = [f for f in host.output_files(entry) if f["filename"].endswith(".mp4")]
    return host.view(glb), host.view(mp4)


@pytest.mark.both_hosts
def test_glb_and_mp4_carry_the_prompt_and_the_workflow(host):
    prompt = shared_results_prompt(f"tests/shared_{uuid.uuid4().hex[:8]}")
    entry = _run(host, prompt, WORKFLOW)
    turntable = entry["outputs"]["4"]
    assert turntable["animated"] == [True] and turntable["images"][0]["filename"].endswith(".mp4"), turntable
    assert "videos" not in turntable
    glb, mp4 = _results(host, entry)
    assert glb_graph(glb) == {"prompt": prompt, "workflow": WORKFLOW}
    assert mp4_graph(mp4) == {"prompt": prompt, "workflow": WORKFLOW}
    assert set(glb_asset_extras(glb)) == {"prompt", "workflow"}  # JSON text, as SaveGLB writes it
    assert load_mesh(glb, "glb").num_faces > 0 and decode_frame_count(mp4) == 3
    # a prompt sent without the page's graph (the API) carries the prompt only, as ComfyUI's savers do
    glb, mp4 = _results(host, _run(host, shared_results_prompt(f"tests/shared_{uuid.uuid4().hex[:8]}"), None))
    assert set(glb_asset_extras(glb)) == {"prompt"} and set(mp4_graph(mp4)) == {"prompt"}


def test_disable_metadata_writes_no_graph(host):
    """ComfyUI started with --disable-metadata: the GLB has no asset.extras, the MP4 no prompt / workflow tags."""
    with ComfyHost(host_dir=HOST_DIRS[host.name], extra_args=["--disable-metadata"]) as bare:
        glb, mp4 = _results(bare, _run(bare, shared_results_prompt(f"tests/bare_{uuid.uuid4().hex[:8]}"), WORKFLOW))
    assert glb_asset_extras(glb) == {} and glb_graph(glb) == {}
    assert not {"prompt", "workflow"} & set(read_metadata(mp4)) and mp4_graph(mp4) == {}
    assert load_mesh(glb, "glb").num_faces > 0 and decode_frame_count(mp4) == 3
