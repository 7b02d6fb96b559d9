"""Loss nodes: score distillation (SDS), reference views (masked RGB, mask, depth, normal), eikonal, combining."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..core.losses.sds import (FORMS, SHADING_MIXES, T_SCHEDULES, WEIGHTINGS, MultiViewSDSConfig,
                               MultiViewSDSLoss, SDSConfig, SDSLoss)
from ..core.losses.vsd import ESTIMATORS, VSDConfig, VSDLoss
from ..core.losses import LossList
from ..core.losses.reference import ReferenceViewsLoss
from ..core.losses.regularizers import EikonalLoss, RenderRegularizer
from .types import CATEGORY, D3Cameras, D3Loss, D3Prior, fixed_cameras, input_errors, tell


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
                io.Mask.Input("mask", optional=True, tooltip="The object's mask, either convention (1 on the object, or "
                                                             "Load Image's 1 where transparent: told apart by the "
                                                             "border); without it RGB covers all pixels."),
                io.Image.Input("depth", optional=True, tooltip="A depth map, near bright (needs the mask)."),
                io.Image.Input("normal", optional=True, tooltip="Camera-space normals mapped to 0..1."),
                io.Int.Input("rays_per_step", default=1024, min=64, max=65536, step=64),
                _w("rgb_weight", 1.0, "Weight of the masked RGB term."),
                _w("mask_weight", 1.0, "Weight of the mask (silhouette) term."),
                _w("depth_weight", 0.0, "Weight of the depth term (used only if a depth map is given)."),
                _w("normal_weight", 0.0, "Weight of the normal term (used only if a normal map is given)."),
                _w("weight", 1.0, "Overall weight of this loss."),
                io.Float.Input("free_space_weight", default=1.0, min=0.0, max=100.0, step=0.01, optional=True,
                               tooltip="Space carving (needs the mask): every ray that sees the background pulls "
                                       "an SDF field (NeuS) outside along its whole length, which opens a "
                                       "through-hole the views see (a nut's hole, a mug's handle) that the mask "
                                       "term alone leaves plugged. 0: off, as before this input existed."),
            ],
            outputs=[D3Loss.Output(display_name="loss")],
        )

    @classmethod
    def execute(cls, images, cameras, rays_per_step, rgb_weight, mask_weight, depth_weight, normal_weight, weight,
                mask=None, depth=None, normal=None, free_space_weight=1.0) -> io.NodeOutput:
        cameras = fixed_cameras(cameras, "Reference Views Loss")
        n = images.shape[0]
        if mask is not None:
            mask = _object_masks(mask, n, images.shape[1:3])
        depth_t = None if depth is None else 1.0 - depth[..., 0]  # near-bright map -> increasing with distance
        normal_t = None if normal is None else torch.nn.functional.normalize(normal * 2 - 1, dim=-1)
        term = ReferenceViewsLoss(images.clone(), cameras, masks=None if mask is None else mask.clone(),
                                  depths=depth_t, normals=normal_t, rays_per_step=rays_per_step,
                                  rgb_weight=rgb_weight, mask_weight=mask_weight, depth_weight=depth_weight,
                                  normal_weight=normal_weight, weight=weight, free_space_weight=free_space_weight)
        tell(term.notes, "Reference Views Loss")
        return io.NodeOutput(LossList([term]))


def _object_masks(mask, n: int, size) -> torch.Tensor:
    """[N,H,W] masks that are 1 on the object, from a MASK in either convention (core.reference.object_masks: a
    mask it cannot read is named by its view), one per image or one for all; says once if they were inverted."""
    from ..core.reference import object_masks
    masks, notes = object_masks(mask, n, size)
    tell(notes, "Reference Views Loss")
    return masks


def _distillation_inputs(guidance_default: float, guidance_tip: str, multi_view: bool = False):
    """The inputs SDS, VSD and multi-view SDS share: prior, cameras, guidance, timesteps, shading, rescale."""
    if multi_view:
        batch = [io.Int.Input("views", default=4, min=1, max=8,
                              tooltip="Views per group, rendered and denoised together (MVDream: 4)."),
                 io.Int.Input("groups_per_step", default=1, min=1, max=16, tooltip="View groups per step.")]
    else:
        batch = [io.Int.Input("views_per_step", default=4, min=1, max=64, tooltip="Renders per step.")]
    return [
        D3Prior.Input("prior"),
        D3Cameras.Input("cameras", tooltip=(
            "A Multi-View Camera Distribution (new camera groups every step) or a fixed camera set of whole "
            "groups (random groups every step)." if multi_view else
            "A DreamFusion Camera Distribution (new cameras every step) or a fixed camera set (a random subset "
            "every step).")),
        io.Float.Input("guidance_scale", default=guidance_default, min=0.0, max=200.0, step=0.5, tooltip=guidance_tip),
        *batch,
        io.Combo.Input("weighting", options=list(WEIGHTINGS), default="sds",
                       tooltip="w(t): sds = 1 - alphā (DreamFusion), uniform, fantasia3d; rfds: sigmoid of a "
                               "standard normal draw per view (RFDS's published weight)."),
        io.Float.Input("t_min", default=0.02, min=0.001, max=0.999, step=0.01,
                       tooltip="Smallest timestep, a fraction of the diffusion's (at the start)."),
        io.Float.Input("t_max", default=0.98, min=0.002, max=1.0, step=0.01, tooltip="Largest timestep at the start."),
        io.Float.Input("t_max_end", default=0.5, min=0.002, max=1.0, step=0.01,
                       tooltip="Largest timestep once annealed (equal to t_max: no annealing)."),
        io.Combo.Input("t_schedule", options=list(T_SCHEDULES), default="linear",
                       tooltip="linear: t_max moves to t_max_end over the first half; step: jumps at half-way; "
                               "dreamtime: a narrow window sliding from t_max to t_min."),
        io.Float.Input("cfg_rescale", default=0.5 if multi_view else 0.0, min=0.0, max=1.0, step=0.05,
                       tooltip="MVDream's CFG rescale (0 = off; 0.5 is its default), over each view group."),
        *([] if multi_view else [io.Boolean.Input(
            "view_dependent_prompts", default=True,
            tooltip="Append 'front/side/back/overhead view' per camera (text priors only).")]),
        io.Combo.Input("shading", options=list(SHADING_MIXES), default="albedo",
                       tooltip="How the renders are shaded; DreamFusion mixes in lambertian and textureless renders "
                               "under a random light; normal: normal maps, for geometry stages (DreamCraft3D's "
                               "DMTet stage). The World Prior judges the renders it was made of (albedo or normal)."),
        io.Float.Input("grad_clip", default=0.0, min=0.0, max=100.0, step=0.1,
                       tooltip="Clip each gradient element to ±value (0 = off)."),
        io.Float.Input("random_background", default=0.5, min=0.0, max=1.0, step=0.05, optional=True,
                       tooltip="Probability that a step's views are rendered over random solid colours instead of "
                               "the field's background, so a white object cannot hide on white (threestudio's "
                               "augmentation). The World Prior judges each render on the background it used."),
        _w("weight", 1.0, "Overall weight of this loss."),
    ]


def _distillation_errors(node_cls, t_min, t_max, t_max_end, **combos):
    """validate_inputs of the score-distillation losses: the timesteps (an empty range is refused) and the combos."""
    err = input_errors(node_cls, t_min=t_min, t_max=t_max, t_max_end=t_max_end, **combos)
    if err:
        return err
    for name, hi in (("t_max", t_max), ("t_max_end", t_max_end)):
        if isinstance(t_min, float) and isinstance(hi, float) and hi <= t_min:
            return f"{name} ({hi}) must be larger than t_min ({t_min})"
    return True


class MultiViewSDSLossNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DMultiViewSDSLoss",
            display_name="Multi-View SDS Loss",
            category=f"{CATEGORY}/losses",
            description="MVDream's multi-view SDS: renders groups of views (one elevation, azimuths r + i·360/V) "
                        "that a multi-view prior denoises together, so every side agrees on one object (no "
                        "Janus faces). One timestep per group, CFG rescale per group, x0-reconstruction loss. Use "
                        "with a Multi-View Camera Distribution and a multi-view prior (World Prior in multi-view "
                        "mode, MVDream).",
            inputs=[*_distillation_inputs(50.0, "Classifier-free guidance; MVDream uses 50 with rescale 0.5. The "
                                                "World Prior works at 5-20.", multi_view=True),
                    io.Boolean.Input("x0_form", default=True,
                                     tooltip="MVDream's x0-reconstruction loss 0.5||x - x0_hat||^2 (off: the SDS "
                                             "gradient w(t)(eps_hat - eps)).")],
            outputs=[D3Loss.Output(display_name="loss")],
        )

    @classmethod
    def validate_inputs(cls, t_min=None, t_max=None, t_max_end=None, weighting=None, t_schedule=None, shading=None):
        return _distillation_errors(cls, t_min, t_max, t_max_end, weighting=weighting, t_schedule=t_schedule,
                                    shading=shading)

    @classmethod
    def execute(cls, prior, cameras, random_background=0.5, **settings) -> io.NodeOutput:
        config = MultiViewSDSConfig(random_background=random_background, **settings)
        return io.NodeOutput(LossList([MultiViewSDSLoss(prior, cameras, config=config)]))


class SDSLossNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DSDSLoss",
            display_name="SDS Loss",
            category=f"{CATEGORY}/losses",
            description="Score distillation sampling (DreamFusion): renders random views at the prior's size, "
                        "noises them, and pulls them toward what the prior denoises them to, with classifier-free "
                        "guidance. Works with every prior node.",
            inputs=[*_distillation_inputs(100.0, "Classifier-free guidance. DreamFusion: 100 with Stable "
                                                 "Diffusion; the World Prior works at 5-20."),
                    io.Boolean.Input("x0_form", default=False,
                                     tooltip="Use the x0-reconstruction loss 0.5||x - x0_hat||^2 (MVDream)."),
                    io.Combo.Input("form", options=list(FORMS), default="sds", optional=True,
                                   tooltip="The gradient. sds: w(t)(ε̂ - ε). rfds: w(t)(v̂ - (ε - x0)), rectified-flow "
                                           "distillation (Yang et al. 2024; published on SD3: guidance 100, weighting "
                                           "rfds, t 0.02-0.7). rfds-rev: RFDS after one iRFDS inversion step swaps "
                                           "the random noise for the model's own (their text-to-3D use of iRFDS). "
                                           "Any prior: a DDPM model is read on the flow with the same noise levels.")],
            outputs=[D3Loss.Output(display_name="loss")],
        )

    @classmethod
    def validate_inputs(cls, t_min=None, t_max=None, t_max_end=None, weighting=None, t_schedule=None, shading=None,
                        form=None):
        return _distillation_errors(cls, t_min, t_max, t_max_end, weighting=weighting, t_schedule=t_schedule,
                                    shading=shading, form=form)

    @classmethod
    def execute(cls, prior, cameras, random_background=0.5, **settings) -> io.NodeOutput:
        config = SDSConfig(random_background=random_background, **settings)
        return io.NodeOutput(LossList([SDSLoss(prior, cameras, config=config)]))


class VSDLossNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DVSDLoss",
            display_name="VSD Loss",
            category=f"{CATEGORY}/losses",
            description="Variational score distillation (ProlificDreamer): like SDS, but the noise is replaced by "
                        "an estimator of the current renders' own score, trained alongside and taking the camera. "
                        "Works at normal guidance (7.5), giving less saturated, more detailed results than SDS at "
                        "100.",
            inputs=[*_distillation_inputs(7.5, "Classifier-free guidance of the prior; ProlificDreamer uses 7.5."),
                    io.Combo.Input("estimator", options=["auto", *ESTIMATORS], default="auto",
                                   tooltip="lora: ProlificDreamer's (low-rank adapters on the prior's own U-Net "
                                           "attention, the camera added to its time embedding; a U-Net backward "
                                           "per update). prior + residual: the prior's epsilon + a small camera-"
                                           "aware network (cheaper). renders: a network decoding each camera into "
                                           "the field's current render, for exact priors (the World Prior), where "
                                           "the others stall. auto: renders for the World Prior, else lora."),
                    io.Float.Input("estimator_lr", default=1e-3, min=1e-6, max=0.1, step=1e-4,
                                   tooltip="Learning rate of the estimator (Adam; ProlificDreamer's LoRA: 1e-3)."),
                    io.Int.Input("estimator_steps", default=0, min=0, max=32,
                                 tooltip="Estimator updates per field step; 0 = its own default: 1 for lora and "
                                         "prior + residual (each costs a prior call), 8 for renders (it must keep "
                                         "up: on the world prior 1 gives a half-formed duck, IoU 0.61; 8 gives "
                                         "0.85).")],
            outputs=[D3Loss.Output(display_name="loss")],
        )

    @classmethod
    def validate_inputs(cls, t_min=None, t_max=None, t_max_end=None, weighting=None, t_schedule=None, shading=None,
                        estimator=None):
        return _distillation_errors(cls, t_min, t_max, t_max_end, weighting=weighting, t_schedule=t_schedule,
                                    shading=shading, estimator=estimator)

    @classmethod
    def execute(cls, prior, cameras, random_background=0.5, **settings) -> io.NodeOutput:
        config = VSDConfig(random_background=random_background, **settings)
        return io.NodeOutput(LossList([VSDLoss(prior, cameras, config=config)]))


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
        return io.NodeOutput(LossList([EikonalLoss(weight, points_per_step=points_per_step)]))


class RenderRegularizersNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DRenderRegularizers",
            display_name="Render Regularizers",
            category=f"{CATEGORY}/losses",
            description="Regularizers of the views that an SDS or VSD loss renders each step (combine them with "
                        "it): sparsity (DreamFusion's opacity penalty, against fog and floaters), entropy (opacity "
                        "0 or 1), orientation (no normals facing away from the viewer).",
            inputs=[_w("sparsity", 0.0, "Weight of the opacity penalty mean sqrt(alpha² + 0.01)."),
                    _w("entropy", 0.0, "Weight of the binary entropy of the opacity."),
                    _w("orientation", 0.0, "Weight of the orientation penalty (renders normals: slower)."),
                    _w("weight", 1.0, "Overall weight of these terms.")],
            outputs=[D3Loss.Output(display_name="loss")],
        )

    @classmethod
    def execute(cls, sparsity, entropy, orientation, weight) -> io.NodeOutput:
        term = RenderRegularizer(sparsity=sparsity, entropy=entropy, orientation=orientation, weight=weight)
        return io.NodeOutput(LossList([term]))


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


class HybridSDSLossNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
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
        from ..core.losses.hybrid import HybridSDSConfig, HybridSDSLoss
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


NODES = [SDSLossNode, MultiViewSDSLossNode, VSDLossNode, ReferenceViewsLossNode, EikonalLossNode,
         RenderRegularizersNode, CombineLosses, HybridSDSLossNode]
