"""Image-to-3D nodes (DreamCraft3D): the reference image, its view-conditioned priors, its losses."""
from __future__ import annotations

import logging

from comfy_api.latest import io

from ..core.guidance import PromptedPrior
from ..core.losses import LossList
from ..core.losses.reference import ReferenceViewsLoss
from ..core.reference import prepare_reference
from .types import CATEGORY, D3Cameras, D3Loss, D3Prior, checked_inputs, device, input_errors, tell

D3Reference = io.Custom("D3_REFERENCE")  # core.reference.Reference


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


class WorldImagePriorNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DWorldImagePrior",
            display_name="World Image Prior",
            category=f"{CATEGORY}/priors",
            description="Zero-1-to-3 of the primitive world: it recognizes which world object (and how turned) the "
                        "reference shows, then denoises every novel view exactly, relative to the reference's "
                        "camera. Runs offline, so image-to-3D can be judged against the truth. The reference must be "
                        "an exact view (Reference Image with fill 0).",
            inputs=[
                D3Reference.Input("reference"),
                io.Combo.Input("resolution", options=["32", "64"], default="32"),
                io.Float.Input("tolerance", default=0.01, min=0.001, max=0.5, step=0.001,
                               tooltip="How far (RMS colour, 0..1) a world render may differ from the reference "
                                       "and still be what it shows."),
            ],
            outputs=[D3Prior.Output(display_name="prior")],
        )

    @classmethod
    def validate_inputs(cls, resolution=None):
        return checked_inputs(cls, resolution=resolution)

    @classmethod
    def execute(cls, reference, resolution, tolerance) -> io.NodeOutput:
        from ..core.guidance.world_prior import WorldImagePrior
        prior = WorldImagePrior(reference, int(resolution), tolerance, device=device())
        logging.info("Distill3D World Image Prior: the reference shows %s", prior.describe())
        return io.NodeOutput(PromptedPrior(prior, conditioning=prior.conditioning()))


class Zero123PriorNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DZero123Prior",
            display_name="Zero123 Prior",
            category=f"{CATEGORY}/priors",
            description="Stable Zero123 / Zero-1-to-3 as a view-conditioned prior: MODEL, CLIP_VISION and VAE from "
                        "Image Only Checkpoint Loader (stable_zero123.ckpt). Each rendered view is conditioned as "
                        "ComfyUI's StableZero123_Conditioning would condition it for its elevation and azimuth "
                        "relative to the reference; the CLIP embedding and the reference latent are computed once.",
            inputs=[io.Model.Input("model"), io.ClipVision.Input("clip_vision"), io.Vae.Input("vae"),
                    D3Reference.Input("reference"),
                    io.Int.Input("resolution", default=256, min=64, max=1024, step=8,
                                 tooltip="Render size it judges (Stable Zero123 was trained at 256).")],
            outputs=[D3Prior.Output(display_name="prior")],
        )

    @classmethod
    def execute(cls, model, clip_vision, vae, reference, resolution) -> io.NodeOutput:
        from .comfy_prior import Zero123Predictor
        prior = Zero123Predictor(model, clip_vision, vae, reference, resolution)
        return io.NodeOutput(PromptedPrior(prior, conditioning=prior.conditioning()))


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
        return io.NodeOutput(LossList([term]))


class HybridSDSLossNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        from ..core.guidance.sds import SHADING_MIXES
        return io.Schema(
            node_id="Distill3DHybridSDSLoss",
            display_name="Hybrid SDS Loss",
            category=f"{CATEGORY}/losses",
            description="DreamCraft3D's hybrid score distillation: each step's renders are judged by a view-"
                        "conditioned prior (Zero123 Prior, World Image Prior: it sees the reference) and a 2D text "
                        "prior, each with its own guidance and weight; the views start at the reference and widen "
                        "to all around (progressive views), the timesteps anneal from [0.7, 0.85] to [0.2, 0.5]. "
                        "Defaults are the public code's.",
            inputs=[
                D3Prior.Input("prior_3d", tooltip="The view-conditioned prior (sees the reference)."),
                D3Cameras.Input("cameras", tooltip="A camera distribution (DreamFusion Camera Distribution): its "
                                                   "ranges are what the progressive views widen to."),
                D3Prior.Input("prior_2d", optional=True, tooltip="A text prior (World Prior, Checkpoint Prior "
                                                                 "(Text), Diffusers Prior); none: 3D term only."),
                io.Float.Input("guidance_3d", default=5.0, min=0.0, max=200.0, step=0.5,
                               tooltip="Guidance of the 3D prior (public code: 5 on Stable Zero123)."),
                io.Float.Input("guidance_2d", default=20.0, min=0.0, max=200.0, step=0.5,
                               tooltip="Guidance of the 2D prior (public code: 20 on DeepFloyd IF; 100 for SD)."),
                io.Float.Input("weight_3d", default=1.0, min=0.0, max=100.0, step=0.1,
                               tooltip="Weight of the 3D term (paper: mu = 2; public code: equal weights)."),
                io.Float.Input("weight_2d", default=1.0, min=0.0, max=100.0, step=0.1, tooltip="Weight of the 2D term."),
                io.Int.Input("views_per_step", default=1, min=1, max=64, tooltip="Renders per step (public: 1)."),
                io.Float.Input("t_min", default=0.7, min=0.001, max=0.999, step=0.01, tooltip="Smallest t at the start."),
                io.Float.Input("t_max", default=0.85, min=0.002, max=1.0, step=0.01, tooltip="Largest t at the start."),
                io.Float.Input("t_min_end", default=0.2, min=0.001, max=0.999, step=0.01, tooltip="Smallest t, annealed."),
                io.Float.Input("t_max_end", default=0.5, min=0.002, max=1.0, step=0.01, tooltip="Largest t, annealed."),
                io.Float.Input("anneal_until", default=0.04, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of the run over which t anneals (public: 200 of 5000 steps)."),
                io.Float.Input("progressive_until", default=0.04, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of the run over which the views widen from the reference view to "
                                       "the distribution's full ranges (public: 200 of 5000 steps); 0 = off."),
                io.Combo.Input("shading", options=list(SHADING_MIXES), default="albedo"),
                io.Float.Input("random_background", default=0.0, min=0.0, max=1.0, step=0.05,
                               tooltip="Probability of random solid backgrounds; Zero123 judges renders only over "
                                       "its reference's background, so keep 0 with it."),
                io.Float.Input("weight", default=1.0, min=0.0, max=100.0, step=0.01, tooltip="Overall weight."),
            ],
            outputs=[D3Loss.Output(display_name="loss")],
        )

    @classmethod
    def validate_inputs(cls, t_min=None, t_max=None, t_min_end=None, t_max_end=None, shading=None):
        err = input_errors(cls, t_min=t_min, t_max=t_max, t_min_end=t_min_end, t_max_end=t_max_end, shading=shading)
        if err:
            return err
        for lo, hi, names in ((t_min, t_max, "t_min, t_max"), (t_min_end, t_max_end, "t_min_end, t_max_end")):
            if isinstance(lo, float) and isinstance(hi, float) and hi <= lo:
                return f"{names}: the timestep range is empty: t max ({hi}) must be larger than t min ({lo})"
        return True

    @classmethod
    def execute(cls, prior_3d, cameras, guidance_3d, guidance_2d, weight_3d, weight_2d, views_per_step, t_min, t_max,
                t_min_end, t_max_end, anneal_until, progressive_until, shading, random_background, weight,
                prior_2d=None) -> io.NodeOutput:
        import dataclasses
        from ..core.cameras import CameraDistribution
        from ..core.guidance.hybrid import HybridSDSConfig, HybridSDSLoss
        if progressive_until > 0:
            if not isinstance(cameras, CameraDistribution):
                raise ValueError("progressive views widen a camera distribution's ranges: connect a DreamFusion "
                                 "Camera Distribution, or set progressive_until to 0 for a fixed camera set")
            ref = prior_3d.predictor.reference
            cameras = dataclasses.replace(cameras, progressive_until=progressive_until,
                                          start_elevation=ref.elevation if ref is not None else 0.0)
        config = HybridSDSConfig(guidance_3d=guidance_3d, guidance_2d=guidance_2d, weight_3d=weight_3d,
                                 weight_2d=weight_2d, views_per_step=views_per_step, t_min=t_min, t_max=t_max,
                                 t_min_end=t_min_end, t_max_end=t_max_end, anneal_until=anneal_until,
                                 shading=shading, random_background=random_background, weight=weight)
        term = HybridSDSLoss(prior_3d, prior_2d, cameras, config=config)
        return io.NodeOutput(LossList([term]))


NODES = [ReferenceImageNode, WorldImagePriorNode, Zero123PriorNode, ReferenceImageLossNode, HybridSDSLossNode]
