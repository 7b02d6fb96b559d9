"""Installing the pack never changes the host: the README's install step (install.py) on both hosts, a negative
control showing what a plain pin would have done, a host whose diffusers cannot import, and one with a diffusers
older than the pack needs (a real old release, which install.py keeps: it must say so and name the command)."""
import json
import os
import shlex
import subprocess

import pytest

from comfy_host import HOST_DIRS, ROOT, ComfyHost, host_env
from hostutil import mvdream_sampler_prompt, tiny_mvdream

import install
from core.deps import DIFFUSERS_MIN
from install import HOST_PACKAGES as HOST_LIBRARIES  # torch, transformers, huggingface-hub, ... as install.py names them

OLD_DIFFUSERS = "0.27.2"  # what other 3D packs pin; older than the pack needs, and it does not import on hub >= 0.26
WHEELS = os.path.join(os.path.expanduser("~"), ".cache", "distill3d-tests", "diffusers-wheels")
BROKEN = os.path.join(os.path.dirname(__file__), "broken_diffusers")


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
        assert entry["status"]["status_str"] == "error"
        msg = " ".join(m[1].get("exception_message", "") for m in entry["status"]["messages"]
                       if m[0] == "execution_error")
        python = host_env()["python"]
        # not "run install.py" (it keeps the installed diffusers): the upgrade command, with its constraints file
        assert f"The MVDream Prior needs diffusers >= {DIFFUSERS_MIN}" in msg and "does not import here" in msg, msg
        assert f'Fix: run `{python} -m pip install --upgrade "diffusers>={DIFFUSERS_MIN}" -c ' in msg, msg
        assert "ResolvedRevision" in msg  # the underlying reason is kept


def _wheel(python: str, version: str) -> str:
    """A diffusers wheel from the package index, kept in ~/.cache so that reruns need no network."""
    path = os.path.join(WHEELS, f"diffusers-{version}-py3-none-any.whl")
    if not os.path.exists(path):
        r = subprocess.run([python, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", WHEELS,
                            f"diffusers=={version}"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and os.path.exists(path), r.stdout + r.stderr
    return path


@pytest.fixture(scope="module")
def old_diffusers(tmp_path_factory):
    """diffusers 0.27.2 installed (pip --target, no dependencies) in a folder that, put first on PYTHONPATH, is
    the diffusers the 0.3.75 host's python sees: (python, folder)."""
    python = host_env(HOST_DIRS["0.3.75"])["python"]
    target = str(tmp_path_factory.mktemp("old_diffusers"))
    r = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--target", target,
                        _wheel(python, OLD_DIFFUSERS)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return python, target


def _run(args: list[str], pythonpath: str, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def _the_command(stderr: str, python: str) -> list[str]:
    """The command line install.py prints (indented, on its own line) for the user to paste."""
    lines = [line.strip() for line in stderr.splitlines() if line.startswith("    ") and "pip install" in line]
    assert len(lines) == 1, stderr
    args = shlex.split(lines[0])
    assert args[:6] == [python, "-m", "pip", "install", "--upgrade", f"diffusers>={DIFFUSERS_MIN}"], args
    assert args[6] == "-c" and len(args) == 8, args
    return args


def test_an_old_diffusers_is_named_with_the_version_needed_and_a_command_that_changes_nothing_else(old_diffusers):
    """Bad input: diffusers 0.27.2 in the host (as another pack left it). install.py keeps it, but says which version
    it found and which one the pack needs, prints the pip command that upgrades only diffusers, and exits 3, not 0;
    that command, resolved by pip, installs a diffusers the pack can use and nothing else; and the MVDream Prior's
    error (core.deps, in that environment) names the same command instead of "run install.py"."""
    python, old = old_diffusers
    r = _run([python, os.path.join(ROOT, "install.py"), "--dry-run"], old)
    print(r.stdout + r.stderr)
    assert r.returncode == install.EXIT_OLD_DIFFUSERS, r.stdout + r.stderr
    assert f"need diffusers >= {DIFFUSERS_MIN}; this environment has diffusers {OLD_DIFFUSERS}, which is older" \
        in r.stderr, r.stderr
    assert "running it again changes nothing" in r.stderr and "may need their own check" in r.stderr
    args = _the_command(r.stderr, python)
    pins = dict(line.strip().split("==", 1) for line in open(args[7]) if "==" in line and not line.startswith("#"))
    host = json.load(open(os.path.join(HOST_DIRS["0.3.75"], "pack-install.json")))["after"]
    assert "diffusers" not in pins and all(pins[n] == host[n] for n in ("torch", "huggingface-hub", "transformers"))

    # the command itself, as pip would run it (--dry-run --report): diffusers >= the minimum, nothing else
    report = os.path.join(old, "report.json")
    plan = _run([*args, "--dry-run", "--report", report], old)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    items = {i["metadata"]["name"]: i["metadata"]["version"] for i in json.load(open(report))["install"]}
    print("THE COMMAND WOULD INSTALL:", items)
    assert list(items) == ["diffusers"] and not install.deps.older_than_needed(items["diffusers"]), items

    # the node's side: core.deps in that environment (diffusers 0.27.2 does not even import on hub 0.36)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from core.deps import MissingDependency, require, "
            "outdated_optional\ntry:\n require('diffusers', 'The MVDream Prior')\nexcept MissingDependency as e:\n"
            " print(e)\nprint('STARTUP:', outdated_optional())")
    node = _run([python, "-c", code, ROOT], old)
    assert node.returncode == 0, node.stderr
    msg, startup = node.stdout.split("\nSTARTUP: ")
    print("NODE:", msg, "\nSTARTUP:", startup)
    for text in (msg, startup):
        assert f"needs diffusers >= {DIFFUSERS_MIN}; this environment has diffusers {OLD_DIFFUSERS}" in text, text
        assert f'`{python} -m pip install --upgrade "diffusers>={DIFFUSERS_MIN}" -c ' in text, text
        assert "may need their own check" in text
    assert msg.startswith("The MVDream Prior needs") and "cached_download" in msg  # and why it does not import


def test_a_diffusers_that_does_not_import_is_named_with_the_reason_and_the_command():
    """Bad input: a new enough diffusers that does not import (the hub changed under it; simulated by the
    broken_diffusers fixture): install.py says so with the import error and the same command, and exits 3."""
    python = host_env(HOST_DIRS["0.3.75"])["python"]
    r = _run([python, os.path.join(ROOT, "install.py"), "--dry-run"], BROKEN)
    print(r.stdout + r.stderr)
    assert r.returncode == install.EXIT_OLD_DIFFUSERS, r.stdout + r.stderr
    assert "which does not import here (ImportError: cannot import name 'ResolvedRevision'" in r.stderr, r.stderr
    _the_command(r.stderr, python)


def test_upgrade_diffusers_replaces_the_old_release_and_changes_nothing_else(tmp_path):
    """install.py --upgrade-diffusers, for real, in a throwaway venv that sees the 0.3.75 host's packages (a .pth)
    and holds diffusers 0.27.2 itself: afterwards diffusers is a release the pack can use and imports, nothing else
    changed, and it exits 0. (pip reads the wheels from ~/.cache here, so that the test needs no network twice.)"""
    python = host_env(HOST_DIRS["0.3.75"])["python"]
    host = json.load(open(os.path.join(HOST_DIRS["0.3.75"], "pack-install.json")))["after"]
    _wheel(python, OLD_DIFFUSERS), _wheel(python, host["diffusers"])
    venv = str(tmp_path / "venv")
    subprocess.run([python, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    vpy = os.path.join(venv, "bin", "python")
    site = subprocess.run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True,
                          capture_output=True, text=True).stdout.strip()
    host_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip()
    open(os.path.join(site, "host.pth"), "w").write(host_site + "\n")  # after the venv's own: its diffusers wins
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site,
                    os.path.join(WHEELS, f"diffusers-{OLD_DIFFUSERS}-py3-none-any.whl")], check=True, timeout=300)
    record = str(tmp_path / "record.json")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": WHEELS}
    env.pop("PYTHONPATH", None)
    r = subprocess.run([vpy, os.path.join(ROOT, "install.py"), "--upgrade-diffusers", "--record", record],
                       capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    print(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    changed = json.load(open(record))["changed"]
    assert changed == {"diffusers": [OLD_DIFFUSERS, host["diffusers"]]}, changed
    assert f"diffusers {OLD_DIFFUSERS} -> {host['diffusers']}; restart ComfyUI" in r.stdout


def test_packs_that_pin_diffusers_are_named(tmp_path):
    """The packs beside Distill3D whose requirements.txt pins diffusers are the ones to check after an upgrade."""
    for pack, req in {"ComfyUI-3D-Pack": "numpy\ndiffusers==0.27.2  # their pin\n", "Other": "diffusers>=0.30\n",
                      "Loose": "torch\n"}.items():
        (tmp_path / pack).mkdir()
        (tmp_path / pack / "requirements.txt").write_text(req)
    assert install.pinning_packs(str(tmp_path)) == ["ComfyUI-3D-Pack: diffusers==0.27.2"]
