"""Optional CUDA accelerators (tiny-cuda-nn, nvdiffrast): imported lazily, used only where they work."""
from __future__ import annotations

import importlib

import torch


def cuda_extension_available(device, module: str) -> bool:
    """Whether `module` imports and `device` is a CUDA device (the only place these extensions run)."""
    if torch.device(device).type != "cuda":
        return False
    try:
        importlib.import_module(module)
    except Exception:
        return False
    return True
