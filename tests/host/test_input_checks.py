"""No node switches ComfyUI's input checks off.

ComfyUI skips its own min / max / combo check for every input that a node's `validate_inputs` names, and for all of
them when it takes **kwargs; ComfyUI 0.3.75 checks no V3 combo at all (its check wants a list of options as the
input's type, a V3 combo's is "COMBO"). So a node re-checks what it names (nodes.types.input_errors) and names every
combo. The house rule is read from the node classes (in a host's python: they import ComfyUI); the host test sends
bad values to every node through /prompt and expects each refused at validation, naming the input.
"""
import json
import os
import re
import subprocess

import pytest

from comfy_host import HOST_DIRS, host_env, host_snippet

BAD_OPTION = "distill3d-not-an-option"
REFUSALS = {"value_smaller_than_min", "value_bigger_than_max", "value_not_in_list", "custom_validation_failed"}

HOUSE_RULES = r'''
import asyncio, importlib, inspect, json, re
from comfy_api.latest import io
from comfy_api.internal import first_real_override
if PACK_ROOT:
    pack.__path__ = [PACK_ROOT]
pack = importlib.import_module("distill3d_pack.nodes")

def names(text, name):
    return isinstance(text, str) and re.search(r"(?<!\w)%s(?!\w)" % re.escape(name), text) is not None

found = []
for cls in pack.NODES:
    schema = cls.define_schema()
    nid, inputs = schema.node_id, {i.id: i for i in schema.inputs}
    fn = first_real_override(cls, "validate_inputs") or getattr(cls, "VALIDATE_INPUTS", None)
    spec = inspect.getfullargspec(fn) if fn is not None else None
    named = [a for a in (spec.args[1:] if inspect.ismethod(fn) else spec.args) if a != "input_types"] if spec else []
    if spec and spec.varkw:
        found.append(f"{nid}: validate_inputs takes **{spec.varkw}, so ComfyUI checks none of its inputs")
        continue
    found += [f"{nid}: validate_inputs names '{a}', which is not one of its inputs" for a in named if a not in inputs]
    found += [f"{nid}: combo '{i.id}' is not named in validate_inputs (ComfyUI 0.3.75 checks no V3 combo: name it "
              f"and re-check it with nodes.types.input_errors)"
              for i in schema.inputs if isinstance(i, io.Combo.Input) and i.id not in named]
    named = [a for a in named if a in inputs]
    def usual(i):
        if not isinstance(i, io.WidgetInput):
            return None  # a link: None at validation
        if isinstance(i, io.Combo.Input) and i.default is None and i.options:
            return i.options[0]
        return i.default
    base = {a: usual(inputs[a]) for a in named}
    for a in named:
        i, bad = inputs[a], []
        if isinstance(i, io.Combo.Input):
            bad.append(("not in its options", BAD_OPTION))
        if isinstance(i, (io.Int.Input, io.Float.Input)):
            if i.min is not None:
                bad.append(("below its minimum", i.min - 1))
            if i.max is not None:
                bad.append(("above its maximum", i.max + 1))
        for what, value in bad:
            try:
                got = fn(**{**base, a: value})
                if inspect.isawaitable(got):
                    got = asyncio.run(got)
            except Exception as e:
                got = f"raised {e!r}"
                found.append(f"{nid}: validate_inputs {got} for {a} = {value!r} ({what})")
                continue
            if not names(got, a):
                found.append(f"{nid}: {a} = {value!r} ({what}): validate_inputs answered {got!r}, no error naming {a}")
print("FOUND=" + json.dumps(found))
'''


def house_rule_violations(host_name: str, root: str | None = None) -> list[str]:
    """What the house rule finds in the node classes, read in that host's python (`root`: another copy of the pack,
    e.g. an older commit's, to show what the check finds there)."""
    env = host_env(HOST_DIRS[host_name])
    code = host_snippet(HOUSE_RULES, env["comfyui"], BAD_OPTION=BAD_OPTION, PACK_ROOT=root)
    out = subprocess.run([env["python"], "-c", code], capture_output=True, text=True, timeout=300)
    line = [l for l in out.stdout.splitlines() if l.startswith("FOUND=")]
    assert out.returncode == 0 and line, out.stdout[-2000:] + out.stderr[-4000:]
    return json.loads(line[0][len("FOUND="):])


def test_validate_inputs_rechecks_everything_it_names_and_every_combo():
    """House rule: no validate_inputs takes **kwargs; each input it names is re-checked (a value below min, above max
    or not among the options gets an error naming it); every combo is named (0.3.75 checks none). The node classes
    are read in 0.3.75's python (the host test below sends bad values to both hosts)."""
    found = house_rule_violations("0.3.75")
    assert not found, "\n".join(found)


# ---- the host: /prompt refuses bad values at validation --------------------------------------------------------------
def _spec(info: dict, name: str):
    for section in ("required", "optional"):
        if name in info["input"].get(section, {}):
            spec = info["input"][section][name]
            return spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}), section
    raise KeyError(name)


def _options(typ, opts):
    if isinstance(typ, list):
        return typ
    return opts.get("options") if typ == "COMBO" else None


MISSING_FILE = "distill3d-test-no-such-file"


def _widget_value(typ, opts):
    """A node's usual value for a widget input: its default, or the first option; for an empty list (no files of that
    kind on this machine) a name that is not there, as a saved workflow would send."""
    options = _options(typ, opts)
    if options is not None:
        return opts["default"] if opts.get("default") in options else (options[0] if options else MISSING_FILE)
    return opts.get("default", {"STRING": "", "BOOLEAN": False}.get(typ))


def _is_widget(typ, opts):
    return (isinstance(typ, list) or typ in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")) and \
        not opts.get("forceInput")


def bad_values(info: dict) -> list[tuple[str, str, object]]:
    """(input, what is wrong, value) for each widget input with a min, a max or options."""
    out = []
    for section in ("required", "optional"):
        for name in info["input"].get(section, {}):
            typ, opts, _ = _spec(info, name)
            if _options(typ, opts) is not None:
                out.append((name, "not in its options", BAD_OPTION))
            elif typ in ("INT", "FLOAT"):
                if opts.get("min") is not None:
                    out.append((name, "below its minimum", opts["min"] - 1))
                if opts.get("max") is not None:
                    out.append((name, "above its maximum", opts["max"] + 1))
    return out


class GraphBuilder:
    """API graphs of single nodes with their usual widget values and every required link fed by a producer of that
    type (a node of the fewest required links; ComfyUI's own first): enough for validation, which visits everything
    upstream of an output node. Producers are made once per graph; whether they validate does not matter."""

    def __init__(self, object_info: dict):
        self.info, self.prompt, self.made = object_info, {}, {}

    def producer(self, typ: str, depth: int = 0):
        if typ in self.made:
            return self.made[typ]
        assert depth < 6, f"no producer chain for {typ}"
        candidates = [(sum(1 for n in info["input"].get("required", {}) if not _is_widget(*_spec(info, n)[:2])),
                       name.startswith("Distill3D"), name)
                      for name, info in self.info.items() if typ in info["output"] and not info.get("output_node")]
        assert candidates, f"no node in /object_info makes {typ}"
        name = min(candidates)[2]
        nid = self.add(name, depth=depth + 1)
        self.made[typ] = [nid, self.info[name]["output"].index(typ)]
        return self.made[typ]

    def add(self, class_type: str, values: dict | None = None, depth: int = 0) -> str:
        info, inputs = self.info[class_type], {}
        for section in ("required", "optional"):
            for name in info["input"].get(section, {}):
                typ, opts, _ = _spec(info, name)
                if _is_widget(typ, opts):
                    inputs[name] = _widget_value(typ, opts)
                elif section == "required":
                    inputs[name] = self.producer(typ, depth)
        inputs.update(values or {})
        nid = str(len(self.prompt) + 1)
        self.prompt[nid] = {"class_type": class_type, "inputs": inputs}
        return nid

    def output(self, nid: str):
        self.prompt[f"{nid}.out"] = {"class_type": "PreviewAny", "inputs": {"source": [nid, 0]}}


def _names(error: dict, name: str) -> bool:
    """A refusal whose own words name the input (ComfyUI puts each input a validate_inputs names before its answer:
    "<input> - <answer>"; that prefix does not count)."""
    text = str(error.get("details", ""))
    if error.get("type") == "custom_validation_failed":
        text = text.split(" - ", 1)[-1]
    return error.get("type") in REFUSALS and re.search(r"(?<!\w)%s(?!\w)" % re.escape(name), text) is not None


@pytest.mark.both_hosts
def test_out_of_range_and_unknown_values_are_refused_at_validation_naming_the_input(host, object_info):
    """Every Distill3D node with a number or combo input, every bad value (below min, above max, not among the
    options), each in its own copy of the node (one graph per node class, the copies side by side, each into a
    Preview Any): /prompt answers 400, and each copy's node errors name its bad input; nothing runs; the server
    keeps serving."""
    problems, sent = [], 0
    for class_type in sorted(n for n in object_info if n.startswith("Distill3D")):
        cases = bad_values(object_info[class_type])
        if not cases:
            continue
        g, expect = GraphBuilder(object_info), {}
        for name, what, value in cases:
            nid = g.add(class_type, {name: value})
            g.output(nid)
            expect[nid] = (name, what, value)
        sent += len(cases)
        status, body = host.queue(g.prompt)
        if status == 200:  # something was not refused and is running now: stop it, then report
            host.post("/interrupt", {})
            host.wait(body["prompt_id"], timeout=120)
        errors = body.get("node_errors", {})
        for nid, (name, what, value) in expect.items():
            got = errors.get(nid, {}).get("errors", [])
            if not any(_names(e, name) for e in got):
                problems.append(f"{class_type}.{name} = {value!r} ({what}): HTTP {status}, node errors "
                                f"{json.dumps(got)[:400]}")
        crashed = [(nid, e) for nid, v in errors.items() for e in v["errors"] if e["type"].startswith("exception")]
        problems += [f"{class_type}: validation raised in node {nid}: {e['details'][:300]}" for nid, e in crashed]
    print(f"INPUT CHECKS on ComfyUI {host.version}: {sent} bad values sent, {len(problems)} not refused properly")
    assert sent > 100  # the pack's nodes were all there
    assert not problems, "\n".join(problems)
    assert host.alive() and host.get("/system_stats")


# ---- a user's mesh file: a list of the input folder's meshes, uploads, a missing file refused by name ------------------
def _upload(host, path: str, subfolder: str) -> dict:
    """POST /upload/image as the page does (multipart: image, subfolder, type=input)."""
    import urllib.request
    import uuid
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in (("subfolder", subfolder), ("type", "input"))]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{os.path.basename(path)}"'
                 f'\r\nContent-Type: application/octet-stream\r\n\r\n'.encode() + open(path, "rb").read() + b"\r\n")
    req = urllib.request.Request(host.url + "/upload/image", data=b"".join(parts) + f"--{boundary}--\r\n".encode(),
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


@pytest.mark.both_hosts
def test_load_mesh_file_lists_uploads_and_refuses_a_missing_file_by_name(host, tmp_path):
    """Load Mesh File's `file` is the list of the input folder's meshes, with the upload flags both frontends read
    (and the pack's page extension, which adds the upload button and marks a missing file on load); a mesh uploaded
    the way the page uploads it (into input/3d) is in the list and loads; a name the input folder lacks is refused
    at validation, naming the input and saying how to fix it."""
    import uuid
    spec = host.get("/object_info/Distill3DLoadMeshFile")["Distill3DLoadMeshFile"]["input"]["required"]["file"]
    assert spec[0] == "COMBO" and spec[1]["mesh_upload"] is True and spec[1]["upload_subfolder"] == "3d", spec
    script = [e for e in host.get("/extensions") if e.endswith("/mesh_upload.js")]
    assert script and b"Distill3DLoadMeshFile" in host.get(script[0], raw=True), script
    mesh = tmp_path / f"distill3d_test_upload_{uuid.uuid4().hex[:8]}.obj"
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    answer = _upload(host, str(mesh), "3d")
    name = f"{answer['subfolder']}/{answer['name']}"
    try:
        assert name == f"3d/{mesh.name}", answer
        spec = host.get("/object_info/Distill3DLoadMeshFile")["Distill3DLoadMeshFile"]["input"]["required"]["file"]
        assert name in spec[1]["options"], spec
        entry = host.run({"1": {"class_type": "Distill3DLoadMeshFile", "inputs": {"file": name}},
                          "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}})
        assert entry["status"]["status_str"] == "success", entry["status"]
    finally:
        os.remove(os.path.join(host.base, "input", answer["subfolder"], answer["name"]))
    status, body = host.queue({"1": {"class_type": "Distill3DLoadMeshFile", "inputs": {"file": mesh.name}},
                               "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}})
    (error,) = body["node_errors"]["1"]["errors"]
    assert status == 400 and error["details"].startswith(f"file - file: no mesh file '{mesh.name}'"), body
    assert "upload it on the node" in error["details"], error
