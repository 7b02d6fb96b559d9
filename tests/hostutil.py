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
