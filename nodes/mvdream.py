"""Multi-view diffusion nodes (MVDream): sample consistent views of one object from a multi-view prior."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..core.cameras import orbit
from ..core.guidance.sampler import ddim_sample
from .types import CATEGORY, D3Cameras, D3Prior, Progress, device, image_batch


class MultiViewSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DMultiViewSampler",
            display_name="Multi-View Sampler",
            category=f"{CATEGORY}/mvdream",
            description="Text -> views of one object around a circle (MVDream): DDIM sampling of a multi-view "
                        "prior at cameras one elevation apart by 360/views in azimuth. Returns the images and the "
                        "cameras they were made at (GeoDream's cost volume takes both). With the World Prior in "
                        "multi-view mode it runs offline and the views can be checked against the truth.",
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
            ],
            outputs=[io.Image.Output(display_name="images"), D3Cameras.Output(display_name="cameras")],
        )

    @classmethod
    def execute(cls, prior, views, elevation, azimuth_start, distance, fov, steps, guidance_scale, cfg_rescale,
                seed) -> io.NodeOutput:
        cams = orbit(views, elevation, distance, fov, azimuth_start)
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


NODES = [MultiViewSampler]
