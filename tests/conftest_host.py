"""One real ComfyUI server (with Distill3D loaded) for the whole test session; see scripts/comfy_host.py."""
import os

import pytest

from comfy_host import ComfyHost, load_workflow, ui_to_api
from hostutil import WORKFLOW_DIR


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
