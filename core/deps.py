"""Optional packages that only some nodes import (diffusers, transformers): one place that says, by the node's
name, what is missing, too old or broken, and the one command that fixes it without touching the rest of the host.

Stdlib only: install.py loads this file by its path (before anything else is installed)."""
from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import re
import sys
import tempfile

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# import name -> (distribution name, the nodes that need it)
OPTIONAL = {
    "diffusers": ("diffusers", "Diffusers Prior, MVDream Prior"),
    "transformers": ("transformers", "Diffusers Prior, MVDream Prior (its own text encoder)"),
}
# in requirements.txt, imported lazily by the nodes that need them
REQUIRED = {"trimesh": ("trimesh", "Save Mesh"), "skimage": ("scikit-image", "Extract Mesh"),
            "xatlas": ("xatlas", "Bake Texture")}
# what decides which diffusers release fits: shown in every message
HOST_LIBRARIES = ("huggingface-hub", "transformers", "diffusers")

# The oldest diffusers the pack's code runs on (core/priors/diffusers_prior.py, mvdream.py, lora.py), the one place
# it is stated (install.py requires it too). Checked: 0.29.0 and 0.29.2 pass tests/core/test_diffusers_prior.py and
# tests/host/test_mvdream.py (single-file LDM converters incl. convert_open_clip_checkpoint, UNet2DConditionModel
# with a projection class embedding, AttnProcessor2_0, from_pretrained folders). 0.27.2 has no
# loaders.single_file_utils.convert_open_clip_checkpoint; 0.28 and older import huggingface_hub.cached_download,
# which huggingface-hub 0.26 removed, so they import nowhere transformers 4.4x / 5 run.
DIFFUSERS_MIN = "0.29"
# the constraints file the upgrade command reads: every installed distribution but diffusers, at its version
CONSTRAINTS_NAME = "keep-installed-constraints.txt"


class MissingDependency(ImportError):
    """An optional package is absent, too old or does not import here; the message names the feature and the fix."""


def installed_versions() -> str:
    out = []
    for name in HOST_LIBRARIES:
        try:
            out.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            out.append(f"{name} not installed")
    return ", ".join(out)


def fix_command() -> str:
    return f"{_quote(sys.executable)} {_quote(os.path.join(PACK_DIR, 'install.py'))}"


def _numbers(version: str) -> tuple:
    nums = [int(n) for n in re.findall(r"\d+", version.split("+")[0])[:4]]
    return tuple(nums + [0] * (4 - len(nums)))


def older_than_needed(version: str, minimum: str = DIFFUSERS_MIN) -> bool:
    """version < minimum, by packaging's rules where it is installed (it is wherever pip or transformers is)."""
    try:
        from packaging.version import Version
        return Version(version) < Version(minimum)
    except Exception:  # noqa: BLE001 - no packaging, or a version it cannot read: compare the leading numbers
        return _numbers(version) < _numbers(minimum)


def _quote(arg: str) -> str:
    """An argument as a shell (POSIX or Windows cmd) reads it back: double quotes where needed."""
    return f'"{arg}"' if re.search(r"[\s<>|&;()^'\"$`*?]", arg) else arg


def canonical(name: str) -> str:
    """A distribution's name as pip compares them ('Huggingface_Hub' -> 'huggingface-hub')."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_pins(exclude=("diffusers",)) -> dict[str, str]:
    """{canonical name: version} of everything this python sees (the first on sys.path wins), but `exclude`."""
    out: dict[str, str] = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) not in exclude:
            out.setdefault(canonical(name), dist.version)
    return out


def write_constraints(folder: str | None = None) -> str:
    """Write the upgrade command's constraints file (every installed distribution but diffusers pinned at its version)
    into the pack's folder, or a fresh temporary folder where that is not writable; return its path."""
    lines = ["# Written by Distill3D (core/deps.py) from this python's packages as they are now: every installed\n",
             "# distribution but diffusers, at its version. Used as pip -c so that upgrading diffusers changes\n",
             "# nothing else. Rewritten each time Distill3D names the command; do not reuse it after other changes.\n"]
    lines += [f"{name}=={version}\n" for name, version in sorted(installed_pins().items())]
    for target in ([folder] if folder else [PACK_DIR, None]):
        tmp = None
        try:
            target = target or tempfile.mkdtemp(prefix="distill3d-")  # only when the pack's folder is not writable
            fd, tmp = tempfile.mkstemp(dir=target, prefix=".constraints-", suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.writelines(lines)
            path = os.path.join(target, CONSTRAINTS_NAME)
            os.replace(tmp, path)
            return path
        except OSError:
            if tmp and os.path.exists(tmp):
                os.remove(tmp)
    raise OSError(f"cannot write {CONSTRAINTS_NAME} into {folder or PACK_DIR} nor a temporary folder")


def upgrade_args(constraints: str) -> list[str]:
    """The pip command that upgrades diffusers to the newest release that fits everything else as it is."""
    return [sys.executable, "-m", "pip", "install", "--upgrade", f"diffusers>={DIFFUSERS_MIN}", "-c", constraints]


def upgrade_command(constraints: str | None = None) -> str:
    """upgrade_args as one line to paste, with a freshly written constraints file unless one is given."""
    return " ".join(_quote(a) for a in upgrade_args(constraints or write_constraints()))


def diffusers_problem(version: str | None, import_error: str | None, feature: str) -> str:
    """What is wrong with the installed diffusers, for `feature` (e.g. 'The MVDream Prior'), or '' when nothing."""
    old = version is not None and older_than_needed(version)
    if not old and not import_error:
        return ""
    have = f"diffusers {version}" if version else "diffusers (version unknown)"
    needs = "need" if " and " in feature else "needs"
    if old:
        what = f"{feature} {needs} diffusers >= {DIFFUSERS_MIN}; this environment has {have}, which is older"
        if import_error:
            what += f" and does not import here ({import_error})"
    else:
        what = f"{feature} {needs} diffusers >= {DIFFUSERS_MIN}; this environment has {have}, which does not import " \
               f"here ({import_error})"
    return what


def kept_summary() -> str:
    """'torch 2.14.1, huggingface-hub 0.36.2, transformers 4.57.6': what users check first, as it is now."""
    names = ("torch", "huggingface-hub", "transformers")
    return ", ".join(f"{n} {v}" for n in names if (v := _installed_version(n))) or "torch, huggingface-hub, ..."


OTHER_PACKS_NOTE = "Other custom node packs that pin the old diffusers release may need their own check afterwards."


def upgrade_advice(constraints: str | None = None) -> str:
    """The fix for an old or broken diffusers, in one paragraph: the explicit command, what it leaves alone, and the
    note on other packs. (install.py leaves every installed package as it is, so running it again would change
    nothing.)"""
    path = constraints or write_constraints()
    return (f"install.py keeps every installed package at its version, so it leaves diffusers as it is. Fix: run "
            f"`{upgrade_command(path)}` — {path} pins every other installed package ({kept_summary()}, ...) at its "
            f"version, so pip installs the newest diffusers that fits them and changes nothing else "
            f"(`{fix_command()} --upgrade-diffusers` runs exactly this and reports what changed). {OTHER_PACKS_NOTE}")


def _installed_version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def require(module: str, feature: str):
    """import `module` for `feature` (a node's name), or raise MissingDependency saying what to do."""
    top = module.split(".")[0]
    dist = {**OPTIONAL, **REQUIRED}.get(top, (top,))[0]
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - a broken install raises anything from inside the package
        missing = isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] == top
        if top == "diffusers" and not missing:
            raise MissingDependency(
                f"{diffusers_problem(_installed_version('diffusers'), f'{type(e).__name__}: {e}', feature)}. "
                f"This environment has {installed_versions()}. {upgrade_advice()} Then restart ComfyUI.") from e
        why = "is not installed" if missing else f"does not import here ({type(e).__name__}: {e})"
        raise MissingDependency(
            f"{feature} needs the Python package '{dist}', which {why}. This environment has "
            f"{installed_versions()}. Fix: run `{fix_command()}` — it installs the {dist} release that fits the "
            f"huggingface-hub and transformers you have, without changing them; then restart ComfyUI.") from e
    if top == "diffusers":
        version = getattr(importlib.import_module("diffusers"), "__version__", None) or _installed_version("diffusers")
        if version and older_than_needed(version):
            raise MissingDependency(f"{diffusers_problem(version, None, feature)}. This environment has "
                                    f"{installed_versions()}. {upgrade_advice()} Then restart ComfyUI.")
    return mod


def missing_optional() -> list[str]:
    """Optional packages that are not installed at all (a cheap check: nothing is imported)."""
    return [f"{dist} (for {nodes})" for mod, (dist, nodes) in {**REQUIRED, **OPTIONAL}.items()
            if importlib.util.find_spec(mod) is None]


def outdated_optional() -> str:
    """At start-up, without importing it: an installed diffusers older than the pack needs, with the fix; or ''."""
    version = _installed_version("diffusers")
    if version is None or importlib.util.find_spec("diffusers") is None or not older_than_needed(version):
        return ""
    return f"{diffusers_problem(version, None, 'Distill3D (Diffusers Prior, MVDream Prior)')}. {upgrade_advice()}"
