#!/usr/bin/env python3
"""Drive a real, headless ComfyUI with Distill3D loaded: start, run workflows, collect outputs, stop.

Shared by the demo (scripts/demo.sh) and the tests (tests/host, tests/browser). Standard library only, so it runs
with any python; the server itself runs with the host's python (see scripts/setup_host.sh, .host/host.env).

    python scripts/comfy_host.py run "workflows/11 CPU World objects - views, meshes.json" --out out/   # start, run, copy outputs, stop
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_DIR = os.environ.get("D3_HOST_DIR", os.path.join(ROOT, ".host"))
# The hosts scripts/setup_host.sh sets up: ComfyUI 0.3.75 (the default, also the demo's) and the newest source.
HOST_DIRS = {"0.3.75": HOST_DIR, "newest": os.environ.get("D3_NEWEST_DIR", os.path.join(ROOT, ".host-newest"))}

# Nodes the frontend keeps in a UI workflow that never reach the server.
VIRTUAL_NODES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
# Widgets that the frontend adds to some core nodes (not in /object_info) and sends with the prompt.
FRONTEND_WIDGETS = {"Preview3D": ["image"], "SaveGLB": ["image"], "Load3D": ["image"]}


_SNIPPET_HEAD = r'''
import importlib, sys, types
sys.path.insert(0, COMFYUI)
sys.argv = sys.argv[:1] + ["--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
pack = types.ModuleType("distill3d_pack"); pack.__path__ = [ROOT]; sys.modules["distill3d_pack"] = pack
'''


def host_snippet(body: str, comfyui: str, **values) -> str:
    """Source for `python -c` in a host's python: ComfyUI importable on the CPU (its command line read as --cpu),
    the pack importable as the package `distill3d_pack` (as ComfyUI imports it), `values` as globals; then body."""
    head = "".join(f"{k} = {v!r}\n" for k, v in dict(COMFYUI=comfyui, ROOT=ROOT, **values).items())
    return head + _SNIPPET_HEAD + body


def host_env(host_dir: str | None = None) -> dict:
    """python / comfyui / base paths (and the ComfyUI version) written by setup_host.sh."""
    host_dir = host_dir or HOST_DIR
    path = os.path.join(host_dir, "host.env")
    if not os.path.exists(path):
        raise SystemExit(f"no host set up at {host_dir}: run scripts/setup_host.sh first")
    return dict(line.strip().split("=", 1) for line in open(path) if "=" in line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyHost:
    """One ComfyUI server process on 127.0.0.1, stopped by its PID."""

    def __init__(self, port: int | None = None, extra_args: list[str] | None = None, log_path: str | None = None,
                 host_dir: str | None = None, env: dict | None = None):
        self.host_dir = host_dir or HOST_DIR
        self.env = env  # extra environment variables for the server process
        env = host_env(self.host_dir)
        self.python, self.comfyui, self.base = env["python"], env["comfyui"], env["base"]
        self.version = env.get("version", "0.3.75")
        # Under pytest-xdist each worker runs its own servers: separate output and temp folders (ComfyUI empties its
        # temp folder at start-up) and one torch thread each, so two workers share the two cores without fighting.
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        self.output_dir = os.path.join(self.base, f"output-{worker}" if worker else "output")
        self.temp_dir = os.path.join(self.base, f"run-{worker}", "temp") if worker else os.path.join(self.base, "temp")
        self.worker_args = ["--output-directory", self.output_dir,
                            "--temp-directory", os.path.join(self.base, f"run-{worker}")] if worker else []
        if worker:
            self.env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(self.env or {})}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = extra_args or []
        self.log_path = log_path or os.path.join(self.host_dir, f"server-{self.port}.log")
        self.proc: subprocess.Popen | None = None

    # ---- process ----------------------------------------------------------------------------------------------
    def start(self, timeout: float = 300.0) -> "ComfyHost":
        cmd = [self.python, os.path.join(self.comfyui, "main.py"), "--cpu" if not os.environ.get("D3_GPU") else "",
               "--listen", "127.0.0.1", "--port", str(self.port), "--base-directory", self.base,
               "--database-url", f"sqlite:///{os.path.join(self.base, f'comfyui-{self.port}.db')}",
               "--disable-api-nodes", "--disable-auto-launch", *self.worker_args, *self.extra_args]
        cmd = [c for c in cmd if c]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.comfyui, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env={**os.environ, **(self.env or {})})
        with open(os.path.join(self.host_dir, f"server-{self.port}.pid"), "w") as f:
            f.write(str(self.proc.pid))
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode} while starting; log: {self.log_path}\n"
                                   + self.log_tail())
            try:
                self.get("/system_stats")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {timeout}s; log: {self.log_path}\n" + self.log_tail())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        pid_file = os.path.join(self.host_dir, f"server-{self.port}.pid")
        if os.path.exists(pid_file):
            os.unlink(pid_file)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 60) -> str:
        try:
            return "".join(open(self.log_path, errors="replace").readlines()[-n:])
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- HTTP -------------------------------------------------------------------------------------------------
    def get(self, path: str, raw: bool = False, timeout: float = 30):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            data = r.read()
        return data if raw else json.loads(data)

    def post(self, path: str, body) -> tuple[int, dict]:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read()
                return r.status, (json.loads(text) if text else {})
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except json.JSONDecodeError:
                return e.code, {"error": text.decode(errors="replace")}

    def object_info(self) -> dict:
        return self.get("/object_info")

    def queue(self, prompt: dict) -> tuple[int, dict]:
        """POST /prompt. Returns (HTTP status, body): body has prompt_id, or error and node_errors."""
        return self.post("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})

    def wait(self, prompt_id: str, timeout: float = 600) -> dict:
        """The history entry of a finished prompt (status 'success' or 'error')."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            hist = self.get(f"/history/{prompt_id}")
            entry = hist.get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None and \
                    entry["status"].get("status_str") in ("success", "error"):
                return entry
            if not self.alive():
                raise RuntimeError("ComfyUI died while running the prompt:\n" + self.log_tail())
            time.sleep(0.2)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout}s")

    def run(self, prompt: dict, timeout: float = 600) -> dict:
        status, body = self.queue(prompt)
        if status != 200 or body.get("node_errors"):
            raise RuntimeError(f"ComfyUI refused the prompt ({status}): {json.dumps(body, indent=1)[:4000]}")
        return self.wait(body["prompt_id"], timeout)

    def output_files(self, entry: dict) -> list[dict]:
        """Every file a finished prompt wrote (images, 3d, videos), as /view references with the node id."""
        files = []
        for node_id, out in entry.get("outputs", {}).items():
            for key, items in out.items():
                if not isinstance(items, list):
                    continue
                for it in items:
                    if isinstance(it, dict) and "filename" in it:
                        files.append({**it, "node": node_id, "kind": key})
        return files

    def view(self, ref: dict) -> bytes:
        q = urllib.parse.urlencode({"filename": ref["filename"], "subfolder": ref.get("subfolder", ""),
                                    "type": ref.get("type", "output")})
        return self.get(f"/view?{q}", raw=True, timeout=120)

    def output_path(self, ref: dict) -> str:
        kind = ref.get("type", "output")
        root = {"output": self.output_dir, "temp": self.temp_dir}.get(kind, os.path.join(self.base, kind))
        return os.path.join(root, ref.get("subfolder", ""), ref["filename"])


# ---- workflows: UI format -> API format --------------------------------------------------------------------------
def widget_names(node_def: dict) -> list[tuple[str, bool]]:
    """The widget inputs of a node class in the order the frontend lays out widgets_values.

    Returns (input name, has a control_after_generate value after it). Link-only types are not widgets.
    """
    names = []
    order = node_def.get("input_order") or {k: list(v) for k, v in node_def["input"].items()}
    for section in ("required", "optional"):
        for name in order.get(section, []):
            spec = node_def["input"].get(section, {}).get(name)
            if spec is None:
                continue
            typ, opts = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
            is_widget = isinstance(typ, list) or typ in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
            if not is_widget or opts.get("forceInput"):
                continue
            control = bool(opts.get("control_after_generate")) or (
                typ == "INT" and name in ("seed", "noise_seed") and opts.get("control_after_generate") is not False)
            names.append((name, control))
    names += [(w, False) for w in FRONTEND_WIDGETS.get(node_def.get("name"), [])]
    return names


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Convert a workflow saved by the frontend (UI format) into the API format that POST /prompt takes."""
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = {l[0]: l for l in workflow.get("links", [])}  # id, from_node, from_slot, to_node, to_slot, type
    api = {}
    for nid, node in nodes.items():
        ntype = node["type"]
        if ntype in VIRTUAL_NODES or node.get("mode", 0) in (2, 4):  # muted / bypassed nodes do not run
            continue
        if ntype not in object_info:
            raise KeyError(f"workflow node {nid} has type '{ntype}', which the server does not know")
        node_def = object_info[ntype]
        inputs = {}
        values = list(node.get("widgets_values") or [])
        if isinstance(node.get("widgets_values"), dict):
            inputs.update(node["widgets_values"])
        else:
            i = 0
            for name, control in widget_names(node_def):
                if i >= len(values):
                    break
                inputs[name] = values[i]
                i += 2 if control else 1
        for inp in node.get("inputs", []):
            link = inp.get("link")
            if link is None:
                continue
            _, src, src_slot, _, _, _ = links[link]
            src_node = nodes[src]
            while src_node["type"] == "Reroute":  # follow reroutes to the real source
                up = links[src_node["inputs"][0]["link"]]
                src, src_slot, src_node = up[1], up[2], nodes[up[1]]
            inputs[inp["name"]] = [str(src), src_slot]
        api[str(nid)] = {"class_type": ntype, "inputs": inputs, "_meta": {"title": node.get("title") or
                                                                          node_def.get("display_name", ntype)}}
    return api


def load_workflow(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="start a server, run workflows, copy their outputs, stop")
    r.add_argument("workflows", nargs="+")
    r.add_argument("--out", default=os.path.join(ROOT, "out"))
    r.add_argument("--timeout", type=float, default=1800)
    sub.add_parser("nodes", help="start a server and print the pack's nodes from /object_info")
    s = sub.add_parser("serve", help="start a server and keep it running until Ctrl-C")
    s.add_argument("--port", type=int, default=8188)
    for p in (r, s):
        p.add_argument("--host", choices=sorted(HOST_DIRS), default="0.3.75",
                       help="which set-up ComfyUI to use (scripts/setup_host.sh sets up both)")
    args = ap.parse_args(argv)
    host_dir = HOST_DIRS[getattr(args, "host", "0.3.75")]

    if args.cmd == "serve":
        host = ComfyHost(port=args.port, host_dir=host_dir).start()
        print(f"ComfyUI with Distill3D at {host.url} (pid {host.proc.pid}); Ctrl-C stops it", flush=True)
        try:
            host.proc.wait()
        except KeyboardInterrupt:
            host.stop()
        return 0

    if args.cmd == "nodes":
        with ComfyHost() as host:
            for name, d in host.object_info().items():
                if name.startswith("Distill3D"):
                    ins = [*d["input"].get("required", {}), *d["input"].get("optional", {})]
                    print(f"{name:28s} {d['category']:20s} {d['display_name']:20s} "
                          f"in: {', '.join(ins)} -> out: {', '.join(d['output_name'])}")
        return 0

    os.makedirs(args.out, exist_ok=True)
    with ComfyHost(host_dir=host_dir) as host:
        info = host.object_info()
        for wf_path in args.workflows:
            t0 = time.time()
            api = ui_to_api(load_workflow(wf_path), info)
            entry = host.run(api, timeout=args.timeout)
            status = entry["status"]["status_str"]
            if status != "success":
                msgs = [m for m in entry["status"].get("messages", []) if m[0] == "execution_error"]
                print(f"{wf_path}: FAILED {json.dumps(msgs)[:2000]}", file=sys.stderr)
                return 1
            print(f"{wf_path}: success in {time.time() - t0:.1f} s")
            for ref in host.output_files(entry):
                dst = os.path.join(args.out, ref.get("subfolder", ""), ref["filename"])
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(host.output_path(ref), dst)
                print(f"  {ref['kind']:7s} {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
