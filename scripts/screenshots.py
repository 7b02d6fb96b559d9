#!/usr/bin/env python3
"""Screenshots of what a user meets first, in the real frontend (headless Chromium, a 1920x1080 page): the template
browser on the pack's category, and shipped workflows at their saved views.

    .host/venv/bin/python scripts/screenshots.py [--host newest|0.3.75] [names ...]

Writes out/screenshots/<host>_templates.png and out/screenshots/<host>_<name>.png and prints, for each workflow,
the scale it opens at from the template browser (1.49.6 fits the view; 1.32.9 keeps the saved one) and at its saved
view, and anything the browser tests would refuse there (covered titles, clipped widgets, overlaps).
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "browser"))
from build_workflows import TEMPLATES, workflow_file  # noqa: E402
from comfy_host import HOST_DIRS, ROOT, ComfyHost, load_workflow  # noqa: E402
from pageutil import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, close_dialogs, layout_report, load_graph, open_pack_templates  # noqa: E402

DEFAULT = ["dreamfusion_world", "dreamcraft3d_sd", "texture_paint_world"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", choices=sorted(HOST_DIRS), default="newest")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "screenshots"))
    ap.add_argument("names", nargs="*", default=DEFAULT)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    os.makedirs(args.out, exist_ok=True)
    with ComfyHost(host_dir=HOST_DIRS[args.host]) as host, sync_playwright() as pw:
        host.post("/settings/Comfy.TutorialCompleted", True)
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport=VIEWPORT)
        ctx.add_init_script("localStorage.setItem('vueNodesBannerDismissed', 'true')")
        page = ctx.new_page()
        page.goto(host.url, wait_until="domcontentloaded")
        page.wait_for_function("() => window.app && window.app.graph && "
                               "LiteGraph.registered_node_types['Distill3DSaveMesh']", timeout=120_000)
        page.wait_for_timeout(1000)
        label = f"comfyui-{host.version}"
        cards = open_pack_templates(page)
        path = os.path.join(args.out, f"{label}_templates.png")
        page.screenshot(path=path)
        print(f"{path}: {len(cards)} cards, {sum(c['loaded'] for c in cards)} thumbnails loaded")
        close_dialogs(page)
        for name in args.names:  # 1.49.6 fits the view itself when a template is opened from the dialog
            open_pack_templates(page)
            page.locator(f'[data-testid="template-workflow-{TEMPLATES[name].title}"]').click()
            page.wait_for_timeout(2500)
            print(f"{name}: opened from the template browser at scale "
                  f"{page.evaluate('() => app.canvas.ds.scale'):.3f}")
            close_dialogs(page)
        for name in args.names:
            load_graph(page, load_workflow(workflow_file(name)))
            page.wait_for_timeout(800)
            report = layout_report(page)
            path = os.path.join(args.out, f"{label}_{name}.png")
            page.screenshot(path=path)
            problems = ([n["title"] for n in report["nodes"] if n["covered"] or n["clipped"]], report["overlaps"])
            print(f"{path}: scale {report['scale']:.3f}, {len(report['nodes'])} nodes in {len(report['groups'])} "
                  f"groups; covered or clipped: {problems[0] or 'none'}; overlaps: {problems[1] or 'none'}")
        browser.close()


if __name__ == "__main__":
    main()
