"""Multi-view diffusion nodes (MVDream): load its checkpoints as a prior, sample consistent views of one object."""
from __future__ import annotations

import os

import torch
from comfy_api.latest import io

import folder_paths

from ..core.cameras import alternating_orbit, orbit
from ..core.priors import PromptedPrior
from ..core.priors.sampler import ddim_sample
from .types import CATEGORY, D3Cameras, D3Prior, Progress, checked_inputs, device, image_batch

#: the Multi-View Sampler's camera layouts
LAYOUTS = ("one elevation", "alternating")

MODEL_FOLDER = "mvdream"  # ComfyUI/models/mvdream (or an extra_model_paths.yaml entry of that name)
folder_paths.folder_names_and_paths.setdefault(
    MODEL_FOLDER, ([os.path.join(folder_paths.models_dir, MODEL_FOLDER)], {".safetensors", ".ckpt", ".pt", ".pth"}))


_LOADED: dict = {}  # the last loaded MVDream model, so that editing the prompt does not reload gigabytes


def _load_mvdream(path: str, resolution: int, views: int, text: bool):
    """An MVDreamPrior, reused while the file, size, attention mode and device are unchanged (prompts are not part
    of the model: each is encoded once by the predictor's own cache)."""
    from ..core.priors.mvdream import MVDreamPrior
    dev = device()
    dtype = torch.float16 if dev.type == "cuda" else torch.float32
    key = (path, os.path.getmtime(path), resolution, views, text, str(dev), dtype)
    if key not in _LOADED:
        _LOADED.clear()  # free the previous model before loading the next
        _LOADED[key] = MVDreamPrior(path, resolution, views, tokenizer_folder=_tokenizer_folder() if text else None,
                                    device=dev, dtype=dtype)
    return _LOADED[key]


def _tokenizer_folder() -> str:
    """ComfyUI's CLIP BPE vocabulary (vocab.json + merges.txt), the one OpenCLIP and CLIP share."""
    import comfy.sd1_clip
    return os.path.join(os.path.dirname(os.path.realpath(comfy.sd1_clip.__file__)), "sd1_tokenizer")


class MVDreamPriorNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DMVDreamPrior",
            display_name="MVDream Prior",
            category=f"{CATEGORY}/priors",
            description="An MVDream checkpoint from models/mvdream (sd-v2.1-base-4view.pt, sd-v1.5-4view.pt, or "
                        "a file in the same layout) as a multi-view prior: its U-Net sees groups of 4 views of one "
                        "object with their cameras, so score distillation stops growing faces on every side. The "
                        "VAE and text encoder come from the same file; or connect CLIP Text Encode conditioning.",
            inputs=[
                io.Combo.Input("ckpt_name", options=folder_paths.get_filename_list(MODEL_FOLDER),
                               tooltip="A file in models/mvdream, in MVDream's original layout."),
                io.String.Input("prompt", default="an astronaut riding a horse", multiline=True,
                                tooltip="Encoded by the checkpoint's own text encoder (unused when positive "
                                        "conditioning is connected)."),
                io.String.Input("negative_prompt", default="", multiline=True),
                io.Combo.Input("mode", options=["multi-view", "2D"], default="multi-view",
                               tooltip="multi-view: self-attention across each group of views (MVDream). 2D: the "
                                       "same weights, each view alone - for comparisons."),
                io.Int.Input("views", default=4, min=1, max=8,
                             tooltip="Views per group in multi-view mode (MVDream was trained with 4)."),
                io.Int.Input("resolution", default=256, min=64, max=1024, step=64,
                             tooltip="Render size the prior judges (MVDream: 256); renders of another size are "
                                     "resized to it."),
                io.Conditioning.Input("positive", optional=True,
                                      tooltip="Instead of the prompt: e.g. CLIP Text Encode with Load Checkpoint's "
                                              "CLIP of an SD 2.1 model (1024-wide features)."),
                io.Conditioning.Input("negative", optional=True),
            ],
            outputs=[D3Prior.Output(display_name="prior")],
        )

    @classmethod
    def validate_inputs(cls, ckpt_name=None, mode=None):
        return checked_inputs(cls, ckpt_name=ckpt_name, mode=mode)

    @classmethod
    def execute(cls, ckpt_name, prompt, negative_prompt, mode, views, resolution, positive=None,
                negative=None) -> io.NodeOutput:
        path = folder_paths.get_full_path_or_raise(MODEL_FOLDER, ckpt_name)
        predictor = _load_mvdream(path, resolution, views if mode == "multi-view" else 1, text=positive is None)
        if positive is None:
            if not predictor.has_text_encoder:
                raise ValueError(f"{ckpt_name} has no text encoder: connect positive (and negative) conditioning")
            return io.NodeOutput(PromptedPrior(predictor, prompt, negative_prompt))
        if negative is None:
            raise ValueError("positive conditioning is connected but negative is not: connect both (an empty "
                             "prompt's CLIP Text Encode for negative)")
        cond = tuple(predictor.check_conditioning(c[0][0]) for c in (positive, negative))
        return io.NodeOutput(PromptedPrior(predictor, conditioning=cond))


class MultiViewSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DMultiViewSampler",
            display_name="Multi-View Sampler",
            category=f"{CATEGORY}/mvdream",
            description="Text -> views of one object around a circle (MVDream): DDIM sampling of a multi-view "
                        "prior at cameras 360/views apart in azimuth, all at one elevation or (layout: alternating) "
                        "every other one at a second elevation, as Zero123++'s six views at 20 / -10 (views from "
                        "below see under a table top, views from above into a mug), denoised as one group. "
                        "Returns the images and the "
                        "cameras they were made at (GeoDream's cost volume takes both). With the MVDream Prior it makes "
                        "views of anything; with the World Prior in multi-view mode it runs offline and the views "
                        "can be checked against the truth.",
            inputs=[
                D3Prior.Input("prior", tooltip="A multi-view prior (World Prior in multi-view mode, MVDream); "
                                               "the prompt is the prior's."),
                io.Int.Input("views", default=4, min=1, max=8, tooltip="Views of the object (MVDream: 4)."),
                io.Float.Input("elevation", default=15.0, min=-89.0, max=89.0, step=0.5,
                               tooltip="Degrees above the horizontal plane (MVDream's default: 15)."),
                io.Float.Input("azimuth_start", default=0.0, min=-360.0, max=360.0, step=0.5,
                               tooltip="Azimuth of the first view; 0 = the object's front."),
                io.Float.Input("distance", default=1.8, min=0.3, max=20.0, step=0.05,
                               tooltip="Camera distance recorded in the output cameras (MVDream normalizes it "
                                       "away; the World Prior renders at 1.8)."),
                io.Float.Input("fov", default=40.0, min=5.0, max=150.0, step=0.5,
                               tooltip="Vertical field of view recorded in the output cameras, degrees."),
                io.Int.Input("steps", default=50, min=1, max=1000, tooltip="DDIM steps (MVDream: 50)."),
                io.Float.Input("guidance_scale", default=10.0, min=0.0, max=100.0, step=0.5,
                               tooltip="Classifier-free guidance (MVDream's sampler: 10; the World Prior: 3-10)."),
                io.Float.Input("cfg_rescale", default=0.0, min=0.0, max=1.0, step=0.05,
                               tooltip="CFG rescale over the view group (0 = off)."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
                io.Combo.Input("layout", options=list(LAYOUTS), default="one elevation", optional=True,
                               tooltip="one elevation: MVDream's ring. alternating: views 1, 3, 5 ... at elevation, "
                                       "2, 4, 6 ... at second_elevation (Zero123++: 6 views, 20 / -10, azimuth "
                                       "start 30). The World Prior's grid has elevations -10, 0, 10, 20, 30, 45, "
                                       "60, 75."),
                io.Float.Input("second_elevation", default=-10.0, min=-89.0, max=89.0, step=0.5, optional=True,
                               tooltip="alternating layout: the elevation of every other view, degrees."),
            ],
            outputs=[io.Image.Output(display_name="images"), D3Cameras.Output(display_name="cameras")],
        )

    @classmethod
    def validate_inputs(cls, layout=None):
        return checked_inputs(cls, layout=layout)

    @classmethod
    def execute(cls, prior, views, elevation, azimuth_start, distance, fov, steps, guidance_scale, cfg_rescale,
                seed, layout="one elevation", second_elevation=-10.0) -> io.NodeOutput:
        cams = (alternating_orbit(views, elevation, second_elevation, distance, fov, azimuth_start)
                if layout == "alternating" else orbit(views, elevation, distance, fov, azimuth_start))
        prior = prior.grouped(views)  # the whole set is one group, whatever group the prior was made for
        shown = {}

        def preview():
            return torch.cat(list(prior.predictor.decode(shown["x0"]).cpu()), 1)

        progress = Progress(steps, max(1, steps // 10), preview)

        def on_step(i, total, x0):
            shown["x0"] = x0
            progress(i, total)

        images = ddim_sample(prior, cams, steps=steps, guidance_scale=guidance_scale, cfg_rescale_phi=cfg_rescale,
                             group=views, seed=seed, device=device(), on_step=on_step,
                             check_cancel=Progress.check_cancel)
        return io.NodeOutput(image_batch(images.cpu()), cams)


NODES = [MVDreamPriorNode, MultiViewSampler]
