"""Load Views: the user's own posed images (a folder with a transforms.json in ComfyUI's input folder)."""
from __future__ import annotations

import hashlib
import logging
import os

from comfy_api.latest import io

from .types import CATEGORY, D3Cameras, image_batch, input_entries, input_errors, input_path

TRANSFORMS = "transforms.json"


def view_folders() -> list[str]:
    """Folders under the input directory (any depth up to 3) that hold a transforms.json, by relative path."""
    return input_entries(lambda here, files: ["."] if TRANSFORMS in files else [])


def _folder_path(folder: str) -> str:
    """The folder inside the input directory; refuses one that leaves it."""
    return input_path(folder, "the views in a folder")


class LoadViewsNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DLoadViews",
            display_name="Load Views (transforms.json)",
            category=f"{CATEGORY}/image to 3D",
            description="Posed images of one object from a folder in ComfyUI's input folder, with their cameras "
                        "from a transforms.json (nerfstudio / instant-ngp / Blender: camera-to-world matrices, "
                        "fl_x/fl_y/cx/cy or camera_angle_x, optional mask_path or alpha). Read in file-name "
                        "order, cut to centred squares, and moved into the pack's world: the region every view "
                        "(and mask) sees fills the unit cube. A frame whose mask the other views do not explain "
                        "(another scene's, or a pose off by more than a few degrees) is named and left out of that "
                        "region. Files must lie inside the folder. For Reference Views Loss, Cost Volume Builder "
                        "and the fits.",
            inputs=[
                io.Combo.Input("folder", options=view_folders(),
                               tooltip="A folder under ComfyUI's input folder holding transforms.json and the "
                                       "images it names."),
                io.Int.Input("resolution", default=256, min=16, max=2048, step=8,
                             tooltip="Side of the square images out."),
                io.Combo.Input("up_axis", options=["+z", "+y"], default="+z",
                               tooltip="The world's up axis in the file: +z for Blender, nerfstudio and "
                                       "instant-ngp; +y for y-up captures."),
                io.Float.Input("margin", default=0.9, min=0.3, max=1.0, step=0.05,
                               tooltip="How much of the unit cube the shared region fills."),
            ],
            outputs=[io.Image.Output(display_name="images"), io.Mask.Output(display_name="mask"),
                     D3Cameras.Output(display_name="cameras"), io.String.Output(display_name="names")],
        )

    @classmethod
    def validate_inputs(cls, folder=None, up_axis=None):
        """Names the two combos (ComfyUI 0.3.75 checks no V3 combo's value, and ComfyUI skips its own checks for the
        inputs named here) and re-checks both: up_axis against its options; folder inside the input folder, one of
        the listed options, holding a transforms.json. A linked folder (None here: its value is not known before
        the run) is checked when the node runs; resolution and margin are left to ComfyUI's own range checks."""
        problem = input_errors(cls, up_axis=up_axis)
        if problem:
            return problem
        if folder is None:
            return True
        if not isinstance(folder, str):
            return f"folder must be the name of a folder under ComfyUI's input folder, got {folder!r}"
        try:
            path = _folder_path(folder)
        except ValueError as e:
            return f"folder {e}"
        options = view_folders()
        if folder not in options:
            shown = ", ".join(f"'{o}'" for o in options[:10]) + (" ..." if len(options) > 10 else "")
            return (f"folder '{folder}' is not one of the folders under ComfyUI's input folder that hold a "
                    f"{TRANSFORMS} (up to 3 levels deep): " + (shown or "there are none; put one there"))
        if not os.path.isfile(os.path.join(path, TRANSFORMS)):
            return f"folder '{folder}' holds no {TRANSFORMS}"
        return True

    @classmethod
    def fingerprint_inputs(cls, folder, resolution, up_axis, margin):
        """Run again when the folder's files change (ComfyUI caches by inputs otherwise)."""
        h = hashlib.sha256()
        path = _folder_path(folder)
        for here, _, files in sorted(os.walk(path)):
            for f in sorted(files):
                st = os.stat(os.path.join(here, f))
                h.update(f"{here}/{f}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()

    @classmethod
    def execute(cls, folder, resolution, up_axis, margin) -> io.NodeOutput:
        import torch
        from ..core.views import load_views
        views = load_views(_folder_path(folder), resolution, up_axis, margin)
        mask = views.masks if views.masks is not None else torch.ones(views.images.shape[:3])
        for note in views.notes:
            logging.warning("Distill3D Load Views (%s): %s", folder, note)
        names = [n + ("  [left out of the object box: its mask disagrees with the other views]"
                      if i in views.left_out else "") for i, n in enumerate(views.names)]
        kept = len(views.names) - len(views.left_out)
        text = "\n".join([f"{len(views.names)} views, object box from {kept}", *views.notes])
        return io.NodeOutput(image_batch(views.images), mask.float().contiguous(), views.cameras, "\n".join(names),
                             ui={"text": [text]})


NODES = [LoadViewsNode]
