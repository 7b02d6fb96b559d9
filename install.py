#!/usr/bin/env python3
"""Install Distill3D's requirements into the running python without changing anything that is already there.

Run it with the python of your ComfyUI (ComfyUI-Manager runs it by itself after requirements.txt):

    python custom_nodes/Distill3D/install.py            # install; prints what was added and that nothing changed
    python custom_nodes/Distill3D/install.py --dry-run  # only say what would be installed
    python custom_nodes/Distill3D/install.py --upgrade-diffusers   # also upgrade an old or broken diffusers

Why a script and not only requirements.txt: the diffusers-based priors (Diffusers Prior, MVDream Prior) need
diffusers, and no single diffusers release fits every ComfyUI — ComfyUI 0.3.x runs transformers 4, which needs
huggingface-hub < 1.0, while current ComfyUI runs transformers 5, which needs huggingface-hub >= 1.31, and each
diffusers release accepts only one of those ranges. A pin in requirements.txt would downgrade or upgrade the hub of
one of them and break its text encoders. So every distribution already installed is pinned at its installed version
(a constraints file made from this environment) and pip picks the newest diffusers that fits what is there.
If none fits, the rest is installed and the diffusers-based nodes say what is missing when used.

A diffusers that is already installed is left alone too, even one older than the pack needs (core/deps.py:
DIFFUSERS_MIN) or one that does not import: then the script says so, prints the one pip command that upgrades
diffusers and changes nothing else (every other installed package pinned by a constraints file), and exits 3.
--upgrade-diffusers runs that command.

Exit status: 0 all well; 1 something installed before changed, or the requirements cannot be installed without
changing what is there; 3 the rest is in place but the installed diffusers is too old or does not import.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")


def _load_deps():
    """core/deps.py by its path: stdlib only, and no package __init__ or sys.path change is needed."""
    spec = importlib.util.spec_from_file_location("distill3d_deps", os.path.join(HERE, "core", "deps.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deps = _load_deps()
# Installed only when a release fits the environment as it is (see the module docstring).
OPTIONAL = [f"diffusers>={deps.DIFFUSERS_MIN}"]
DIFFUSERS_NODES = "The Diffusers Prior and MVDream Prior"
EXIT_OLD_DIFFUSERS = 3
# What the host's users would notice first if it changed; reported by name in every run.
HOST_PACKAGES = ["torch", "torchvision", "torchaudio", "transformers", "huggingface-hub", "tokenizers",
                 "safetensors", "numpy"]


canonical = deps.canonical


def installed() -> dict[str, str]:
    """{canonical name: version} of every distribution this python sees."""
    return deps.installed_pins(exclude=())


def constraints_text(versions: dict[str, str]) -> str:
    return "".join(f"{name}=={version}\n" for name, version in sorted(versions.items()))


def pip(args: list[str], capture: bool) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], text=True, capture_output=capture)


def plan(requirements: list[str], constraints: str) -> tuple[bool, list[dict], str]:
    """pip's dry-run report: (resolvable, [{name, version}], pip's error text)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfile, report = os.path.join(tmp, "constraints.txt"), os.path.join(tmp, "report.json")
        open(cfile, "w").write(constraints)
        r = pip(["install", "--dry-run", "--report", report, "-c", cfile, *requirements], capture=True)
        if r.returncode != 0:  # pip explains the conflict on stdout, states it on stderr
            return False, [], "\n".join(line for line in (r.stdout + "\n" + r.stderr).splitlines()
                                         if line.strip() and not line.startswith("WARNING: Location"))
        items = json.load(open(report)).get("install", [])
    return True, [{"name": canonical(i["metadata"]["name"]), "version": i["metadata"]["version"]} for i in items], ""


def diffusers_import_error() -> str | None:
    """Why `import diffusers` fails in this python (run apart: it imports torch), or None when it imports."""
    r = subprocess.run([sys.executable, "-c", "import diffusers"], capture_output=True, text=True, timeout=600)
    if r.returncode == 0:
        return None
    lines = [line.strip() for line in r.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {r.returncode}"


def diffusers_state() -> tuple[str | None, str]:
    """(installed diffusers version or None, what is wrong with it or '')."""
    try:
        version = md.version("diffusers")
    except md.PackageNotFoundError:
        return None, ""
    if deps.older_than_needed(version):  # old is reason enough: no need to import it
        return version, deps.diffusers_problem(version, None, DIFFUSERS_NODES)
    error = diffusers_import_error()
    return version, deps.diffusers_problem(version, error, DIFFUSERS_NODES) if error else ""


def pinning_packs(custom_nodes: str = os.path.dirname(HERE)) -> list[str]:
    """The other packs beside this one whose requirements.txt pins diffusers (==, <, <=, ~=): 'pack: line'."""
    out = []
    try:
        packs = sorted(os.listdir(custom_nodes))
    except OSError:
        return out
    for pack in packs:
        path = os.path.join(custom_nodes, pack, "requirements.txt")
        if os.path.realpath(os.path.join(custom_nodes, pack)) == os.path.realpath(HERE) or not os.path.isfile(path):
            continue
        try:
            lines = open(path, errors="replace").read().splitlines()
        except OSError:
            continue
        out += [f"{pack}: {line.split('#')[0].strip()}" for line in lines
                if re.match(r"\s*diffusers\s*(\[[^]]*\])?\s*(==|<|~=)", line)]
    return out


def report_diffusers(problem: str, constraints: str) -> None:
    """The old / broken diffusers message with the command (on stderr: the lines a user must not miss)."""
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731
    say(f"[Distill3D] {problem}.")
    say("[Distill3D] This script keeps every installed package at its version, so it has left diffusers as it is "
        "(running it again changes nothing). To upgrade diffusers and change nothing else, run:")
    say(f"    {deps.upgrade_command(constraints)}")
    say(f"  {constraints} pins every other installed package ({deps.kept_summary()}, ...) at its version, so pip "
        f"installs the newest diffusers that fits them. `{deps.fix_command()} --upgrade-diffusers` runs exactly "
        f"this and reports what changed.")
    say(f"[Distill3D] {deps.OTHER_PACKS_NOTE}")
    pinned = pinning_packs()
    if pinned:
        say("[Distill3D] packs here that pin diffusers (check them after the upgrade): " + "; ".join(pinned))


def upgrade_diffusers(dry_run: bool) -> int:
    """Run the upgrade command (with --dry-run: pip's plan of it); its exit status."""
    constraints = deps.write_constraints()
    args = deps.upgrade_args(constraints)
    print("[Distill3D] upgrading diffusers: " + deps.upgrade_command(constraints))
    if not dry_run:
        return subprocess.run([*args, "--quiet"], text=True).returncode
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        r = subprocess.run([*args, "--dry-run", "--report", report], text=True, capture_output=True)
        if r.returncode != 0:
            print(r.stdout + r.stderr, file=sys.stderr)
            return r.returncode
        items = json.load(open(report)).get("install", [])
    print("[Distill3D] the upgrade would install: " + (", ".join(
        f"{i['metadata']['name']} {i['metadata']['version']}" for i in items) or "nothing"))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="say what would be installed, install nothing")
    ap.add_argument("--upgrade-diffusers", action="store_true",
                    help="also upgrade diffusers to the newest release that fits everything else as it is (the "
                         "command printed when the installed one is too old or does not import)")
    ap.add_argument("--record", help="write {before, after, added, changed} as JSON to this file")
    args = ap.parse_args(argv)

    before = installed()
    constraints = constraints_text(before)
    base = [line.split("#")[0].strip() for line in open(REQUIREMENTS)]
    base = [line for line in base if line]
    print(f"[Distill3D] python: {sys.executable}")
    print("[Distill3D] kept as installed: " + ", ".join(f"{n} {before[n]}" for n in HOST_PACKAGES if n in before))
    diffusers_version, diffusers_bad = diffusers_state()

    if diffusers_bad:  # installed, and kept as it is unless asked: its pin would make diffusers>=MIN unresolvable
        ok, to_install, err = plan(base, constraints)
        wanted = base
    else:
        ok, to_install, err = plan(base + OPTIONAL, constraints)
        wanted = base + OPTIONAL
    if not ok:
        ok, to_install, err_base = plan(base, constraints)
        if not ok:
            print("[Distill3D] cannot install the pack's requirements without changing packages you have:\n"
                  + err_base + "\nNothing was installed. Upgrade the packages pip names above in your ComfyUI "
                  "environment, then run this script again.", file=sys.stderr)
            return 1
        wanted = base
        print("[Distill3D] no release of " + ", ".join(OPTIONAL) + " fits this environment without changing it "
              "(pip: " + "; ".join(line.strip() for line in err.splitlines() if "depends on" in line or
                                    "requested" in line) + "). Installing the rest; the Diffusers Prior and MVDream "
              "Prior nodes will say what is missing when used.", file=sys.stderr)
    print("[Distill3D] to install: " + (", ".join(f"{i['name']} {i['version']}" for i in to_install) or "nothing"))
    if args.dry_run:
        if args.upgrade_diffusers:
            return upgrade_diffusers(dry_run=True)
        if diffusers_bad:
            report_diffusers(diffusers_bad, deps.write_constraints())
            return EXIT_OLD_DIFFUSERS
        return 0
    if to_install:
        with tempfile.TemporaryDirectory() as tmp:
            cfile = os.path.join(tmp, "constraints.txt")
            open(cfile, "w").write(constraints)
            r = pip(["install", "--quiet", "-c", cfile, *wanted], capture=False)
        if r.returncode != 0:
            return r.returncode
    upgraded = None
    if args.upgrade_diffusers:
        upgraded = upgrade_diffusers(dry_run=False)
        diffusers_bad = diffusers_state()[1] if upgraded == 0 else diffusers_bad
    after = installed()
    changed = {n: [before[n], after.get(n)] for n in before if after.get(n) != before[n]}
    added = {n: v for n, v in after.items() if n not in before}
    print("[Distill3D] added: " + (", ".join(f"{n} {v}" for n, v in sorted(added.items())) or "nothing"))
    print("[Distill3D] changed: " + (", ".join(f"{n} {a} -> {b}" for n, (a, b) in changed.items()) or
                                     "nothing that was installed before"))
    if args.record:
        with open(args.record, "w") as f:
            json.dump({"python": sys.executable, "before": before, "after": after, "added": added,
                       "changed": changed}, f, indent=1)
    if upgraded:
        print("[Distill3D] pip did not upgrade diffusers (its words above): with every other package pinned, no newer release may fit them.",
              file=sys.stderr)
        return upgraded
    others = {n: c for n, c in changed.items() if not (args.upgrade_diffusers and n == "diffusers")}
    if others:
        return 1
    if diffusers_bad:
        report_diffusers(diffusers_bad, deps.write_constraints())
        return EXIT_OLD_DIFFUSERS
    if args.upgrade_diffusers and "diffusers" in changed:
        print(f"[Distill3D] diffusers {diffusers_version} -> {after.get('diffusers')}; restart ComfyUI. Other custom "
              "node packs that pinned the old release may need their own check.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
