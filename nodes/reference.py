"""Image-to-3D nodes (DreamCraft3D): the reference image and its reference loss. Its view-conditioned priors (World
Image Prior, Zero123 Prior) are with the priors, Hybrid SDS with the losses."""
from __future__ import annotations

from comfy_api.latest import io

from ..core.losses import LossList
from ..core.losses.reference import ReferenceViewsLoss
from ..core.reference import prepare_reference
from .types import CATEGORY, D3Cameras, D3Loss, D3Reference, tell



class ReferenceImageNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DReferenceImage",
            display_name="Reference Image",
            category=f"{CATEGORY}/image to 3D",
            description="The one picture image-to-3D starts from (DreamCraft3D, Zero123): the object is centred and "
                        "scaled to fill a set fraction of a square frame, with its mask (either convention: a "
                        "background-removal node's, 1 on the object, or Load Image's, 1 where transparent — told "
                        "apart by the border), optional depth and normal maps from any estimator node, and the "
                        "camera it is seen from (azimuth 0: novel views are judged relative to it).",
            inputs=[
                io.Image.Input("image", tooltip="The first image of a batch is used."),
                io.Mask.Input("mask", optional=True,
                              tooltip="The object's mask. Without one the background must be a uniform colour."),
                io.Image.Input("depth", optional=True, tooltip="A depth map, near bright (e.g. Depth Anything)."),
                io.Image.Input("normal", optional=True, tooltip="Camera-space normals mapped to 0..1."),
                io.Int.Input("size", default=256, min=32, max=1024, step=8,
                             tooltip="Side of the prepared square image (Zero123 works at 256)."),
                io.Float.Input("fill", default=0.85, min=0.0, max=0.99, step=0.01,
                               tooltip="Fraction of the frame the object's longer side fills (DreamCraft3D: 0.85). "
                                       "0 keeps the picture as seen, only padded to a square (an exact view at a "
                                       "known camera, as the World Image Prior needs)."),
                io.Float.Input("elevation", default=0.0, min=-89.0, max=89.0, step=0.5,
                               tooltip="Degrees the camera is above the object's middle (DreamCraft3D: 0)."),
                io.Float.Input("distance", default=1.8, min=0.5, max=10.0, step=0.05,
                               tooltip="Camera distance. With fov 40 and fill 0.85 the object spans ~1.1 units, "
                                       "inside the fields' box."),
                io.Float.Input("fov", default=40.0, min=5.0, max=120.0, step=0.5, tooltip="Vertical field of view."),
            ],
            outputs=[D3Reference.Output(display_name="reference"), io.Image.Output(display_name="image"),
                     io.Mask.Output(display_name="mask"), D3Cameras.Output(display_name="camera")],
        )

    @classmethod
    def execute(cls, image, size, fill, elevation, distance, fov, mask=None, depth=None,
                normal=None) -> io.NodeOutput:
        ref = prepare_reference(image, mask, depth, normal, size=size, fill=fill, elevation=elevation,
                                distance=distance, fov=fov)
        tell(ref.notes, "Reference Image")
        return io.NodeOutput(ref, ref.image[None].clone(), ref.mask[None].clone(), ref.camera)


def _w(name, default, tip):
    return io.Float.Input(name, default=default, min=0.0, max=10000.0, step=0.01, tooltip=tip)


class ReferenceImageLossNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DReferenceImageLoss",
            display_name="Reference Image Loss",
            category=f"{CATEGORY}/losses",
            description="DreamCraft3D's reference-view losses, at random pixels of the reference view every step: "
                        "masked RGB, mask, depth (negative Pearson: scale-free) and normal (cosine).",
            inputs=[
                D3Reference.Input("reference"),
                io.Int.Input("rays_per_step", default=1024, min=64, max=65536, step=64),
                _w("rgb_weight", 1.0, "Masked RGB."), _w("mask_weight", 1.0, "Mask (silhouette)."),
                _w("depth_weight", 0.05, "Depth, negative Pearson (DreamCraft3D: 0.05); needs a depth map."),
                _w("normal_weight", 0.0, "Normal, cosine; needs a normal map."),
                _w("weight", 1.0, "Overall weight of this loss."),
            ],
            outputs=[D3Loss.Output(display_name="loss")],
        )

    @classmethod
    def execute(cls, reference, rays_per_step, rgb_weight, mask_weight, depth_weight, normal_weight,
                weight) -> io.NodeOutput:
        r = reference
        term = ReferenceViewsLoss(r.image[None], r.camera, masks=r.mask[None],
                                  depths=None if r.depth is None else r.depth[None],
                                  normals=None if r.normal is None else r.normal[None], rays_per_step=rays_per_step,
                                  rgb_weight=rgb_weight, mask_weight=mask_weight, depth_weight=depth_weight,
                                  normal_weight=normal_weight, weight=weight)
        tell(term.notes, "Reference Image Loss")
        return io.NodeOutput(LossList([term]))


NODES = [ReferenceImageNode, ReferenceImageLossNode]
