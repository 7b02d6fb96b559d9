"""core/ stays host-free: no module imports ComfyUI, and importing all of core loads nothing of it."""
import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST_MODULES = {"comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths", "server", "execution",
                "nodes", "latent_preview"}


def test_no_core_module_imports_the_host():
    offenders = []
    for dirpath, _, files in os.walk(os.path.join(ROOT, "core")):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(dirpath, f)
            for node in ast.walk(ast.parse(open(path).read())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                offenders += [f"{path}: {n}" for n in names if n.split(".")[0] in HOST_MODULES]
    assert not offenders


def test_importing_core_loads_no_host_module_and_no_heavy_extras():
    code = ("import sys, pkgutil, importlib; sys.path.insert(0, %r)\n"
            "import core\n"
            "for m in pkgutil.walk_packages(core.__path__, 'core.'): importlib.import_module(m.name)\n"
            "bad = sorted(n for n in sys.modules if n.split('.')[0] in %r)\n"
            "lazy = sorted(n for n in ('skimage', 'trimesh', 'xatlas', 'av', 'tinycudann', 'nvdiffrast') if n in sys.modules)\n"
            "print(bad, lazy)" % (ROOT, sorted(HOST_MODULES)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] []", out
