"""Helpers shared by the host and browser tests."""
import json
import os

from comfy_host import ROOT

WORKFLOW_DIR = os.path.join(ROOT, "workflows")


def shipped_workflows() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(WORKFLOW_DIR) if f.endswith(".json"))


def find_node(api: dict, class_type: str) -> str:
    ids = [k for k, v in api.items() if v["class_type"] == class_type]
    assert ids, f"no {class_type} in workflow: {json.dumps(api)[:500]}"
    return ids[0]


RANDOM_SD15 = "distill3d_test_random_sd15.safetensors"


def random_sd15(host) -> str:
    """A randomly initialized full-size SD 1.5 checkpoint in the original layout, in the host's checkpoints folder
    (written once by tests/host/make_random_sd15.py); returns its name for Load Checkpoint."""
    import subprocess
    import sys
    path = os.path.join(host.base, "models", "checkpoints", RANDOM_SD15)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run([host.python, os.path.join(ROOT, "tests", "host", "make_random_sd15.py"),
                        "--comfyui", host.comfyui, "--out", path], check=True, stdout=sys.stdout)
    return RANDOM_SD15


TINY_MVDREAM = "distill3d_test_tiny_mvdream.safetensors"


def write_tiny_mvdream(path: str, *flags: str) -> str:
    """Write a random MVDream checkpoint in the original layout with tests/host/make_tiny_mvdream.py (ComfyUI's own
    LDM classes, run by the host's python); flags as that script's (--pt, --base sd15, --size sd21, ...)."""
    import subprocess
    from comfy_host import host_env
    env = host_env()
    subprocess.run([env["python"], os.path.join(ROOT, "tests", "host", "make_tiny_mvdream.py"),
                    "--comfyui", env["comfyui"], "--out", path, *flags], check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    return path


def tiny_mvdream(host, name: str = TINY_MVDREAM, *flags: str) -> str:
    """A tiny random MVDream checkpoint in the host's models/mvdream, written once; returns its name for the MVDream
    Prior."""
    path = os.path.join(host.base, "models", "mvdream", name)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_tiny_mvdream(path, *flags)
    return name
