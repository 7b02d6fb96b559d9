"""Installing the pack never changes the host: the README's install step (install.py) on both hosts, a negative
control showing what a plain pin would have done, and a host whose diffusers cannot import."""
import json
import os
import subprocess

import pytest

from comfy_host import HOST_DIRS, ROOT, ComfyHost, host_env
from hostutil import mvdream_sampler_prompt, tiny_mvdream

from install import HOST_PACKAGES as HOST_LIBRARIES  # torch, transformers, huggingface-hub, ... as install.py names them


@pytest.mark.parametrize("name", sorted(HOST_DIRS))
def test_installing_the_pack_changed_nothing_the_host_had(name):
    """setup_host.sh installed the pack into each host exactly as the README says (python install.py) and kept
    install.py's record of the versions before and after; the first install (the one on a fresh machine) and the
    latest must have changed no installed distribution, torch, transformers and huggingface-hub above all."""
    host_dir = HOST_DIRS[name]
    for record_name in ("pack-install-first.json", "pack-install.json"):
        path = os.path.join(host_dir, record_name)
        assert os.path.exists(path), f"{path} missing: scripts/setup_host.sh writes it"
        record = json.load(open(path))
        print(f"INSTALL {name} {record_name}: added {record['added']}, changed {record['changed']}")
        for lib in HOST_LIBRARIES:
            assert record["after"].get(lib) == record["before"].get(lib), (lib, record["changed"])
        assert record["changed"] == {}
        assert "diffusers" in record["after"], "install.py found no diffusers release for this host"
    # and what the record says is what the environment has now
    env = host_env(host_dir)
    now = subprocess.run([env["python"], "-c", "import importlib.metadata as m, json; print(json.dumps("
                          "{n: m.version(n) for n in ('torch', 'transformers', 'huggingface-hub', 'diffusers')}))"],
                         capture_output=True, text=True, check=True)
    current = json.loads(now.stdout)
    assert all(current[k] == record["after"][k] for k in current), (current, record["after"])


def _plan(python: str, requirements: list[str], host_before: dict) -> dict:
    """install.py's resolution, run by the host's python, with the host as it was before the pack was installed."""
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); import install; "
            "ok, items, err = install.plan(sys.argv[3:], install.constraints_text(json.loads(sys.argv[2]))); "
            "print(json.dumps({'ok': ok, 'items': items, 'err': err[-3000:]}))")
    r = subprocess.run([python, "-c", code, ROOT, json.dumps(host_before), *requirements], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_constraints_refuse_a_diffusers_that_would_change_the_hub_and_pick_one_that_fits():
    """Negative control on ComfyUI 0.3.75 (transformers 4, huggingface-hub < 1) as it was before the pack: diffusers
    >= 0.41 needs hub >= 1.32, so unconstrained pip would upgrade the hub and break ComfyUI's text encoders; under
    install.py's constraints it cannot be resolved (pip names the hub), and the plain requirement resolves to a
    release that needs nothing changed."""
    host_dir = HOST_DIRS["0.3.75"]
    python = host_env(host_dir)["python"]
    before = json.load(open(os.path.join(host_dir, "pack-install-first.json")))["before"]
    before.pop("diffusers", None)  # (present only where the host had it before the pack: then, as if it had not)
    refused = _plan(python, ["diffusers>=0.41"], before)
    assert not refused["ok"] and "conflicting dependencies" in refused["err"], refused
    assert "huggingface-hub" in refused["err"].lower(), refused["err"]
    fits = _plan(python, ["diffusers>=0.30"], before)
    assert fits["ok"] and not [i for i in fits["items"] if i["name"] in HOST_LIBRARIES], fits
    print("DIFFUSERS for ComfyUI 0.3.75:", [i for i in fits["items"] if i["name"] == "diffusers"])


def test_a_host_whose_diffusers_does_not_import_still_loads_the_pack_and_names_the_fix():
    """Bad input: diffusers present but broken (as after an install that changed huggingface-hub): every node is
    listed, a world graph runs, and the MVDream Prior fails saying it needs diffusers and how to install it."""
    fixture = os.path.join(os.path.dirname(__file__), "broken_diffusers")
    with ComfyHost(env={"PYTHONPATH": fixture}) as h:
        assert "Distill3DMVDreamPrior" in h.object_info() and "Distill3DWorldPrior" in h.object_info()
        world = {"1": {"class_type": "Distill3DWorldObject", "inputs": {"object": "cube", "prompt": ""}},
                 "2": {"class_type": "Distill3DWorldTrueMesh", "inputs": {"object": ["1", 0], "resolution": 32}},
                 "3": {"class_type": "Distill3DSaveMesh", "inputs": {"mesh": ["2", 0],
                                                                      "filename_prefix": "tests/broken_hub",
                                                                      "format": "glb"}}}
        assert h.run(world)["status"]["status_str"] == "success"
        name = tiny_mvdream(h)
        p = mvdream_sampler_prompt(name, steps=1)
        entry = h.run(p)
        msg = str(entry["status"]["messages"])
        assert entry["status"]["status_str"] == "error"
        assert "The MVDream Prior needs the Python package 'diffusers'" in msg and "install.py" in msg, msg
        assert "ResolvedRevision" in msg  # the underlying reason is kept
