"""Test-wide setup: make the pack's `core` importable as a top-level package (core has no ComfyUI imports)."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
SCRIPTS = os.path.join(ROOT, "scripts")
if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)

pytest_plugins = ["conftest_host"]

# scripts/test.sh runs two pytest-xdist workers on this 2-core machine: one torch thread each gives more throughput
# than one process with two threads on these small tensors (bench/bench_test_threads.py: 1.37x, start-up included)
if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch
    torch.set_num_threads(1)


def pytest_configure(config):
    config.addinivalue_line("markers", "heavy: a test of a minute or more; started first so that the two workers "
                                       "finish together")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Heavy tests first (longest-first keeps the parallel workers balanced), each group in pytest's order (which
    keeps the tests of one host together, so its server starts once per worker)."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("heavy") else 1)
