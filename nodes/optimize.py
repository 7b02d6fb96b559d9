"""The optimize node: one loop for every method (reference fitting, score distillation, both at once)."""
from __future__ import annotations

import logging

import torch
from comfy_api.latest import io

from ..core.cameras import orbit
from ..core.optimize import optimize
from .types import CATEGORY, D3Field, D3Loss, Progress, checked_inputs, device, image_batch

log = logging.getLogger("Distill3D")


class OptimizeField(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DOptimizeField",
            display_name="Optimize Field",
            category=f"{CATEGORY}/optimize",
            description="Optimizes a copy of the field against the connected losses with Adam. Shows a live "
                        "preview; Cancel stops it at the next step. A loss that turns NaN stops the run and keeps "
                        "the last good field.",
            inputs=[
                D3Field.Input("field"),
                D3Loss.Input("loss"),
                io.Int.Input("steps", default=400, min=1, max=100000, tooltip="Optimization steps."),
                io.Float.Input("learning_rate", default=0.01, min=1e-5, max=1.0, step=0.0005,
                               tooltip="Base learning rate of the grids; networks use a tenth of it."),
                io.Combo.Input("lr_schedule", options=["cosine", "constant", "exponential"], default="cosine"),
                io.Int.Input("samples_per_ray", default=48, min=8, max=1024, step=8,
                             tooltip="Volume-rendering samples along each ray."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
                io.Int.Input("preview_every", default=25, min=0, max=10000,
                             tooltip="Render a preview every N steps (0: never)."),
                io.Int.Input("preview_resolution", default=96, min=16, max=512, step=8),
            ],
            outputs=[D3Field.Output(display_name="field"),
                     io.Image.Output(display_name="preview", tooltip="Front and side views of the result."),
                     io.String.Output(display_name="log", tooltip="Loss figures at the start and the end.")],
        )

    @classmethod
    def validate_inputs(cls, lr_schedule=None):
        return checked_inputs(cls, lr_schedule=lr_schedule)

    @classmethod
    def execute(cls, field, loss, steps, learning_rate, lr_schedule, samples_per_ray, seed, preview_every,
                preview_resolution) -> io.NodeOutput:
        dev = device()
        preview_cams = orbit(2, 20.0, 1.8, 40.0, azimuth_start=30.0).to(dev)
        with torch.inference_mode(False), torch.enable_grad():
            work = field.clone().to(dev)

            runs = []

            def preview():
                # a score-distillation term shows what it saw: its renders over the prior's denoised targets
                shown = [img for img in (run.preview() for run in runs) if img is not None]
                if shown:
                    img = shown[0].permute(2, 0, 1)[None]
                    scale = max(1, preview_resolution * 2 // img.shape[2])
                    return torch.nn.functional.interpolate(img, scale_factor=scale, mode="nearest")[0].permute(1, 2, 0)
                with torch.no_grad():
                    rec = work.render_views(preview_cams, preview_resolution, perturb=False,
                                            n_samples=samples_per_ray)
                return torch.cat(list(rec.rgb), 1)

            progress = Progress(steps, preview_every, preview)
            result = optimize(work, list(loss), steps, lr=learning_rate, seed=seed, device=dev,
                              n_samples=samples_per_ray, lr_schedule=lr_schedule, on_progress=progress,
                              check_cancel=Progress.check_cancel, on_start=runs.extend)
            with torch.no_grad():
                rec = result.field.render_views(preview_cams, preview_resolution, perturb=False,
                                                n_samples=samples_per_ray)
        lines = result.summary(steps, str(dev))
        if result.stopped:
            log.warning("Distill3D Optimize Field: %s", result.stopped)
        text = "\n".join(lines)
        return io.NodeOutput(result.field, image_batch(rec.rgb), text, ui={"text": [text]})


NODES = [OptimizeField]
