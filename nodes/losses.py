"""Loss nodes: reference views (masked RGB, mask, depth, normal), eikonal, and combining losses."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..core.losses import LossList
from ..core.losses.reference import ReferenceViewsLoss
from ..core.losses.regularizers import EikonalLoss
from .types import CATEGORY, D3Cameras, D3Loss


def _w(name, default, tip):
    return io.Float.Input(name, default=default, min=0.0, max=100.0, step=0.01, tooltip=tip)


class ReferenceViewsLossNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DReferenceViewsLoss",
            display_name="Reference Views Loss",
            category=f"{CATEGORY}/losses",
            description="Fit known views: masked RGB, mask, depth (negative Pearson, scale-free) and normal "
                        "(cosine) at random pixels of the views each step (DreamCraft3D's reference losses).",
            inputs=[
                io.Image.Input("images"),
                D3Cameras.Input("cameras", tooltip="One camera per image, e.g. from Render World Views."),
                io.Mask.Input("mask", optional=True, tooltip="1 on the object; without it RGB covers all pixels."),
                io.Image.Input("depth", optional=True, tooltip="A depth map, near bright (needs the mask)."),
                io.Image.Input("normal", optional=True, tooltip="Camera-space normals mapped to 0..1."),
                io.Int.Input("rays_per_step", default=1024, min=64, max=65536, step=64),
                _w("rgb_weight", 1.0, "Weight of the masked RGB term."),
                _w("mask_weight", 1.0, "Weight of the mask (silhouette) term."),
                _w("depth_weight", 0.0, "Weight of the depth term (used only if a depth map is given)."),
                _w("normal_weight", 0.0, "Weight of the normal term (used only if a normal map is given)."),
                _w("weight", 1.0, "Overall weight of this loss."),
            ],
            outputs=[D3Loss.Output(display_name="loss")],
        )

    @classmethod
    def execute(cls, images, cameras, rays_per_step, rgb_weight, mask_weight, depth_weight, normal_weight, weight,
                mask=None, depth=None, normal=None) -> io.NodeOutput:
        n = images.shape[0]
        if mask is not None and mask.ndim == 2:
            mask = mask[None].expand(n, -1, -1)
        depth_t = None if depth is None else 1.0 - depth[..., 0]  # near-bright map -> increasing with distance
        normal_t = None if normal is None else torch.nn.functional.normalize(normal * 2 - 1, dim=-1)
        term = ReferenceViewsLoss(images.clone(), cameras, masks=None if mask is None else mask.clone(),
                                  depths=depth_t, normals=normal_t, rays_per_step=rays_per_step,
                                  rgb_weight=rgb_weight, mask_weight=mask_weight, depth_weight=depth_weight,
                                  normal_weight=normal_weight, weight=weight)
        return io.NodeOutput(LossList([term]))


class EikonalLossNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DEikonalLoss",
            display_name="Eikonal Loss",
            category=f"{CATEGORY}/losses",
            description="Keeps a NeuS field a true signed distance (unit gradient) at random points.",
            inputs=[_w("weight", 0.1, "Weight of the eikonal term."),
                    io.Int.Input("points_per_step", default=1024, min=64, max=65536, step=64)],
            outputs=[D3Loss.Output(display_name="loss")],
        )

    @classmethod
    def execute(cls, weight, points_per_step) -> io.NodeOutput:
        return io.NodeOutput(LossList([EikonalLoss(weight, points_per_step)]))


class CombineLosses(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DCombineLosses",
            display_name="Combine Losses",
            category=f"{CATEGORY}/losses",
            description="Sums losses: the terms of every connected input, each with its own weight.",
            inputs=[D3Loss.Input("loss_1"), D3Loss.Input("loss_2"),
                    D3Loss.Input("loss_3", optional=True), D3Loss.Input("loss_4", optional=True)],
            outputs=[D3Loss.Output(display_name="loss")],
        )

    @classmethod
    def execute(cls, loss_1, loss_2, loss_3=None, loss_4=None) -> io.NodeOutput:
        out = LossList()
        for part in (loss_1, loss_2, loss_3, loss_4):
            if part is not None:
                out = out + part
        return io.NodeOutput(out)


NODES = [ReferenceViewsLossNode, EikonalLossNode, CombineLosses]
