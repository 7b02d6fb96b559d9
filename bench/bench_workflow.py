#!/usr/bin/env python3
"""Wall time of a shipped workflow in a real headless ComfyUI (the README's main job by default), per node.

    .host/venv/bin/python bench/bench_workflow.py [dreamfusion_world] [--cold]

--cold empties the world prior's render-set cache first (a fresh machine's first run). Prints the time from
queueing to the end, the server's own 'Prompt executed in' figure, and the optimizer's log line.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from comfy_host import ComfyHost, load_workflow, ui_to_api  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name", nargs="?", default="dreamfusion_world")
    ap.add_argument("--cold", action="store_true", help="start with an empty render-set cache")
    args = ap.parse_args()
    cache = None
    if args.cold:
        cache = tempfile.mkdtemp(prefix="d3cache-")
        os.environ["DISTILL3D_CACHE"] = cache
    try:
        with ComfyHost() as host:
            api = ui_to_api(load_workflow(os.path.join(ROOT, "workflows", f"{args.name}.json")), host.object_info())
            t0 = time.perf_counter()
            entry = host.run(api, timeout=3600)
            wall = time.perf_counter() - t0
            status = entry["status"]["status_str"]
            log = open(host.log_path).read()
            executed = re.findall(r"Prompt executed in ([\d.]+) seconds", log)
            fit = [k for k, v in api.items() if v["class_type"] == "Distill3DOptimizeField"]
            lines = [entry["outputs"].get(k, {}).get("text", [""])[0].split("\n")[0] for k in fit]
        print(f"{args.name} ({'cold' if args.cold else 'warm'} cache): {status}, {wall:.1f} s from queue to done; "
              f"server: prompt executed in {executed[-1] if executed else '?'} s; optimizer: {'; '.join(lines)}")
    finally:
        if cache:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
