"""One real ComfyUI server (with Distill3D loaded) for the whole test session; see scripts/comfy_host.py."""
import json
import os

import pytest

from comfy_host import ROOT, ComfyHost, load_workflow, ui_to_api

WORKFLOW_DIR = os.path.join(ROOT, "workflows")


def shipped_workflows() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(WORKFLOW_DIR) if f.endswith(".json"))


@pytest.fixture(scope="session")
def host():
    h = ComfyHost()
    try:
        h.start()
    except SystemExit as e:  # host not set up: a failure with the fix, never a silent skip
        pytest.fail(f"{e}. The README's test command sets it up.")
    yield h
    h.stop()


@pytest.fixture(scope="session")
def object_info(host):
    return host.object_info()


@pytest.fixture(scope="session")
def api_workflow(object_info):
    def make(name: str) -> dict:
        return ui_to_api(load_workflow(os.path.join(WORKFLOW_DIR, f"{name}.json")), object_info)
    return make


def find_node(api: dict, class_type: str) -> str:
    ids = [k for k, v in api.items() if v["class_type"] == class_type]
    assert ids, f"no {class_type} in workflow: {json.dumps(api)[:500]}"
    return ids[0]
