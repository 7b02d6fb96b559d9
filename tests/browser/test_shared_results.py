"""Shared results in the real page (both frontends, 1.32.9 and 1.49.6): Render Turntable's MP4 plays in a <video> on
the node (ComfyUI's own video preview), and the GLB and the MP4 a run made, dropped on the page as a user drops a
file, restore the workflow that made them (the page reads asset.extras / udta.meta the same way on both; see
tests/shared_results.py)."""
import base64
import json
import struct
import uuid

import pytest

from core.mesh.export import read_glb
from pageutil import queue_and_wait
from shared_results import shared_results_prompt

TURNTABLE = "4"

# Drop `files` ([name, mime type, URL or base64 bytes]) on the graph canvas as the browser does for files dragged in
# from the desktop: a DragEvent whose DataTransfer holds them, dispatched on the canvas (the page's own listener on
# the document takes it, reads each file's workflow and loads it).
DROP = """async ([files]) => {
    const dt = new DataTransfer();
    for (const [name, type, source] of files) {
        const bytes = source.startsWith('/') ? await (await fetch(source)).arrayBuffer()
                                             : Uint8Array.from(atob(source), c => c.charCodeAt(0));
        dt.items.add(new File([bytes], name, {type}));
    }
    const r = app.canvas.canvas.getBoundingClientRect();
    app.canvas.canvas.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true,
        clientX: r.x + r.width / 2, clientY: r.y + r.height / 2}));
}"""

# the page's graph, as compared before the run and after a drop: node types and widget values
GRAPH = """() => app.graph._nodes.map(n => [n.type, (n.widgets || []).filter(w => w.serialize !== false)
                                                       .map(w => w.value)]).sort()"""


def _view_url(ref: dict) -> str:
    from urllib.parse import urlencode
    return "/api/view?" + urlencode({"filename": ref["filename"], "subfolder": ref["subfolder"], "type": "output"})


@pytest.fixture(scope="module")
def run(page, host):
    """The small graph loaded in the page and queued from it as the Run button does: (its graph, the history entry)."""
    page.evaluate("async (p) => { await app.loadApiJson(p, 'shared_results.json'); }",
                  shared_results_prompt(f"tests/shared_page_{uuid.uuid4().hex[:8]}"))
    graph = page.evaluate(GRAPH)
    assert [t for t, _ in graph] == sorted(["Distill3DWorldObject", "Distill3DWorldTrueMesh", "Distill3DSaveMesh",
                                            "Distill3DRenderTurntable"]), graph
    return graph, queue_and_wait(page, host, 180)


@pytest.mark.both_hosts
def test_the_turntable_plays_on_the_node(page, host, run):
    _, entry = run
    (mp4,) = entry["outputs"][TURNTABLE]["images"]
    # ComfyUI's video preview puts a <video> in a DOM widget on the node once the browser has loaded the file
    page.wait_for_function("""(name) => {
        const n = app.graph._nodes.find(n => n.type === 'Distill3DRenderTurntable');
        const v = n && n.videoContainer && n.videoContainer.querySelector('video');
        return v && v.src.includes(encodeURIComponent(name)) && v.readyState >= 2 && document.contains(v);
    }""", arg=mp4["filename"], timeout=30_000)
    video = page.evaluate("""() => {
        const n = app.graph._nodes.find(n => n.type === 'Distill3DRenderTurntable');
        const v = n.videoContainer.querySelector('video');
        return {widgets: n.widgets.map(w => w.name), width: v.videoWidth, height: v.videoHeight,
                duration: v.duration, videos: document.querySelectorAll('video').length};
    }""")
    print(f"TURNTABLE VIDEO on ComfyUI {host.version}: {video}")
    assert video["width"] == 32 and video["height"] == 32 and video["duration"] > 0, video


@pytest.mark.both_hosts
def test_dropped_glb_and_mp4_restore_the_workflow(page, host, run):
    graph, entry = run
    (glb,) = entry["outputs"]["3"]["3d"]
    (mp4,) = entry["outputs"][TURNTABLE]["images"]
    # the run's own prefix is among the widget values compared: the restored graph can only come from the files
    assert any(v and str(v[0]).startswith("tests/shared_page_") for t, v in graph if t == "Distill3DSaveMesh")
    # negative control: the same GLB without its asset.extras restores nothing (1.32.9 says it found no workflow,
    # 1.49.6 opens it in a Load 3D node); the graph, emptied first, gets no Distill3D node
    tree, binary = read_glb(host.view(glb))
    tree["asset"].pop("extras")
    text = json.dumps(tree).encode()
    text += b" " * (-len(text) % 4)
    bare = b"".join([struct.pack("<4sII", b"glTF", 2, 28 + len(text) + len(binary)),
                     struct.pack("<II", len(text), 0x4E4F534A), text, struct.pack("<II", len(binary), 0x004E4942),
                     binary])
    restored = {}
    for name, kind, source in [("bare.glb", "model/gltf-binary", base64.b64encode(bare).decode()),
                               (glb["filename"], "model/gltf-binary", _view_url(glb)),
                               (mp4["filename"], "video/mp4", _view_url(mp4))]:
        page.evaluate("() => { app.graph.clear(); app.graph.setDirtyCanvas(true, true); }")
        page.evaluate(DROP, [[[name, kind, source]]])
        if name == "bare.glb":
            page.wait_for_timeout(1500)
            types = page.evaluate("() => app.graph._nodes.map(n => n.type)")
            print(f"DROPPED a GLB without a graph on ComfyUI {host.version}: nodes {types}")
            assert not [t for t in types if t.startswith("Distill3D")], types
            continue
        page.wait_for_function("() => app.graph._nodes.length === 4", timeout=15_000)
        page.wait_for_timeout(300)
        restored[name] = page.evaluate(GRAPH)
        print(f"DROPPED {name} on ComfyUI {host.version}: {restored[name]}")
    for name, got in restored.items():
        assert got == graph, (name, got, graph)  # the same nodes with the same widget values as the run's graph
