"""The pack's socket types (plain core objects between nodes) and small helpers shared by every node module."""
from __future__ import annotations

import logging
import os

import comfy.model_management
from comfy_api.latest import io

D3Cameras = io.Custom("D3_CAMERAS")          # core.cameras.Cameras (a fixed set) or CameraDistribution
D3Prior = io.Custom("D3_PRIOR")              # core.priors.PromptedPrior: a noise predictor + its conditioning
D3WorldObject = io.Custom("D3_WORLD_OBJECT")  # core.world.WorldObject
D3Mesh = io.Custom("D3_MESH")                 # core.mesh.Mesh (with vertex colors / textures)
D3Reference = io.Custom("D3_REFERENCE")       # core.reference.Reference: an image-to-3D reference view

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


def input_errors(node_cls, **values) -> str | None:
    """What is wrong with the inputs that a node's validate_inputs takes by name, checked against the node's own
    schema as ComfyUI checks the others: numbers against their min and max, combo values against the options (as
    the schema lists them now: file lists are read again), and the type of each; None when nothing is.

    ComfyUI leaves every input that validate_inputs names to the node (all of them when it takes **kwargs), so each
    validate_inputs calls this with everything it names. ComfyUI 0.3.75 checks no V3 combo at all (its check wants a
    list of options as the input's type; a V3 combo's is "COMBO"; later versions check both), so every node names its
    combos in validate_inputs. Linked inputs are not known at validation: they arrive as None and are skipped.
    """
    schema = {inp.id: inp for inp in node_cls.define_schema().inputs}
    problems = []
    for name, value in values.items():
        if name not in schema:
            raise TypeError(f"{node_cls.__name__}: validate_inputs names '{name}', which is not one of its inputs")
        problem = None if value is None else _input_problem(schema[name], value)
        if problem:
            problems.append(f"{name} = {value!r} {problem}")
    return "; ".join(problems) or None


def checked_inputs(node_cls, **values):
    """validate_inputs's answer for a node whose named inputs need no more than input_errors: True or the errors."""
    return input_errors(node_cls, **values) or True


def _input_problem(inp, value) -> str | None:
    if isinstance(inp, io.Combo.Input):
        options = list(inp.options or [])
        if value in options:
            return None
        shown = ", ".join(repr(o) for o in options[:20]) + (f", ... ({len(options)} in all)" if len(options) > 20
                                                             else "")
        return f"is not one of its options ({shown or 'the list is empty'})"
    if isinstance(inp, io.Boolean.Input):
        return None if isinstance(value, bool) else "is not true or false"
    if isinstance(inp, io.String.Input):
        return None if isinstance(value, str) else "is not text"
    if isinstance(inp, (io.Int.Input, io.Float.Input)):
        whole = isinstance(inp, io.Int.Input)
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or value != value:
            return "is not a whole number" if whole else "is not a number"
        if inp.min is not None and value < inp.min:
            return f"is smaller than its minimum {inp.min}"
        if inp.max is not None and value > inp.max:
            return f"is bigger than its maximum {inp.max}"
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


def tell(notes, who: str):
    """Say once, in the log, what was done to a user's inputs."""
    for note in notes:
        logging.warning("Distill3D %s: %s", who, note)
