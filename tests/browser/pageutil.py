"""Helpers of the browser tests: load a graph as a user would and read every sign of trouble, queue it as the Run
button does."""
import os
import time

import pytest

from comfy_host import ROOT

CHROMIUM = os.environ.get("D3_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT_DIR = os.path.join(ROOT, "out", "screenshots")
VIEWPORT = {"width": 1920, "height": 1080}  # the page size the shipped workflows' saved views are laid out for
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def load_graph(page, workflow: dict) -> dict:
    """Load a UI workflow as a user would (earlier dialogs and notifications closed first) and read every sign of
    trouble either frontend shows: dialogs (1.32.9), error notification cards (1.49.6), nodes in error (drawn with
    a red outline) and node types the page does not know."""
    page.evaluate("""() => {
        document.querySelectorAll('.p-dialog-close-button').forEach(b => b.click());
        document.querySelectorAll('[data-testid="error-overlay-dismiss"]').forEach(b => b.click());
    }""")
    page.wait_for_timeout(200)
    page.evaluate("async (wf) => { await app.loadGraphData(wf); }", workflow)
    page.wait_for_timeout(500)
    return page.evaluate("""() => ({
        nodes: app.graph._nodes.map(n => [n.type, !!n.has_errors]),
        dialogs: Array.from(document.querySelectorAll('.p-dialog')).map(d => d.innerText.slice(0, 300)),
        cards: Array.from(document.querySelectorAll('[data-testid="error-overlay"]')).map(d => d.innerText.slice(0, 300)),
        unknown: app.graph._nodes.filter(n => !LiteGraph.registered_node_types[n.type]).map(n => n.type),
    })""")


def queue_and_wait(page, host, timeout: float) -> dict:
    """Queue the page's graph as the Run button does and wait for its history entry; it must succeed."""
    before = set(host.get("/history?max_items=1000"))
    page.evaluate("async () => { await app.queuePrompt(0, 1); }")
    deadline = time.time() + timeout
    while time.time() < deadline:
        new = set(host.get("/history?max_items=1000")) - before
        if new:
            entry = next(iter(host.get(f"/history/{new.pop()}").values()))
            if entry["status"].get("completed") is not None:
                break
        time.sleep(0.5)
    else:
        pytest.fail("the prompt queued from the page did not finish")
    assert entry["status"]["status_str"] == "success", entry["status"]
    return entry
