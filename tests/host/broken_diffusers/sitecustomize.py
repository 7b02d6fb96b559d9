"""Test fixture, put on PYTHONPATH of a ComfyUI server: `import diffusers` fails as it does when the installed
huggingface-hub is one the installed diffusers cannot use (the break users meet after an install that changed it)."""
import importlib.abc
import importlib.machinery
import sys


class _BrokenDiffusers(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name == "diffusers" or name.startswith("diffusers."):
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError("cannot import name 'ResolvedRevision' from 'huggingface_hub' (simulated)")


sys.meta_path.insert(0, _BrokenDiffusers())
