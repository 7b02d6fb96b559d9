"""The real ComfyUI page in headless Chromium, one per test module and host (see pageutil for its helpers)."""
import os

import pytest

from pageutil import CHROMIUM, CHROMIUM_ARGS, VIEWPORT


@pytest.fixture(scope="module")
def page(host):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: the README's test command installs it (apt-get install "
                    "chromium), or set D3_CHROMIUM")
    host.post("/settings/Comfy.TutorialCompleted", True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport=VIEWPORT)
        ctx.add_init_script("localStorage.setItem('vueNodesBannerDismissed', 'true')")
        pg = ctx.new_page()
        pg.console_errors = []
        pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
        pg.goto(host.url, wait_until="domcontentloaded")
        pg.wait_for_selector("canvas#graph-canvas", timeout=120_000)
        pg.wait_for_function("() => window.app && window.app.graph && window.LiteGraph && "
                             "LiteGraph.registered_node_types['Distill3DSaveMesh']", timeout=120_000)
        yield pg
        browser.close()
