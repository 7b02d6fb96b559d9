#!/usr/bin/env python3
"""Write the shipped workflows (workflows/*.json, UI format as the frontend saves it) from compact specs below,
and optionally their thumbnails (a montage of the images the workflow produces, run in a real host).

    .host/venv/bin/python scripts/build_workflows.py [--thumbnails]

The specs name node classes and widget values; input/output types, widget order and defaults come from the
server's /object_info, so a workflow always matches the nodes it ships with. tests/browser proves that the
frontend loads each file and that scripts/comfy_host.ui_to_api gives what the frontend's graphToPrompt gives.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from comfy_host import ROOT, ComfyHost, ui_to_api, widget_names  # noqa: E402

WORKFLOW_DIR = os.path.join(ROOT, "workflows")

# the world prior and the camera distribution it was rendered at: the head of every world SDS / VSD graph
WORLD_PRIOR_AND_CAMERAS = [
    ("prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", "mode": "view-aware", "resolution": "32"}),
    ("cams", "Distill3DCameraDistribution", {"elevation_min": -10.0, "elevation_max": 75.0, "distance_min": 1.8,
                                              "distance_max": 1.8, "fov_min": 40.0, "fov_max": 40.0}),
]


def world_text_to_3d(loss: str, prefix: str, turntable: bool = True) -> list:
    """The world text-to-3D graphs' shared rest: the loss node `loss` + eikonal -> NeuS, 300 steps -> mesh -> GLB
    (Preview3D) and, optionally, an MP4 turntable."""
    nodes = [
        ("eik", "Distill3DEikonalLoss", {"weight": 0.1}),
        ("losses", "Distill3DCombineLosses", {"loss_1": (loss, 0), "loss_2": ("eik", 0)}),
        ("field", "Distill3DCreateNeuS", {"encoding": "auto", "seed": 0}),
        ("fit", "Distill3DOptimizeField", {"field": ("field", 0), "loss": ("losses", 0), "steps": 300,
                                           "learning_rate": 0.02, "samples_per_ray": 24, "seed": 0,
                                           "preview_every": 25}),
        ("fit_preview", "PreviewImage", {"images": ("fit", 1)}),
        ("mesh", "Distill3DExtractMesh", {"field": ("fit", 0), "resolution": 96}),
        ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", 0), "filename_prefix": f"distill3d/{prefix}",
                                            "format": "glb"}),
    ]
    if turntable:
        nodes.append(("turntable", "Distill3DRenderTurntable",
                      {"mesh": ("mesh", 0), "frames": 24, "resolution": 128, "shading": "albedo",
                       "filename_prefix": f"distill3d/{prefix}_turntable"}))
    return nodes + [("preview3d", "Preview3D", {"model_file": ("save_mesh", 0)})]

def gpu_text_to_3d(loss: str, prefix: str) -> list:
    """The GPU-sized text-to-3D graphs' shared rest: the loss node `loss` -> NeRF, 5000 steps -> mesh (256³) ->
    GLB (Preview3D) + a 512² MP4 turntable."""
    return [
        ("field", "Distill3DCreateNeRF", {"encoding": "auto", "seed": 0}),
        ("fit", "Distill3DOptimizeField", {"field": ("field", 0), "loss": (loss, 0), "steps": 5000,
                                           "learning_rate": 0.01, "samples_per_ray": 64, "seed": 0,
                                           "preview_every": 100}),
        ("fit_preview", "PreviewImage", {"images": ("fit", 1)}),
        ("mesh", "Distill3DExtractMesh", {"field": ("fit", 0), "resolution": 256}),
        ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", 0), "filename_prefix": f"distill3d/{prefix}",
                                            "format": "glb"}),
        ("turntable", "Distill3DRenderTurntable", {"mesh": ("mesh", 0), "frames": 48, "resolution": 512,
                                                   "shading": "albedo",
                                                   "filename_prefix": f"distill3d/{prefix}_turntable"}),
        ("preview3d", "Preview3D", {"model_file": ("save_mesh", 0)}),
    ]


# name -> (description, [(key, class, {input: value or (source key, output slot)}), ...])
SPECS = {
    "world_views": (
        "The primitive world: pick an object, render exact views with depth and normals, export its true mesh "
        "as GLB and view it in ComfyUI's 3D preview.",
        [
            ("obj", "Distill3DWorldObject", {"object": "snowman", "prompt": ""}),
            ("cams", "Distill3DOrbitCameras", {"views": 8, "elevation": 15.0, "distance": 1.8, "fov": 40.0}),
            ("render", "Distill3DRenderWorldViews", {"object": ("obj", 0), "cameras": ("cams", 0),
                                                     "resolution": 128}),
            ("save_views", "SaveImage", {"images": ("render", 0), "filename_prefix": "distill3d/world_views"}),
            ("depth", "PreviewImage", {"images": ("render", 2)}),
            ("normal", "PreviewImage", {"images": ("render", 3)}),
            ("mesh", "Distill3DWorldTrueMesh", {"object": ("obj", 0), "resolution": 128}),
            ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", 0), "filename_prefix": "distill3d/world_mesh",
                                                "format": "glb"}),
            ("preview3d", "Preview3D", {"model_file": ("save_mesh", 0)}),
        ],
    ),
    "world_random_views": (
        "An object picked by a prompt, seen from DreamFusion's random camera distribution (seeded), rendered "
        "textureless to show its geometry; the true mesh is saved as PLY with vertex colors.",
        [
            ("obj", "Distill3DWorldObject", {"object": "sphere", "prompt": "a DSLR photo of a rubber duck"}),
            ("cams", "Distill3DRandomCameras", {"views": 6, "seed": 7}),
            ("render", "Distill3DRenderWorldViews", {"object": ("obj", 0), "cameras": ("cams", 0),
                                                     "resolution": 96, "shading": "textureless"}),
            ("save_views", "SaveImage", {"images": ("render", 0), "filename_prefix": "distill3d/random_views"}),
            ("mask", "MaskToImage", {"mask": ("render", 1)}),
            ("mask_preview", "PreviewImage", {"images": ("mask", 0)}),
            ("mesh", "Distill3DWorldTrueMesh", {"object": ("obj", 0), "resolution": 96}),
            ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", 0), "filename_prefix": "distill3d/duck",
                                                "format": "ply"}),
        ],
    ),
    "reconstruct_from_views": (
        "Reconstruction from views on a CPU: 24 exact views of a world object on four rings, a NeuS field fitted "
        "to them (masked RGB + mask + eikonal), refined as a DMTet surface by rasterization, extracted, its "
        "albedo baked into a texture, saved as a textured GLB (shown in Preview3D) with an MP4 turntable. "
        "On a GPU, raise the resolution, rays and steps.",
        [
            ("obj", "Distill3DWorldObject", {"object": "snowman", "prompt": ""}),
            ("ring_mid", "Distill3DOrbitCameras", {"views": 10, "elevation": 15.0}),
            ("ring_high", "Distill3DOrbitCameras", {"views": 6, "elevation": 45.0, "azimuth_start": 30.0}),
            ("ring_top", "Distill3DOrbitCameras", {"views": 4, "elevation": 75.0, "azimuth_start": 22.5}),
            ("ring_low", "Distill3DOrbitCameras", {"views": 4, "elevation": -20.0, "azimuth_start": 11.25}),
            ("cams", "Distill3DCombineCameras", {"cameras_1": ("ring_mid", 0), "cameras_2": ("ring_high", 0),
                                                 "cameras_3": ("ring_top", 0), "cameras_4": ("ring_low", 0)}),
            ("render", "Distill3DRenderWorldViews", {"object": ("obj", 0), "cameras": ("cams", 0),
                                                     "resolution": 64, "shading": "albedo"}),
            ("views", "PreviewImage", {"images": ("render", 0)}),
            ("ref", "Distill3DReferenceViewsLoss", {"images": ("render", 0), "cameras": ("render", 4),
                                                    "mask": ("render", 1)}),
            ("eik", "Distill3DEikonalLoss", {"weight": 0.1}),
            ("losses", "Distill3DCombineLosses", {"loss_1": ("ref", 0), "loss_2": ("eik", 0)}),
            ("field", "Distill3DCreateNeuS", {"encoding": "auto", "seed": 0}),
            ("fit", "Distill3DOptimizeField", {"field": ("field", 0), "loss": ("losses", 0), "steps": 600,
                                               "learning_rate": 0.02, "seed": 0}),
            ("dmtet", "Distill3DConvertToDMTet", {"field": ("fit", 0), "resolution": 48}),
            ("refine", "Distill3DOptimizeField", {"field": ("dmtet", 0), "loss": ("ref", 0), "steps": 120,
                                                  "learning_rate": 0.01, "lr_schedule": "constant", "seed": 0,
                                                  "preview_every": 20}),
            ("fit_preview", "PreviewImage", {"images": ("refine", 1)}),
            ("mesh", "Distill3DExtractMesh", {"field": ("refine", 0), "resolution": 128}),
            ("bake", "Distill3DBakeTexture", {"mesh": ("mesh", 0), "field": ("refine", 0), "texture_size": 512}),
            ("save_mesh", "Distill3DSaveMesh", {"mesh": ("bake", 0), "filename_prefix": "distill3d/reconstruction",
                                                "format": "glb"}),
            ("turntable", "Distill3DRenderTurntable", {"mesh": ("bake", 0), "frames": 24, "resolution": 192,
                                                       "shading": "albedo",
                                                       "filename_prefix": "distill3d/reconstruction_turntable"}),
            ("turntable_frames", "PreviewImage", {"images": ("turntable", 0)}),
            ("preview3d", "Preview3D", {"model_file": ("save_mesh", 0)}),
        ],
    ),
    "dreamfusion_world": (
        "DreamFusion on a CPU, offline: text -> 3D with score distillation against the primitive world's exact "
        "prior. A NeuS field is optimized so that random views of it look like 'a rubber duck' to the prior (SDS, "
        "classifier-free guidance 10, annealed timesteps; eikonal term); the mesh is extracted, saved as GLB "
        "(Preview3D) and turned into an MP4. The optimizer's preview shows the renders over the prior's denoised "
        "targets. The same graph with a Checkpoint Prior is dreamfusion_sd.",
        [
            *WORLD_PRIOR_AND_CAMERAS,
            ("sds", "Distill3DSDSLoss", {"prior": ("prior", 0), "cameras": ("cams", 0), "guidance_scale": 10.0,
                                         "views_per_step": 4, "t_max_end": 0.5}),
            *world_text_to_3d("sds", "dreamfusion"),
        ],
    ),
    "mvdream_world": (
        "MVDream's multi-view score distillation on a CPU, offline: the dreamfusion_world graph with the World "
        "Prior in multi-view mode (groups of 4 views, 90° apart, denoised together as MVDream's U-Net does) and the "
        "Multi-View SDS loss (one timestep per group, CFG rescale, x0 reconstruction). The views have to agree on "
        "one object, so it cannot grow a face on every side (the Janus problem; bench/bench_janus.py).",
        [
            ("prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", "mode": "multi-view", "resolution": "32"}),
            ("cams", "Distill3DMultiViewCameraDistribution", {"views": 4, "elevation_min": -10.0,
                                                              "elevation_max": 75.0, "distance_min": 1.8,
                                                              "distance_max": 1.8, "fov_min": 40.0,
                                                              "fov_max": 40.0}),
            ("mvsds", "Distill3DMultiViewSDSLoss", {"prior": ("prior", 0), "cameras": ("cams", 0),
                                                    "guidance_scale": 10.0, "views": 4, "groups_per_step": 1,
                                                    "t_max_end": 0.5, "cfg_rescale": 0.5, "x0_form": True}),
            *world_text_to_3d("mvsds", "mvdream"),
        ],
    ),
    "mvdream_sampler": (
        "Text -> 4 consistent views, offline: the Multi-View Sampler (MVDream's DDIM sampling) on the World Prior "
        "in multi-view mode, 'a snowman' at elevation 15 and azimuths 0/90/180/270; beside them, the true renders "
        "at the cameras the sampler returns. With an MVDream checkpoint the same sampler makes views of anything.",
        [
            ("prior", "Distill3DWorldPrior", {"prompt": "a snowman", "mode": "multi-view", "resolution": "32"}),
            ("sampler", "Distill3DMultiViewSampler", {"prior": ("prior", 0), "views": 4, "elevation": 15.0,
                                                      "azimuth_start": 0.0, "steps": 30, "guidance_scale": 7.5,
                                                      "seed": 0}),
            ("save", "SaveImage", {"images": ("sampler", 0), "filename_prefix": "distill3d/mvdream_views"}),
            ("obj", "Distill3DWorldObject", {"object": "snowman", "prompt": ""}),
            ("truth", "Distill3DRenderWorldViews", {"object": ("obj", 0), "cameras": ("sampler", 1),
                                                    "resolution": 32, "shading": "albedo"}),
            ("truth_preview", "PreviewImage", {"images": ("truth", 0)}),
        ],
    ),
    "mvdream_sd21": (
        "MVDream with its own checkpoint (GPU-sized): models/mvdream/sd-v2.1-base-4view.pt as the prior (its "
        "VAE and OpenCLIP text encoder come from the same file). First the Multi-View Sampler shows what the model "
        "makes of the prompt: 4 views at elevation 15. Then multi-view SDS (groups of 4 views sharing elevation, "
        "distance and fov, 90° apart; guidance 50, CFG rescale 0.5, x0 reconstruction, t_max annealed 0.98 -> 0.5) "
        "on 256² renders optimizes a NeRF for 5000 steps; mesh -> GLB (Preview3D) + MP4 turntable. On a CPU, set "
        "the prior's resolution to 64 and the steps to a few.",
        [
            ("prior", "Distill3DMVDreamPrior", {"ckpt_name": "sd-v2.1-base-4view.pt",
                                                "prompt": "an astronaut riding a horse",
                                                "negative_prompt": "ugly, blurry, pixelated, low quality, cropped, "
                                                                   "deformed, bad proportions",
                                                "mode": "multi-view", "views": 4, "resolution": 256}),
            ("sampler", "Distill3DMultiViewSampler", {"prior": ("prior", 0), "views": 4, "elevation": 15.0,
                                                      "azimuth_start": 0.0, "steps": 50, "guidance_scale": 10.0,
                                                      "seed": 0}),
            ("save_views", "SaveImage", {"images": ("sampler", 0), "filename_prefix": "distill3d/mvdream_sd21_views"}),
            ("cams", "Distill3DMultiViewCameraDistribution", {"views": 4, "elevation_min": 0.0, "elevation_max": 30.0,
                                                              "distance_min": 1.8, "distance_max": 2.2,
                                                              "fov_min": 40.0, "fov_max": 50.0}),
            ("mvsds", "Distill3DMultiViewSDSLoss", {"prior": ("prior", 0), "cameras": ("cams", 0),
                                                    "guidance_scale": 50.0, "views": 4, "groups_per_step": 2,
                                                    "t_max_end": 0.5, "cfg_rescale": 0.5, "x0_form": True}),
            *gpu_text_to_3d("mvsds", "mvdream_sd21"),
        ],
    ),
    "prolificdreamer_world": (
        "ProlificDreamer's variational score distillation on a CPU, offline: the dreamfusion_world graph with the "
        "SDS loss replaced by VSD, whose estimator of the renders' own score (on this exact prior: a small network "
        "that decodes a camera into the field's current render there, trained alongside) takes the place of the "
        "random noise. "
        "The log shows the estimator's own loss falling.",
        [
            *WORLD_PRIOR_AND_CAMERAS,
            ("vsd", "Distill3DVSDLoss", {"prior": ("prior", 0), "cameras": ("cams", 0), "guidance_scale": 10.0,
                                         "views_per_step": 4, "t_max_end": 0.5, "estimator": "auto",
                                         "estimator_lr": 0.001, "estimator_steps": 0}),
            *world_text_to_3d("vsd", "prolificdreamer", turntable=False),
        ],
    ),
    "dreamfusion_sd": (
        "DreamFusion with your own Stable Diffusion checkpoint (GPU-sized): Load Checkpoint and CLIP Text Encode "
        "feed the Checkpoint Prior; SDS with guidance 100 on 512² renders from DreamFusion's camera distribution "
        "optimizes a NeRF for 5000 steps; mesh -> GLB (Preview3D) + MP4 turntable. LoRAs applied to the MODEL "
        "take effect. On a CPU, lower the resolution to 64 and the steps to a few.",
        [
            ("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}),
            ("pos", "CLIPTextEncode", {"clip": ("ckpt", 1), "text": "a DSLR photo of a hamburger"}),
            ("neg", "CLIPTextEncode", {"clip": ("ckpt", 1), "text": "blurry, low quality, cropped"}),
            ("prior", "Distill3DCheckpointPrior", {"model": ("ckpt", 0), "vae": ("ckpt", 2), "positive": ("pos", 0),
                                                   "negative": ("neg", 0), "resolution": 512}),
            ("cams", "Distill3DCameraDistribution", {}),
            ("sds", "Distill3DSDSLoss", {"prior": ("prior", 0), "cameras": ("cams", 0), "guidance_scale": 100.0,
                                         "views_per_step": 1, "t_max_end": 0.5}),
            *gpu_text_to_3d("sds", "dreamfusion_sd"),
        ],
    ),
}




def textured_outputs(field: str, prefix: str, sizes: dict) -> list:
    """A field's end of a graph: mesh -> texture baked from the field -> GLB (Preview3D) + MP4 turntable."""
    return [
        ("mesh", "Distill3DExtractMesh", {"field": (field, 0), "resolution": sizes["mesh"]}),
        ("bake", "Distill3DBakeTexture", {"mesh": ("mesh", 0), "field": (field, 0),
                                          "texture_size": sizes["texture"]}),
        ("save_mesh", "Distill3DSaveMesh", {"mesh": ("bake", 0), "filename_prefix": f"distill3d/{prefix}",
                                            "format": "glb"}),
        ("turntable", "Distill3DRenderTurntable", {"mesh": ("bake", 0), "frames": sizes["frames"],
                                                   "resolution": sizes["turntable"], "shading": "albedo",
                                                   "filename_prefix": f"distill3d/{prefix}_turntable"}),
        ("preview3d", "Preview3D", {"model_file": ("save_mesh", 0)}),
    ]


def dreamcraft3d_geometry(prefix: str, text_prior: str, image_prior: str, cams: str, ref: str, coarse: dict,
                          refine: dict, hybrid: dict, sizes: dict, texture: dict) -> list:
    """DreamCraft3D after the priors and the reference: hybrid SDS + reference losses on a NeuS (coarse) ->
    Convert to DMTet -> SDS on normal renders + reference mask / normal losses (geometry) -> Texture Stage (the
    geometry frozen) boosted by BSD against texture["prior"] -> mesh, baked texture -> GLB (Preview3D) + MP4
    turntable; with texture["lora"], the boosted model is saved as a LoRA."""
    return [
        ("hybrid", "Distill3DHybridSDSLoss", {"prior_3d": (image_prior, 0), "cameras": (cams, 0),
                                              "prior_2d": (text_prior, 0), **hybrid}),
        ("ref_loss", "Distill3DReferenceImageLoss", {"reference": (ref, 0), "rays_per_step": 512,
                                                     "rgb_weight": 1.0, "mask_weight": 1.0, "depth_weight": 0.0,
                                                     "normal_weight": 0.0}),
        ("eik", "Distill3DEikonalLoss", {"weight": 0.1}),
        ("losses", "Distill3DCombineLosses", {"loss_1": ("hybrid", 0), "loss_2": ("ref_loss", 0),
                                              "loss_3": ("eik", 0)}),
        ("field", "Distill3DCreateNeuS", {"encoding": "auto", "seed": 0}),
        ("coarse", "Distill3DOptimizeField", {"field": ("field", 0), "loss": ("losses", 0), "seed": 0, **coarse}),
        ("coarse_preview", "PreviewImage", {"images": ("coarse", 1)}),
        ("normal_sds", "Distill3DSDSLoss", {"prior": (sizes["normal_prior"], 0), "cameras": (cams, 0),
                                            "t_min": 0.02, "t_max": 0.5, "t_max_end": 0.5, "shading": "normal",
                                            "view_dependent_prompts": True, "random_background": 0.0,
                                            **sizes["normal_sds"]}),
        ("ref_geometry", "Distill3DReferenceImageLoss", {"reference": (ref, 0), "rays_per_step": 512,
                                                         "rgb_weight": 1.0, "mask_weight": 1.0,
                                                         "depth_weight": 0.0, "normal_weight": 1.0}),
        ("geometry_losses", "Distill3DCombineLosses", {"loss_1": ("normal_sds", 0), "loss_2": ("ref_geometry", 0)}),
        ("dmtet", "Distill3DConvertToDMTet", {"field": ("coarse", 0), "resolution": sizes["grid"]}),
        ("refine", "Distill3DOptimizeField", {"field": ("dmtet", 0), "loss": ("geometry_losses", 0), "seed": 0,
                                              "lr_schedule": "constant", **refine}),
        ("refine_preview", "PreviewImage", {"images": ("refine", 1)}),
        ("texture_stage", "Distill3DTextureStage", {"field": ("refine", 0), "texture": "source"}),
        ("bsd", "Distill3DBSDLoss", {"prior": (texture["prior"], 0), "cameras": (cams, 0), "t_max_end": 0.5,
                                     "random_background": 0.0, **texture["bsd"]}),
        ("boost", "Distill3DOptimizeField", {"field": ("texture_stage", 0), "loss": ("bsd", 0), "seed": 0,
                                             "lr_schedule": "constant", **texture["optimize"]}),
        ("boost_preview", "PreviewImage", {"images": ("boost", 1)}),
        *([("save_lora", "Distill3DSaveBoostedLoRA", {"loss": ("bsd", 0), "field": ("boost", 0),
                                                      "name": texture["lora"]})] if texture.get("lora") else []),
        *textured_outputs("boost", prefix, sizes),
    ]


SPECS["dreamcraft3d_world"] = (
    "DreamCraft3D on a CPU, offline: ONE exact view of a world object (the duck's front at elevation 15, with its "
    "mask and normal map) -> the World Image Prior (Zero-1-to-3 of the world: it judges every novel view relative "
    "to that reference) and the World Prior as the 2D text prior, combined by Hybrid SDS (progressive views from the "
    "reference to all around, timesteps annealed from [0.7, 0.85] to [0.2, 0.5]) with the reference losses on a "
    "NeuS; then Convert to DMTet and SDS on normal renders (the text prior's normal-map mode) with the reference "
    "mask and normal; then the texture stage (geometry frozen) boosted by BSD against the 64² World Prior "
    "(bootstrap rounds of SDEdit-augmented renders) -> textured GLB (Preview3D) + MP4. The same graph with your "
    "models is dreamcraft3d_sd.",
    [
        ("obj", "Distill3DWorldObject", {"object": "duck", "prompt": ""}),
        ("ref_cam", "Distill3DOrbitCameras", {"views": 1, "elevation": 15.0, "distance": 1.8, "fov": 40.0}),
        ("ref_render", "Distill3DRenderWorldViews", {"object": ("obj", 0), "cameras": ("ref_cam", 0),
                                                     "resolution": 128, "shading": "albedo"}),
        ("ref", "Distill3DReferenceImage", {"image": ("ref_render", 0), "mask": ("ref_render", 1),
                                            "normal": ("ref_render", 3), "size": 128, "fill": 0.0,
                                            "elevation": 15.0, "distance": 1.8, "fov": 40.0}),
        ("ref_preview", "PreviewImage", {"images": ("ref", 1)}),
        ("image_prior", "Distill3DWorldImagePrior", {"reference": ("ref", 0), "resolution": "32", "tolerance": 0.01}),
        ("text_prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", "mode": "2D", "resolution": "32"}),
        ("normal_prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", "mode": "view-aware", "resolution": "32",
                                                 "renders": "normal"}),
        ("texture_prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", "mode": "view-aware",
                                                  "resolution": "64"}),
        ("cams", "Distill3DCameraDistribution", {"elevation_min": -10.0, "elevation_max": 45.0, "distance_min": 1.8,
                                                 "distance_max": 1.8, "fov_min": 40.0, "fov_max": 40.0}),
        *dreamcraft3d_geometry(
            "dreamcraft3d", "text_prior", "image_prior", "cams", "ref",
            coarse={"steps": 200, "learning_rate": 0.02, "samples_per_ray": 24, "preview_every": 25},
            refine={"steps": 40, "learning_rate": 0.01, "preview_every": 10},
            hybrid={"guidance_3d": 5.0, "guidance_2d": 10.0, "views_per_step": 4},
            sizes={"normal_prior": "normal_prior", "normal_sds": {"guidance_scale": 10.0, "views_per_step": 4},
                   "grid": 48, "mesh": 96, "texture": 256, "frames": 24, "turntable": 128},
            texture={"prior": "texture_prior",
                     "bsd": {"guidance_scale": 7.5, "views_per_step": 2, "augment_views": 16, "estimator": "auto",
                             "estimator_steps": 4},
                     "optimize": {"steps": 30, "learning_rate": 0.01, "preview_every": 10}}),
    ],
)

SPECS["dreamcraft3d_sd"] = (
    "DreamCraft3D with your models (GPU-sized): a picture (Load Image: a photo with transparency, or wire a "
    "KSampler's text-to-image result and a background-removal node's mask into Reference Image) -> Image Only "
    "Checkpoint Loader with stable_zero123.ckpt -> Zero123 Prior (each view conditioned on its pose relative to "
    "the picture) and Load Checkpoint's model as the 2D text prior, combined by Hybrid SDS (guidance 5 and 100, "
    "progressive views, annealed timesteps) with the reference losses on a NeuS (5000 steps); Convert to DMTet and "
    "SDS on normal renders with the reference mask and normal; the texture stage boosted by BSD with the checkpoint "
    "at 512² (DreamBooth LoRA 'a sks hamburger', saved to models/loras for Load LoRA) -> textured GLB (Preview3D) "
    "+ MP4. On a CPU, set the priors' resolutions to 64 and the steps to a few.",
    [
        ("image", "LoadImage", {"image": "example.png"}),
        ("ref", "Distill3DReferenceImage", {"image": ("image", 0), "mask": ("image", 1), "size": 256, "fill": 0.85,
                                            "elevation": 0.0, "distance": 1.8, "fov": 40.0}),
        ("ref_preview", "PreviewImage", {"images": ("ref", 1)}),
        ("zero123", "ImageOnlyCheckpointLoader", {"ckpt_name": "stable_zero123.ckpt"}),
        ("image_prior", "Distill3DZero123Prior", {"model": ("zero123", 0), "clip_vision": ("zero123", 1),
                                                  "vae": ("zero123", 2), "reference": ("ref", 0),
                                                  "resolution": 256}),
        ("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}),
        ("text_prior", "Distill3DCheckpointTextPrior", {"model": ("ckpt", 0), "clip": ("ckpt", 1),
                                                        "vae": ("ckpt", 2), "prompt": "a DSLR photo of a hamburger",
                                                        "negative_prompt": "blurry, low quality", "resolution": 256}),
        ("texture_prior", "Distill3DCheckpointTextPrior", {"model": ("ckpt", 0), "clip": ("ckpt", 1),
                                                           "vae": ("ckpt", 2), "prompt": "a DSLR photo of a hamburger",
                                                           "negative_prompt": "blurry, low quality",
                                                           "resolution": 512}),
        ("cams", "Distill3DCameraDistribution", {"elevation_min": -10.0, "elevation_max": 45.0, "distance_min": 1.8,
                                                 "distance_max": 1.8, "fov_min": 40.0, "fov_max": 40.0}),
        *dreamcraft3d_geometry(
            "dreamcraft3d_sd", "text_prior", "image_prior", "cams", "ref",
            coarse={"steps": 5000, "learning_rate": 0.01, "samples_per_ray": 64, "preview_every": 100},
            refine={"steps": 2000, "learning_rate": 0.005, "preview_every": 100},
            hybrid={"guidance_3d": 5.0, "guidance_2d": 100.0, "views_per_step": 1},
            sizes={"normal_prior": "text_prior", "normal_sds": {"guidance_scale": 100.0, "views_per_step": 1},
                   "grid": 128, "mesh": 256, "texture": 1024, "frames": 48, "turntable": 512},
            texture={"prior": "texture_prior",
                     "bsd": {"guidance_scale": 7.5, "views_per_step": 1, "augment_views": 8, "estimator": "auto",
                             "token": "sks", "class_word": "hamburger"},
                     "optimize": {"steps": 5000, "learning_rate": 0.01, "preview_every": 100},
                     "lora": "distill3d/dreamcraft3d_sd_boosted"}),
    ],
)

def geodream(prefix: str, sampler_prior: str, refine_prior: str, dmtet_prior: str, cams: str, sampler: dict,
             vsd: dict, fit: dict, refine: dict, sizes: dict) -> list:
    """GeoDream after its priors: Multi-View Sampler -> Cost Volume Builder (its mesh saved: what the prior alone
    says) -> cost-volume NeuS refined by VSD (+ eikonal) -> Convert to DMTet -> SDS on its renders (normal maps
    where the prior judges them: sizes["dmtet_sds"]["shading"]) -> mesh, texture baked from the field -> GLB
    (Preview3D) + MP4 turntable."""
    return [
        ("sampler", "Distill3DMultiViewSampler", {"prior": (sampler_prior, 0), "views": 4, "elevation": 15.0,
                                                  "azimuth_start": 0.0, "seed": 0, **sampler}),
        ("views_preview", "PreviewImage", {"images": ("sampler", 0)}),
        ("volume", "Distill3DCostVolumeBuilder", {"images": ("sampler", 0), "cameras": ("sampler", 1),
                                                  "method": "learned", "grid_size": sizes["grid"]}),
        ("save_volume", "Distill3DSaveMesh", {"mesh": ("volume", 1), "filename_prefix": f"distill3d/{prefix}_prior",
                                              "format": "glb"}),
        ("field", "Distill3DCreateCostVolumeNeuS", {"cost_volume": ("volume", 0), "volume_lr": 0.1,
                                                    "volume_decay": 0.1, "seed": 0}),
        ("vsd", "Distill3DVSDLoss", {"prior": (refine_prior, 0), "cameras": (cams, 0), "t_max_end": 0.5,
                                     "estimator": "auto", **vsd}),
        ("eik", "Distill3DEikonalLoss", {"weight": 0.1}),
        ("losses", "Distill3DCombineLosses", {"loss_1": ("vsd", 0), "loss_2": ("eik", 0)}),
        ("fit", "Distill3DOptimizeField", {"field": ("field", 0), "loss": ("losses", 0), "seed": 0, **fit}),
        ("fit_preview", "PreviewImage", {"images": ("fit", 1)}),
        ("dmtet", "Distill3DConvertToDMTet", {"field": ("fit", 0), "resolution": sizes["dmtet"]}),
        ("dmtet_sds", "Distill3DSDSLoss", {"prior": (dmtet_prior, 0), "cameras": (cams, 0), "t_min": 0.02,
                                           "t_max": 0.5, "t_max_end": 0.5, "random_background": 0.0,
                                           **sizes["dmtet_sds"]}),
        ("refine", "Distill3DOptimizeField", {"field": ("dmtet", 0), "loss": ("dmtet_sds", 0), "seed": 0,
                                              "lr_schedule": "constant", **refine}),
        ("refine_preview", "PreviewImage", {"images": ("refine", 1)}),
        *textured_outputs("refine", prefix, sizes),
    ]


SPECS["geodream_world"] = (
    "GeoDream on a CPU, offline: 4 views of 'a rubber duck' from the Multi-View Sampler (the World Prior in "
    "multi-view mode, MVDream's setting) -> Cost Volume Builder (the pack's learned net: each voxel projected into "
    "the views, their features' mean and variance, a 3D CNN; its own mesh is saved as the geometry prior alone) -> "
    "a NeuS whose SDF is the volume's frozen decoder, refined by VSD against the World Prior (the volume learns "
    "at a tenth of the rate, decaying) -> Convert to DMTet and SDS on normal renders -> textured GLB (Preview3D) "
    "+ MP4. The same graph with an MVDream checkpoint is geodream_mvdream.",
    [
        ("mv_prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", "mode": "multi-view", "resolution": "64"}),
        ("prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", "mode": "view-aware", "resolution": "32"}),
        ("normal_prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", "mode": "view-aware", "resolution": "32",
                                                 "renders": "normal"}),
        ("cams", "Distill3DCameraDistribution", {"elevation_min": -10.0, "elevation_max": 45.0, "distance_min": 1.8,
                                                 "distance_max": 1.8, "fov_min": 40.0, "fov_max": 40.0}),
        *geodream("geodream", "mv_prior", "prior", "normal_prior", "cams",
                  sampler={"steps": 30, "guidance_scale": 7.5},
                  vsd={"guidance_scale": 7.5, "views_per_step": 4, "estimator_steps": 0},
                  fit={"steps": 60, "learning_rate": 0.02, "samples_per_ray": 24, "preview_every": 20},
                  refine={"steps": 15, "learning_rate": 0.01, "preview_every": 5},
                  sizes={"grid": 32, "dmtet": 32, "mesh": 64, "texture": 128, "frames": 16, "turntable": 96,
                         "dmtet_sds": {"guidance_scale": 10.0, "views_per_step": 4, "shading": "normal"}}),
    ],
)

def painted_outputs(prefix: str, texture_size: int, resolution: int) -> list:
    """Paint Texture on ("mesh", "painter", "cams") and what a user looks at: the need masks and the painted views
    previewed, the textured GLB saved and shown in Preview3D."""
    return [
        ("paint", "Distill3DPaintTexture", {"mesh": ("mesh", 0), "painter": ("painter", 0), "cameras": ("cams", 0),
                                            "texture_size": texture_size, "resolution": resolution}),
        ("need_image", "MaskToImage", {"mask": ("paint", 2)}),
        ("need_preview", "PreviewImage", {"images": ("need_image", 0)}),
        ("views_preview", "PreviewImage", {"images": ("paint", 1)}),
        ("save", "Distill3DSaveMesh", {"mesh": ("paint", 0), "filename_prefix": f"distill3d/{prefix}",
                                       "format": "glb"}),
        ("preview3d", "Preview3D", {"model_file": ("save", 0)}),
    ]


SPECS["texture_paint_world"] = (
    "Progressive texture painting (DiffusionGAN3D's texture stage) on a CPU, offline: the duck's true, untextured "
    "mesh painted view by view by the World Painter (the world's true render at each camera) — the front "
    "first, then each view chosen for the mesh by how many texels it newly covers or improves, each painted only "
    "where it still needs paint, folded into one UV texture by the "
    "adaptive blend -> textured GLB (Preview3D) beside the true mesh; the painted views and their need masks "
    "are previewed. With your own checkpoint as the painter: texture_paint_sd.",
    [
        ("obj", "Distill3DWorldObject", {"object": "duck", "prompt": ""}),
        ("mesh", "Distill3DWorldTrueMesh", {"object": ("obj", 0), "resolution": 96}),
        ("painter", "Distill3DWorldPainter", {"object": ("obj", 0), "brightness_jitter": 0.0, "seed": 0}),
        ("cams", "Distill3DPaintViewSequence", {"order": "coverage", "views": 10, "elevation": 15.0,
                                                "mesh": ("mesh", 0)}),
        *painted_outputs("texture_paint_world", texture_size=512, resolution=256),
        ("save_truth", "Distill3DSaveMesh", {"mesh": ("mesh", 0),
                                             "filename_prefix": "distill3d/texture_paint_world_truth",
                                             "format": "glb"}),
    ],
)

SPECS["texture_paint_sd"] = (
    "Paint any mesh with your own Stable Diffusion 1.5 checkpoint (GPU-sized): a mesh file from the input folder "
    "(GLB / OBJ / PLY, e.g. one a Hunyuan3D or TRELLIS graph saved; or From ComfyUI MESH) -> Paint View Sequence "
    "(views chosen for the mesh) -> Paint Guides' depth per view -> ComfyUI's Apply ControlNet (a depth ControlNet) on the prompt -> Checkpoint "
    "Painter (ComfyUI's sampler with each view's need mask as the noise mask) -> Paint Texture (adaptive blend) "
    "-> textured GLB in Preview3D. Put your mesh in input/ as distill3d_mesh.glb (or pick another), "
    "v1-5-pruned-emaonly.safetensors in models/checkpoints and control_v11f1p_sd15_depth.pth in models/controlnet.",
    [
        ("mesh", "Distill3DLoadMeshFile", {"file": "distill3d_mesh.glb"}),
        ("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}),
        ("pos", "CLIPTextEncode", {"clip": ("ckpt", 1), "text": "a yellow rubber duck toy, orange beak, studio "
                                                                 "lighting, plain white background"}),
        ("neg", "CLIPTextEncode", {"clip": ("ckpt", 1), "text": "shadows, text, blurry, low quality"}),
        ("cams", "Distill3DPaintViewSequence", {"order": "coverage", "views": 10, "elevation": 15.0,
                                                "mesh": ("mesh", 0)}),
        ("guides", "Distill3DPaintGuides", {"mesh": ("mesh", 0), "cameras": ("cams", 0), "resolution": 512}),
        ("cnet", "ControlNetLoader", {"control_net_name": "control_v11f1p_sd15_depth.pth"}),
        ("apply", "ControlNetApplyAdvanced", {"positive": ("pos", 0), "negative": ("neg", 0),
                                              "control_net": ("cnet", 0), "image": ("guides", 0), "strength": 1.0,
                                              "start_percent": 0.0, "end_percent": 1.0, "vae": ("ckpt", 2)}),
        ("painter", "Distill3DCheckpointPainter", {"model": ("ckpt", 0), "vae": ("ckpt", 2),
                                                   "positive": ("apply", 0), "negative": ("apply", 1), "seed": 0,
                                                   "steps": 25, "cfg": 7.5, "denoise": 1.0}),
        *painted_outputs("texture_paint_sd", texture_size=1024, resolution=512),
    ],
)

SPECS["geodream_mvdream"] = (
    "GeoDream with an MVDream checkpoint (GPU-sized): models/mvdream/sd-v2.1-base-4view.pt samples 4 views at "
    "elevation 15 -> Cost Volume Builder (learned, 64³) -> cost-volume NeuS refined by VSD with the same model in "
    "2D mode at 256² (its LoRA estimator, 5000 steps) -> Convert to DMTet (128) and SDS on its renders (MVDream "
    "judges colour renders, not normal maps) -> textured GLB (Preview3D) + MP4. On a CPU, set the priors' "
    "resolutions to 64 and the steps to a few.",
    [
        ("mv_prior", "Distill3DMVDreamPrior", {"ckpt_name": "sd-v2.1-base-4view.pt", "prompt": "a DSLR photo of a "
                                               "hamburger", "negative_prompt": "ugly, blurry, low quality",
                                               "mode": "multi-view", "views": 4, "resolution": 256}),
        ("prior", "Distill3DMVDreamPrior", {"ckpt_name": "sd-v2.1-base-4view.pt", "prompt": "a DSLR photo of a "
                                            "hamburger", "negative_prompt": "ugly, blurry, low quality",
                                            "mode": "2D", "views": 4, "resolution": 256}),
        ("cams", "Distill3DCameraDistribution", {"elevation_min": -10.0, "elevation_max": 45.0, "distance_min": 1.8,
                                                 "distance_max": 1.8, "fov_min": 40.0, "fov_max": 40.0}),
        *geodream("geodream_mvdream", "mv_prior", "prior", "prior", "cams",
                  sampler={"steps": 50, "guidance_scale": 10.0},
                  vsd={"guidance_scale": 7.5, "views_per_step": 1, "estimator_steps": 0},
                  fit={"steps": 5000, "learning_rate": 0.01, "samples_per_ray": 64, "preview_every": 100},
                  refine={"steps": 2000, "learning_rate": 0.005, "preview_every": 100},
                  sizes={"grid": 64, "dmtet": 128, "mesh": 256, "texture": 1024, "frames": 48, "turntable": 512,
                         "dmtet_sds": {"guidance_scale": 50.0, "views_per_step": 1, "shading": "albedo"}}),
    ],
)

def gan_sample_outputs(prefix: str, generator: str, mesh_resolution: int) -> list:
    """Seed 0 of `generator` as a field -> mesh -> GLB (Preview3D)."""
    return [
        ("sample", "Distill3DGeneratorSampleToField", {"generator": (generator, 0), "seed": 0}),
        ("mesh", "Distill3DExtractMesh", {"field": ("sample", 0), "resolution": mesh_resolution}),
        ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", 0), "filename_prefix": f"distill3d/{prefix}",
                                            "format": "glb"}),
        ("preview3d", "Preview3D", {"model_file": ("save_mesh", 0)}),
    ]


def gan_adaptation(prefix: str, prior: str, adapt: dict, grid: dict, mesh_resolution: int) -> list:
    """The generator's samples before and after Adapt 3D GAN to Text, side by side, and one adapted sample as a
    mesh."""
    return [
        ("before", "Distill3DGeneratorGrid", {"generator": ("gen", 0), **grid}),
        ("before_preview", "PreviewImage", {"images": ("before", 0)}),
        ("adapt", "Distill3DAdaptGenerator", {"generator": ("gen", 0), "prior": (prior, 0), **adapt}),
        ("adapt_preview", "PreviewImage", {"images": ("adapt", 1)}),
        ("after", "Distill3DGeneratorGrid", {"generator": ("adapt", 0), **grid}),
        ("after_preview", "PreviewImage", {"images": ("after", 0)}),
        *gan_sample_outputs(prefix, "adapt", mesh_resolution),
    ]


SPECS["diffusiongan3d_adapt_world"] = (
    "DiffusionGAN3D's domain adaptation on a CPU, offline: the pack's own 3D GAN of mugs (many proportions, "
    "handles, colours) adapted to 'a red mug' by SDS with the world prior, the relative distance loss keeping "
    "the mugs as different from each other as they were and the reconstruction loss (source 'a mug') keeping "
    "what the prompt does not speak about (the background, the coffee); 8 samples before and after, and seed 0 "
    "of the adapted generator as a GLB (Preview3D). The world prior knows one red mug: longer runs pull every "
    "shape towards it.",
    [
        ("gen", "Distill3DLoadGenerator", {"generator_name": "distill3d: mugs (shipped)"}),
        ("prior", "Distill3DWorldPrior", {"prompt": "a red mug", "mode": "view-aware", "resolution": "32"}),
        *gan_adaptation("diffusiongan3d_adapt_world", "prior",
                        adapt={"steps": 20, "learning_rate": 0.001, "batch": 4, "guidance_scale": 10.0,
                               "relative_distance_weight": 10000.0, "reconstruction_weight": 30.0,
                               "source_prompt": "a mug", "samples_per_ray": 48, "seed": 0, "preview_every": 5},
                        grid={"seed": 0, "count": 8, "columns": 4, "azimuth": 30.0, "elevation": 20.0,
                              "fov": 40.0, "images": "raw render"},
                        mesh_resolution=64),
    ],
)

SPECS["diffusiongan3d_avatar_world"] = (
    "DiffusionGAN3D's text-to-avatar on a CPU, offline: of 8 seeds of the pack's mug GAN, the one the world "
    "prior finds most like 'a mug' is fine-tuned with SDS, the generator slowly and a case-specific triplane "
    "(smoothed by a multi-scale TV loss) added to its planes -> field -> mesh -> GLB (Preview3D); the candidates, "
    "the chosen one first, are previewed.",
    [
        ("gen", "Distill3DLoadGenerator", {"generator_name": "distill3d: mugs (shipped)"}),
        ("prior", "Distill3DWorldPrior", {"prompt": "a mug", "mode": "view-aware", "resolution": "32"}),
        ("avatar", "Distill3DTextToAvatar", {"generator": ("gen", 0), "prior": ("prior", 0), "candidates": 8,
                                             "seed": 0, "steps": 20, "learning_rate": 0.01,
                                             "generator_lr_scale": 0.1, "tv_weight": 1.0, "batch": 4,
                                             "guidance_scale": 100.0, "samples_per_ray": 32, "preview_every": 10}),
        ("candidates", "PreviewImage", {"images": ("avatar", 1)}),
        ("mesh", "Distill3DExtractMesh", {"field": ("avatar", 0), "resolution": 64}),
        ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", 0), "filename_prefix": "distill3d/diffusiongan3d_avatar",
                                            "format": "glb"}),
        ("preview3d", "Preview3D", {"model_file": ("save_mesh", 0)}),
    ],
)

SPECS["diffusiongan3d_adapt_eg3d"] = (
    "DiffusionGAN3D's domain adaptation of EG3D's FFHQ generator (GPU-sized): models/eg3d/ffhq512-128.pkl (read "
    "as data, never run) adapted to 'a Pixar character' by SDS with your Stable Diffusion checkpoint at 512², "
    "frontal poses, 2000 steps of 4 latents, the relative distance loss keeping the faces distinct; 8 faces before "
    "and after, and seed 0 as a GLB. Put ffhq512-128.pkl in models/eg3d and v1-5-pruned-emaonly.safetensors in "
    "models/checkpoints.",
    [
        ("gen", "Distill3DLoadGenerator", {"generator_name": "ffhq512-128.pkl"}),
        ("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}),
        ("pos", "CLIPTextEncode", {"clip": ("ckpt", 1), "text": "a 3D render of a Pixar character, face, high "
                                                               "quality"}),
        ("neg", "CLIPTextEncode", {"clip": ("ckpt", 1), "text": "blurry, low quality, photo"}),
        ("prior", "Distill3DCheckpointPrior", {"model": ("ckpt", 0), "vae": ("ckpt", 2), "positive": ("pos", 0),
                                               "negative": ("neg", 0), "resolution": 512}),
        *gan_adaptation("diffusiongan3d_adapt_eg3d", "prior",
                        adapt={"steps": 2000, "learning_rate": 0.001, "batch": 4, "guidance_scale": 100.0,
                               "relative_distance_weight": 10000.0, "reconstruction_weight": 0.0,
                               "source_prompt": "", "samples_per_ray": 96, "seed": 0, "preview_every": 50},
                        grid={"seed": 0, "count": 8, "columns": 4, "azimuth": 0.0, "elevation": 0.0,
                              "fov": 13.37, "images": "super-resolved"},
                        mesh_resolution=256),
    ],
)


# workflows that need the user's model files: their thumbnail is a drawing of the graph
NEEDS_MODEL_FILES = {"dreamfusion_sd", "mvdream_sd21", "dreamcraft3d_sd", "geodream_mvdream", "texture_paint_sd",
                     "diffusiongan3d_adapt_eg3d"}


def build(name: str, info: dict) -> dict:
    description, spec = SPECS[name]
    ids = {key: i + 1 for i, (key, _, _) in enumerate(spec)}
    links, nodes = [], []
    depth = {}
    for key, cls, values in spec:
        srcs = [v[0] for v in values.values() if isinstance(v, tuple)]
        depth[key] = 1 + max((depth[s] for s in srcs), default=-1)
    rows = {}
    for order, (key, cls, values) in enumerate(spec):
        d = info[cls]
        unknown = set(values) - set(d["input"].get("required", {})) - set(d["input"].get("optional", {}))
        if unknown:
            raise KeyError(f"{name}: {cls} has no inputs {sorted(unknown)}")
        inputs, widgets = [], []
        widget_set = {w for w, _ in widget_names(d)}
        for section in ("required", "optional"):
            for inp, inp_spec in d["input"].get(section, {}).items():
                typ = inp_spec[0] if not isinstance(inp_spec[0], list) else "COMBO"
                v = values.get(inp)
                if isinstance(v, tuple):
                    link_id = len(links) + 1
                    src_key, slot = v
                    links.append([link_id, ids[src_key], slot, ids[key], None, None])  # slot and type filled below
                    entry = {"name": inp, "type": typ, "link": link_id}
                    if inp in widget_set:
                        entry["widget"] = {"name": inp}
                    inputs.append(entry)
                elif inp not in widget_set:
                    inputs.append({"name": inp, "type": typ, "link": None})
        for w, control in widget_names(d):
            v = values.get(w)
            if isinstance(v, tuple) or v is None:
                spec_w = d["input"].get("required", {}).get(w) or d["input"].get("optional", {}).get(w) or ["", {}]
                opts = spec_w[1] if len(spec_w) > 1 and isinstance(spec_w[1], dict) else {}
                v = opts.get("default", spec_w[0][0] if isinstance(spec_w[0], list) and spec_w[0] else "")
            widgets.append(v)
            if control:
                widgets.append("fixed")
        # link slots: index of the input among the node's inputs, type of the source output
        for e in inputs:
            if e["link"] is not None:
                link = links[e["link"] - 1]
                link[4] = inputs.index(e)
                src_cls = spec[link[1] - 1][1]
                link[5] = info[src_cls]["output"][link[2]]
        col = depth[key]
        y = rows.get(col, 60)
        height = 80 + 26 * (len(widgets) + len(inputs))
        if cls in ("Preview3D", "SaveImage", "PreviewImage"):
            height = max(height, 360)
        rows[col] = y + height + 40
        outputs = [{"name": n, "type": t, "links": [], "slot_index": i}
                   for i, (n, t) in enumerate(zip(d["output_name"], d["output"]))]
        nodes.append({"id": ids[key], "type": cls, "pos": [60 + 400 * col, y], "size": [340, height],
                      "flags": {}, "order": order, "mode": 0, "inputs": inputs, "outputs": outputs,
                      "properties": {"Node name for S&R": cls}, "widgets_values": widgets})
    for link in links:
        nodes[link[1] - 1]["outputs"][link[2]]["links"].append(link[0])
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"distill3d/{name}")), "revision": 0,
            "last_node_id": len(nodes), "last_link_id": len(links), "nodes": nodes, "links": links, "groups": [],
            "config": {}, "extra": {"ds": {"scale": 0.7, "offset": [90, 40]}, "distill3d": {"description": description}},
            "version": 0.4}


def thumbnail(host: ComfyHost, wf: dict, info: dict, path: str):
    from PIL import Image

    entry = host.run(ui_to_api(wf, info), timeout=3600)
    if entry["status"]["status_str"] != "success":
        raise RuntimeError(f"{path}: the workflow failed: {entry['status']}")
    imgs = [r for r in host.output_files(entry) if r["filename"].endswith(".png") and r["kind"] == "images"]
    saved = [r for r in imgs if r.get("type") == "output"]
    if not saved:  # only previews: take those of the last previewing node of the graph (its result)
        last = max(int(r["node"]) for r in imgs)
        saved = [r for r in imgs if int(r["node"]) == last]
    imgs = saved
    tiles = [Image.open(io.BytesIO(host.view(r))).convert("RGB") for r in imgs[:4]]
    from PIL import ImageOps
    sheet = Image.new("RGB", (512, 512), "white")
    cells = [(0, 0, 512)] if len(tiles) == 1 else [((i % 2) * 256, (i // 2) * 256, 256) for i in range(len(tiles))]
    for t, (x, y, size) in zip(tiles, cells):
        t = ImageOps.contain(t, (size, size))
        sheet.paste(t, (x + (size - t.width) // 2, y + (size - t.height) // 2))
    sheet.save(path)


def graph_thumbnail(wf: dict, path: str):
    """A drawing of the graph itself, for workflows that need the user's model files to produce anything."""
    from PIL import Image, ImageDraw
    nodes = wf["nodes"]
    x0 = min(n["pos"][0] for n in nodes)
    y0 = min(n["pos"][1] for n in nodes)
    x1 = max(n["pos"][0] + n["size"][0] for n in nodes)
    y1 = max(n["pos"][1] + min(n["size"][1], 200) for n in nodes)
    scale = min(500 / (x1 - x0), 500 / (y1 - y0))
    top = (512 - (y1 - y0) * scale) / 2  # centered

    def box(n):
        x, y = (n["pos"][0] - x0) * scale + 6, (n["pos"][1] - y0) * scale + top
        return x, y, x + n["size"][0] * scale, y + min(n["size"][1], 200) * scale

    sheet = Image.new("RGB", (512, 512), (32, 32, 36))
    draw = ImageDraw.Draw(sheet)
    by_id = {n["id"]: n for n in nodes}
    for _, src, _, dst, _, _ in wf["links"]:
        a, b = box(by_id[src]), box(by_id[dst])
        draw.line([(a[2], (a[1] + a[3]) / 2), (b[0], (b[1] + b[3]) / 2)], fill=(150, 200, 255), width=2)
    for n in nodes:
        b = box(n)
        ours = n["type"].startswith("Distill3D")
        draw.rectangle(b, fill=(60, 70, 95) if ours else (70, 70, 70), outline=(200, 200, 200))
        title = n["type"].replace("Distill3D", "")
        draw.text((b[0] + 3, b[1] + 3), title[: max(4, int((b[2] - b[0]) / 6))], fill=(255, 255, 255))
    sheet.save(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--thumbnails", action="store_true")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    with ComfyHost() as host:
        info = host.object_info()
        for name in args.names or SPECS:
            wf = build(name, info)
            path = os.path.join(WORKFLOW_DIR, f"{name}.json")
            with open(path, "w") as f:
                json.dump(wf, f, indent=1)
            print("wrote", path)
            if args.thumbnails and name in NEEDS_MODEL_FILES:
                graph_thumbnail(wf, path[:-5] + ".png")
                print("wrote", path[:-5] + ".png")
            elif args.thumbnails:
                thumbnail(host, wf, info, path[:-5] + ".png")
                print("wrote", path[:-5] + ".png")


if __name__ == "__main__":
    main()
