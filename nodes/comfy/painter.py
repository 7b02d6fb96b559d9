"""The Checkpoint Painter's adapter: a ComfyUI MODEL + VAE + CONDITIONING as core.texture's Painter, through
ComfyUI's own sampler (glue only: the painting loop and the blend are core's)."""
from __future__ import annotations

import logging

import torch

from ...core.texture.paint import Painter

log = logging.getLogger("Distill3D")


class ComfyPainter(Painter):
    """core.texture's painter protocol on ComfyUI's sampler (glue only: the loop and the blend are in core)."""

    def __init__(self, model, vae, positive, negative, seed, steps, cfg, sampler_name, scheduler, denoise):
        self.model, self.vae, self.positive, self.negative = model, vae, positive, negative
        self.seed, self.steps, self.cfg = seed, steps, cfg
        self.sampler_name, self.scheduler, self.denoise = sampler_name, scheduler, denoise

    def __call__(self, request):
        with torch.inference_mode():  # ComfyUI's own mode for sampling (its weights are inference tensors)
            painted = self._paint(request)
        return painted.clone()  # a normal tensor again, for the texture fit's autograd

    def _paint(self, request):
        import nodes as comfy_nodes
        image = request.image[None].float()
        mask = (request.need > 0).float()[None]
        z = self.vae.encode(image[..., :3])
        concat = None
        keys = getattr(getattr(self.model, "model", None), "concat_keys", ())
        if keys:  # an inpainting model: it also takes the render with the need region greyed out (one more VAE
            # encode, skipped for other models)
            if request.index == 0:
                log.info("Distill3D Checkpoint Painter: an inpainting model (concat inputs %s)", ", ".join(keys))
            masked = image.clone()
            masked[mask[..., None].expand_as(masked) > 0.5] = 0.5
            concat = self.vae.encode(masked[..., :3])
        conds = [_for_view(c, request.index, request.total, concat, mask) for c in (self.positive, self.negative)]
        (out,) = comfy_nodes.common_ksampler(self.model, self.seed + request.index, self.steps, self.cfg,
                                             self.sampler_name, self.scheduler, conds[0], conds[1],
                                             {"samples": z, "noise_mask": mask}, denoise=self.denoise)
        painted = self.vae.decode(out["samples"])
        painted = painted.reshape(-1, *painted.shape[-3:])[0]
        if painted.shape[:2] != request.image.shape[:2]:  # a size the VAE cannot take exactly: back to the view's
            painted = torch.nn.functional.interpolate(painted.permute(2, 0, 1)[None], size=request.image.shape[:2],
                                                      mode="bilinear")[0].permute(1, 2, 0)
        return painted[..., :3].float().cpu()


def _for_view(conditioning, index: int, total: int, concat_latent, mask):
    """The conditioning for view `index`: ControlNet hints that hold one image per view cut to this view's, and
    (for an inpainting model) the masked render as its concat input."""
    out = []
    for emb, extra in conditioning:
        extra = extra.copy()
        if extra.get("control") is not None:
            extra["control"] = _control_for_view(extra["control"], index, total)
        if concat_latent is not None:
            extra["concat_latent_image"] = concat_latent
            extra["concat_mask"] = mask
        out.append([emb, extra])
    return out


def _control_for_view(control, index: int, total: int):
    if control is None:
        return None
    c = control.copy()
    hint = getattr(c, "cond_hint_original", None)
    if torch.is_tensor(hint) and total > 1 and hint.shape[0] == total:
        c.cond_hint_original = hint[index:index + 1]
    c.set_previous_controlnet(_control_for_view(getattr(control, "previous_controlnet", None), index, total))
    return c
