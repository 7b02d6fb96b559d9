"""Optional packages that only some nodes import (diffusers, transformers): one place that says, by the node's
name, what is missing or broken and the one command that fixes it without touching the rest of the host."""
from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import sys

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


class MissingDependency(ImportError):
    """An optional package is absent or does not import here; the message names the feature and the fix."""


def installed_versions() -> str:
    out = []
    for name in HOST_LIBRARIES:
        try:
            out.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            out.append(f"{name} not installed")
    return ", ".join(out)


def fix_command() -> str:
    return f"{sys.executable} {os.path.join(PACK_DIR, 'install.py')}"


def require(module: str, feature: str):
    """import `module` for `feature` (a node's name), or raise MissingDependency saying what to do."""
    try:
        return importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - a broken install raises anything from inside the package
        top = module.split(".")[0]
        dist = {**OPTIONAL, **REQUIRED}.get(top, (top,))[0]
        missing = isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] == top
        why = "is not installed" if missing else f"does not import here ({type(e).__name__}: {e})"
        raise MissingDependency(
            f"{feature} needs the Python package '{dist}', which {why}. This environment has "
            f"{installed_versions()}. Fix: run `{fix_command()}` — it installs the {dist} release that fits the "
            f"huggingface-hub and transformers you have, without changing them; then restart ComfyUI.") from e


def missing_optional() -> list[str]:
    """Optional packages that are not installed at all (a cheap check: nothing is imported)."""
    return [f"{dist} (for {nodes})" for mod, (dist, nodes) in {**REQUIRED, **OPTIONAL}.items()
            if importlib.util.find_spec(mod) is None]
