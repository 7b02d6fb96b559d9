"""The pack's socket types (plain core objects between nodes) and small helpers shared by every node module."""
from __future__ import annotations

import os

import comfy.model_management
from comfy_api.latest import io

D3Cameras = io.Custom("D3_CAMERAS")          # core.cameras.Cameras (a fixed set) or CameraDistribution
D3Prior = io.Custom("D3_PRIOR")              # core.guidance.PromptedPrior: a noise predictor + its conditioning
D3WorldObject = io.Custom("D3_WORLD_OBJECT")  # core.world.WorldObject
D3Mesh = io.Custom("D3_MESH")                 # core.mesh.Mesh (with vertex colors / textures)

CATEGORY = "Distill3D"
BACKGROUND_COLORS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "gray": (0.5, 0.5, 0.5)}


def device():
    """The host's compute device (honours --cpu)."""
    return comfy.model_management.get_torch_device()


def image_batch(t):
    """A core [N,H,W,C] tensor as a ComfyUI IMAGE (float32, CPU, 3 channels, 0..1)."""
    t = t.detach().float().cpu().clamp(0, 1)
    if t.shape[-1] == 1:
        t = t.expand(*t.shape[:-1], 3)
    return t.contiguous()


def fixed_cameras(cameras, what: str):
    """The Cameras of a D3_CAMERAS input that needs a fixed set; a clear error for a camera distribution."""
    from ..core.cameras import CameraDistribution
    if isinstance(cameras, CameraDistribution):
        raise ValueError(f"{what} needs a fixed camera set (Orbit Cameras, Random Cameras), not a camera "
                         f"distribution: distributions are sampled anew each step by score-distillation losses")
    return cameras


def range_errors(node_cls, **values) -> str | None:
    """Re-apply the schema's min/max to inputs that a node's validate_inputs takes by name.

    ComfyUI skips its own range check for every input named in validate_inputs, so such nodes call this first.
    Linked inputs (not known at validation) arrive as None and are skipped.
    """
    for inp in node_cls.define_schema().inputs:
        v = values.get(inp.id)
        if v is None or not isinstance(v, (int, float)):
            continue
        lo, hi = getattr(inp, "min", None), getattr(inp, "max", None)
        if lo is not None and v < lo:
            return f"{inp.id} = {v} is smaller than its minimum {lo}"
        if hi is not None and v > hi:
            return f"{inp.id} = {v} is bigger than its maximum {hi}"
    return None


D3Field = io.Custom("D3_FIELD")               # core.fields.Field (NeRF / NeuS / ...)
D3Loss = io.Custom("D3_LOSS")                 # core.losses.LossList: weighted loss terms


class Progress:
    """ComfyUI's progress bar with a preview image every few steps, and the cancel button, for core loops."""

    def __init__(self, total: int, preview_every: int = 0, preview_fn=None):
        import comfy.utils

        self.bar = comfy.utils.ProgressBar(total)
        self.preview_every, self.preview_fn = preview_every, preview_fn

    def __call__(self, step: int, total: int, logs: dict | None = None):
        show = self.preview_fn is not None and self.preview_every and (step % self.preview_every == 0 or
                                                                         step == total)
        self.show(step, total, self.preview_fn() if show else None)

    def show(self, step: int, total: int, image=None):
        """Advance the bar, with `image` ([H,W,3], 0..1) as its preview when given."""
        preview = None
        if image is not None:
            from PIL import Image
            arr = (image.detach().float().clamp(0, 1).cpu().numpy() * 255).astype("uint8")
            preview = ("JPEG", Image.fromarray(arr), 512)
        self.bar.update_absolute(step, total, preview)

    @staticmethod
    def check_cancel():
        comfy.model_management.throw_exception_if_processing_interrupted()


def input_entries(match, depth: int = 3) -> list[str]:
    """Paths under ComfyUI's input folder (up to `depth` folders deep), relative and '/'-separated, for which
    match(folder, file names) gives names: a Combo's options for the loaders that read the input folder."""
    import folder_paths
    root = folder_paths.get_input_directory()
    found = []
    for here, dirs, files in os.walk(root):
        if os.path.relpath(here, root).count(os.sep) >= depth:
            dirs[:] = []
        found += [os.path.relpath(os.path.join(here, f), root).replace(os.sep, "/") for f in match(here, files)]
    return sorted(os.path.normpath(f).replace(os.sep, "/") for f in found)


def input_path(name: str, what: str) -> str:
    """`name` inside ComfyUI's input folder; refuses one that leaves it (`what` says what belongs there)."""
    import folder_paths
    root = os.path.realpath(folder_paths.get_input_directory())
    path = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, path]) != root:
        raise ValueError(f"'{name}' leaves ComfyUI's input folder: put {what} inside {root}")
    return path
