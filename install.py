#!/usr/bin/env python3
"""Install Distill3D's requirements into the running python without changing anything that is already there.

Run it with the python of your ComfyUI (ComfyUI-Manager runs it by itself after requirements.txt):

    python custom_nodes/Distill3D/install.py            # install; prints what was added and that nothing changed
    python custom_nodes/Distill3D/install.py --dry-run  # only say what would be installed

Why a script and not only requirements.txt: the diffusers-based priors (Diffusers Prior, MVDream Prior) need
diffusers, and no single diffusers release fits every ComfyUI — ComfyUI 0.3.x runs transformers 4, which needs
huggingface-hub < 1.0, while current ComfyUI runs transformers 5, which needs huggingface-hub >= 1.31, and each
diffusers release accepts only one of those ranges. A pin in requirements.txt would downgrade or upgrade the hub of
one of them and break its text encoders. So every distribution already installed is pinned at its installed version
(a constraints file made from this environment) and pip picks the newest diffusers that fits what is there.
If none fits, the rest is installed and the diffusers-based nodes say what is missing when used.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")
# Installed only when a release fits the environment as it is (see the module docstring).
OPTIONAL = ["diffusers>=0.30"]
# What the host's users would notice first if it changed; reported by name in every run.
HOST_PACKAGES = ["torch", "torchvision", "torchaudio", "transformers", "huggingface-hub", "tokenizers",
                 "safetensors", "numpy"]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """{canonical name: version} of every distribution this python sees."""
    out = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name:
            out.setdefault(canonical(name), dist.version)
    return out


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="say what would be installed, install nothing")
    ap.add_argument("--record", help="write {before, after, added, changed} as JSON to this file")
    args = ap.parse_args(argv)

    before = installed()
    constraints = constraints_text(before)
    base = [line.split("#")[0].strip() for line in open(REQUIREMENTS)]
    base = [line for line in base if line]
    print(f"[Distill3D] python: {sys.executable}")
    print("[Distill3D] kept as installed: " + ", ".join(f"{n} {before[n]}" for n in HOST_PACKAGES if n in before))

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
        return 0
    if to_install:
        with tempfile.TemporaryDirectory() as tmp:
            cfile = os.path.join(tmp, "constraints.txt")
            open(cfile, "w").write(constraints)
            r = pip(["install", "--quiet", "-c", cfile, *wanted], capture=False)
        if r.returncode != 0:
            return r.returncode
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
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
