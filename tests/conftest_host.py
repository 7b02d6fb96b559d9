"""Real ComfyUI servers (with Distill3D loaded) for the test session, one per host; see scripts/comfy_host.py.

Two hosts are set up by the README's test command: ComfyUI 0.3.75 (every host and browser test) and the newest
ComfyUI source (tests marked `both_hosts` or `newest_only`). A test that uses the `host` fixture (directly or
through object_info / api_workflow / page) runs once per host it is marked for; its id ends in the host's name.
"""

import pytest

from comfy_host import HOST_DIRS, ComfyHost, ui_to_api
from hostutil import shipped_workflow

DEFAULT_HOST = "0.3.75"


def pytest_configure(config):
    config.addinivalue_line("markers", "both_hosts: run on ComfyUI 0.3.75 and on the newest ComfyUI")
    config.addinivalue_line("markers", "newest_only: run on the newest ComfyUI only (what 0.3.75 cannot show)")


def pytest_generate_tests(metafunc):
    if "host" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("newest_only"):
        hosts = ["newest"]
    elif metafunc.definition.get_closest_marker("both_hosts"):
        hosts = [DEFAULT_HOST, "newest"]
    else:
        hosts = [DEFAULT_HOST]
    metafunc.parametrize("host", hosts, indirect=True, scope="session")


@pytest.fixture(scope="session")
def host(request):
    name = getattr(request, "param", DEFAULT_HOST)
    try:
        h = ComfyHost(host_dir=HOST_DIRS[name])
        h.start()
    except SystemExit as e:  # host not set up: a failure with the fix, never a silent skip
        pytest.fail(f"{e}. The README's test command sets it up.")
    h.name = name
    yield h
    h.stop()


@pytest.fixture(scope="session")
def object_info(host):
    return host.object_info()


@pytest.fixture(scope="session")
def api_workflow(object_info):
    def make(name: str) -> dict:
        return ui_to_api(shipped_workflow(name), object_info)
    return make
