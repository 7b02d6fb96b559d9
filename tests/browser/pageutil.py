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


# What a user sees of the loaded graph at its saved view: for every node, whether its title bar lies on the page and
# is not covered by anything (the frontend's toolbars, side bar, minimap, another node's DOM widget: probed with
# elementFromPoint at five points of the title bar), whether it is at least as large as the frontend computes it
# (else widgets are clipped), and which nodes overlap; the groups and the scale.
LAYOUT_REPORT = """() => {
    const c = app.canvas, ds = c.ds, el = c.canvas, r = el.getBoundingClientRect();
    const toPage = (x, y) => [r.x + (x + ds.offset[0]) * ds.scale, r.y + (y + ds.offset[1]) * ds.scale];
    const T = LiteGraph.NODE_TITLE_HEIGHT;
    const nodes = app.graph._nodes.map(n => {
        const collapsed = !!(n.flags && n.flags.collapsed);
        const w = collapsed ? (n._collapsed_width || LiteGraph.NODE_COLLAPSED_WIDTH || 80) : n.size[0];
        const [x0, y0] = toPage(n.pos[0], n.pos[1] - T), [x1, y1] = toPage(n.pos[0] + w, n.pos[1]);
        const probes = [[x0 + 4, y0 + 4], [x1 - 4, y0 + 4], [x0 + 4, y1 - 4], [x1 - 4, y1 - 4],
                        [(x0 + x1) / 2, (y0 + y1) / 2]];
        const covered = probes.map(([x, y]) => {
            if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) return 'off the page';
            const hit = document.elementFromPoint(x, y);
            return hit === el ? null : (hit ? (hit.className && hit.className.baseVal === undefined ?
                String(hit.className).slice(0, 60) : hit.tagName) || hit.tagName : 'nothing');
        }).filter(v => v);
        const need = collapsed ? [0, 0] : n.computeSize();
        return {id: n.id, type: n.type, title: n.title, collapsed, covered,
                box: collapsed ? [n.pos[0], n.pos[1] - T, w, T] : [n.pos[0], n.pos[1] - T, n.size[0], n.size[1] + T],
                clipped: !collapsed && (n.size[0] < need[0] - 1 || n.size[1] < need[1] - 1), size: [...n.size],
                need: [...need]};
    });
    const overlaps = [];
    for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i].box, b = nodes[j].box;
        if (a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3])
            overlaps.push([nodes[i].title, nodes[j].title]);
    }
    const groups = (app.graph._groups || app.graph.groups || []).map(g => g.title);
    return {scale: ds.scale, nodes, overlaps, groups};
}"""


def layout_report(page) -> dict:
    """LAYOUT_REPORT, after closing the dialogs and notification cards a load raises (a GPU workflow's missing-model
    dialog on 1.32.9, its card over the top right of the canvas on 1.49.6)."""
    page.evaluate("""() => document.querySelectorAll('[data-testid="error-overlay-dismiss"], .p-dialog-close-button')
        .forEach(b => b.click())""")
    page.wait_for_timeout(300)
    return page.evaluate(LAYOUT_REPORT)


def close_dialogs(page):
    """Close every dialog on the page (1.32.9's template browser closes only by its own x button, an unlabeled
    button holding a pi-times icon; Escape closes 1.49.6's) and wait until none is shown."""
    for _ in range(3):
        page.keyboard.press("Escape")
        page.evaluate("""() => document.querySelectorAll(
            '.p-dialog-close-button, .p-dialog [aria-label="Close"], .p-dialog button:has(> i.pi-times)')
            .forEach(b => b.click())""")
        page.wait_for_timeout(300)
        if not page.evaluate("() => [...document.querySelectorAll('.p-dialog, [role=dialog]')]"
                             ".some(d => d.getBoundingClientRect().width > 0)"):
            return
    raise AssertionError("a dialog stays open: " + page.evaluate(
        "() => [...document.querySelectorAll('.p-dialog, [role=dialog]')].map(d => d.innerText.slice(0, 120))"
        ".join(' | ')"))


def open_pack_templates(page, pack: str = "Distill3D") -> list[dict]:
    """Open the template browser as the menu's Browse Templates does, choose the pack's category, and read every
    card as a user sees it: its title and whether its thumbnail loaded (the frontends fetch it and show it as a
    blob: image; a failed fetch shows the default placeholder)."""
    page.evaluate("""() => document.querySelectorAll('.p-dialog-close-button').forEach(b => b.click())""")
    page.evaluate("async () => { await app.extensionManager.command.execute('Comfy.BrowseTemplates'); }")
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name=pack, exact=True).first.click()
    page.wait_for_selector('[data-testid^="template-workflow-"]:not([data-testid="template-workflows-content"])',
                           timeout=30_000)
    cards = page.locator('[data-testid^="template-workflow-"]:not([data-testid="template-workflows-content"])')
    out = []
    for i in range(cards.count()):
        card = cards.nth(i)
        card.scroll_into_view_if_needed()
        try:
            page.wait_for_function("""(c) => [...c.querySelectorAll('img')].some(i => i.complete &&
                (i.src.startsWith('blob:') ? i.naturalWidth > 0 : i.src.includes('default-template')))""",
                                   arg=card.element_handle(), timeout=10_000)
        except Exception:
            pass
        out.append(card.evaluate("""(c) => ({
            title: (c.querySelector('h3') || {}).title || (c.querySelector('h3') || c).innerText.split('\\n')[0],
            testid: c.dataset.testid,
            loaded: [...c.querySelectorAll('img')].some(i => i.src.startsWith('blob:') && i.complete &&
                                                        i.naturalWidth > 0),
            placeholder: [...c.querySelectorAll('img')].some(i => i.src.includes('default-template')),
        })"""))
    return out
