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
import itertools
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from comfy_host import ROOT, ComfyHost, ui_to_api, widget_names  # noqa: E402

sys.path.insert(0, ROOT)
from core.recipes import RECIPES  # noqa: E402  (the world workflows' settings: defined there, once)

WORKFLOW_DIR = os.environ.get("D3_WORKFLOW_OUT") or os.path.join(ROOT, "workflows")

# the world prior and the camera distribution it was rendered at: the head of every world SDS / VSD graph
def world_prior_and_cameras(recipe: str) -> list:
    """The head of every world SDS / VSD graph: the world prior and the camera distribution it was rendered at."""
    r = RECIPES[recipe]
    cams = "Distill3DMultiViewCameraDistribution" if "views" in r["cams"] else "Distill3DCameraDistribution"
    return [("@stage", "1. Prior and cameras"),
            ("prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", **r["prior"]}),
            ("cams", cams, dict(r["cams"]))]


def world_text_to_3d(recipe: str, loss: str, prefix: str, turntable: bool = True) -> list:
    """The world text-to-3D graphs' shared rest: the loss node `loss` + eikonal -> NeuS (the recipe's optimization)
    -> mesh -> GLB (Preview3D) and, optionally, an MP4 turntable."""
    r = RECIPES[recipe]
    nodes = [
        ("eik", "Distill3DEikonalLoss", dict(r["eik"])),
        ("losses", "Distill3DCombineLosses", {"loss_1": (loss, "loss"), "loss_2": ("eik", "loss")}),
        ("@stage", "3. Optimize a NeuS field"),
        ("field", "Distill3DCreateNeuS", {"encoding": "auto", "seed": 0}),
        ("fit", "Distill3DOptimizeField", {"field": ("field", "field"), "loss": ("losses", "loss"), **r["fit"],
                                           "preview_every": 25}),
        ("fit_preview", "PreviewImage", {"images": ("fit", "preview")}, "Renders | prior's targets"),
        ("@stage", "4. Mesh and files"),
        ("mesh", "Distill3DExtractMesh", {"field": ("fit", "field"), "resolution": 96}),
        ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", "mesh"), "filename_prefix": f"distill3d/{prefix}",
                                            "format": "glb"}),
    ]
    if turntable:
        nodes.append(("turntable", "Distill3DRenderTurntable",
                      {"mesh": ("mesh", "mesh"), "frames": 24, "resolution": 128, "shading": "albedo",
                       "filename_prefix": f"distill3d/{prefix}_turntable"}))
    return nodes + [("preview3d", "Preview3D", {"model_file": ("save_mesh", "model_file")})]

def gpu_text_to_3d(loss: str, prefix: str) -> list:
    """The GPU-sized text-to-3D graphs' shared rest: the loss node `loss` -> NeRF, 5000 steps -> mesh (256³) ->
    GLB (Preview3D) + a 512² MP4 turntable."""
    return [
        ("@stage", "3. Optimize a NeRF"),
        ("field", "Distill3DCreateNeRF", {"encoding": "auto", "seed": 0}),
        ("fit", "Distill3DOptimizeField", {"field": ("field", "field"), "loss": (loss, "loss"), "steps": 5000,
                                           "learning_rate": 0.01, "samples_per_ray": 64, "seed": 0,
                                           "preview_every": 100}),
        ("fit_preview", "PreviewImage", {"images": ("fit", "preview")}, "Renders | prior's targets"),
        ("@stage", "4. Mesh and files"),
        ("mesh", "Distill3DExtractMesh", {"field": ("fit", "field"), "resolution": 256}),
        ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", "mesh"), "filename_prefix": f"distill3d/{prefix}",
                                            "format": "glb"}),
        ("turntable", "Distill3DRenderTurntable", {"mesh": ("mesh", "mesh"), "frames": 48, "resolution": 512,
                                                   "shading": "albedo",
                                                   "filename_prefix": f"distill3d/{prefix}_turntable"}),
        ("preview3d", "Preview3D", {"model_file": ("save_mesh", "model_file")}),
    ]


def rfds_distillation(guidance_scale: float) -> list:
    """The flow GPU graphs' stage 2: DreamFusion's cameras and the SDS Loss in RFDS form with RFDS's published SD3
    settings (t 0.02-0.7 of the model's own shifted table, the random sigmoid weight) at `guidance_scale`."""
    return [
        ("@stage", "2. Rectified-flow distillation"),
        ("cams", "Distill3DCameraDistribution", {}),
        ("sds", "Distill3DSDSLoss", {"prior": ("prior", "prior"), "cameras": ("cams", "cameras"),
                                     "guidance_scale": guidance_scale, "views_per_step": 1, "weighting": "rfds",
                                     "t_min": 0.02, "t_max": 0.7, "t_max_end": 0.7, "form": "rfds"}),
    ]


# name -> (description, [(key, class, {input: value or (source key, output name)}), ...])
SPECS = {
    "world_views": (
        "The primitive world: pick an object, render exact views with depth and normals, export its true mesh "
        "as GLB and view it in ComfyUI's 3D preview.",
        [
            ("@stage", "1. Object and cameras"),
            ("obj", "Distill3DWorldObject", {"object": "snowman", "prompt": ""}),
            ("cams", "Distill3DOrbitCameras", {"views": 8, "elevation": 15.0, "distance": 1.8, "fov": 40.0}),
            ("@stage", "2. Exact views"),
            ("render", "Distill3DRenderWorldViews", {"object": ("obj", "object"), "cameras": ("cams", "cameras"),
                                                     "resolution": 128}),
            ("save_views", "SaveImage", {"images": ("render", "image"), "filename_prefix": "distill3d/world_views"},
             "Views (saved)"),
            ("depth", "PreviewImage", {"images": ("render", "depth")}, "Depth"),
            ("normal", "PreviewImage", {"images": ("render", "normal")}, "Normals"),
            ("@stage", "3. True mesh"),
            ("mesh", "Distill3DWorldTrueMesh", {"object": ("obj", "object"), "resolution": 128}),
            ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", "mesh"), "filename_prefix": "distill3d/world_mesh",
                                                "format": "glb"}),
            ("preview3d", "Preview3D", {"model_file": ("save_mesh", "model_file")}),
        ],
    ),
    "world_random_views": (
        "An object picked by a prompt, seen from DreamFusion's random camera distribution (seeded), rendered "
        "textureless to show its geometry; the true mesh is saved as PLY with vertex colors.",
        [
            ("@stage", "1. Object and cameras"),
            ("obj", "Distill3DWorldObject", {"object": "sphere", "prompt": "a DSLR photo of a rubber duck"}),
            ("cams", "Distill3DRandomCameras", {"views": 6, "seed": 7}),
            ("@stage", "2. Views and mesh"),
            ("render", "Distill3DRenderWorldViews", {"object": ("obj", "object"), "cameras": ("cams", "cameras"),
                                                     "resolution": 96, "shading": "textureless"}),
            ("save_views", "SaveImage", {"images": ("render", "image"), "filename_prefix": "distill3d/random_views"},
             "Textureless views (saved)"),
            ("mask", "MaskToImage", {"mask": ("render", "mask")}),
            ("mask_preview", "PreviewImage", {"images": ("mask", "IMAGE")}, "Masks"),
            ("mesh", "Distill3DWorldTrueMesh", {"object": ("obj", "object"), "resolution": 96}),
            ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", "mesh"), "filename_prefix": "distill3d/duck",
                                                "format": "ply"}),
        ],
    ),
    "reconstruct_from_views": (
        "Reconstruction from views on a CPU: 24 exact views of a world object on four rings, a NeuS field fitted "
        "to them (masked RGB + mask + eikonal), refined as a DMTet surface by rasterization, extracted, its "
        "albedo baked into a texture, saved as a textured GLB (shown in Preview3D) with an MP4 turntable. "
        "On a GPU, raise the resolution, rays and steps.",
        [
            ("@stage", "1. 24 exact views"),
            ("obj", "Distill3DWorldObject", {"object": "snowman", "prompt": ""}),
            ("ring_mid", "Distill3DOrbitCameras", {"views": 10, "elevation": 15.0}, "Ring at 15° (10 views)"),
            ("ring_high", "Distill3DOrbitCameras", {"views": 6, "elevation": 45.0, "azimuth_start": 30.0},
             "Ring at 45° (6 views)"),
            ("ring_top", "Distill3DOrbitCameras", {"views": 4, "elevation": 75.0, "azimuth_start": 22.5},
             "Ring at 75° (4 views)"),
            ("ring_low", "Distill3DOrbitCameras", {"views": 4, "elevation": -20.0, "azimuth_start": 11.25},
             "Ring at -20° (4 views)"),
            ("cams", "Distill3DCombineCameras", {"cameras_1": ("ring_mid", "cameras"),
                                                 "cameras_2": ("ring_high", "cameras"),
                                                 "cameras_3": ("ring_top", "cameras"), "cameras_4": ("ring_low", "cameras")}),
            ("render", "Distill3DRenderWorldViews", {"object": ("obj", "object"), "cameras": ("cams", "cameras"),
                                                     "resolution": 64, "shading": "albedo"}),
            ("views", "PreviewImage", {"images": ("render", "image")}, "The 24 views"),
            ("@stage", "2. Fit a NeuS field"),
            ("ref", "Distill3DReferenceViewsLoss", {"images": ("render", "image"), "cameras": ("render", "cameras"),
                                                    "mask": ("render", "mask")}),
            ("eik", "Distill3DEikonalLoss", {"weight": 0.1}),
            ("losses", "Distill3DCombineLosses", {"loss_1": ("ref", "loss"), "loss_2": ("eik", "loss")}),
            ("field", "Distill3DCreateNeuS", {"encoding": "auto", "seed": 0}),
            ("fit", "Distill3DOptimizeField", {"field": ("field", "field"), "loss": ("losses", "loss"), "steps": 600,
                                               "learning_rate": 0.02, "seed": 0}, "Fit NeuS"),
            ("@stage", "3. Refine as a DMTet surface"),
            ("dmtet", "Distill3DConvertToDMTet", {"field": ("fit", "field"), "resolution": 48}),
            ("refine", "Distill3DOptimizeField", {"field": ("dmtet", "field"), "loss": ("ref", "loss"), "steps": 120,
                                                  "learning_rate": 0.01, "lr_schedule": "constant", "seed": 0,
                                                  "preview_every": 20}, "Refine DMTet"),
            ("fit_preview", "PreviewImage", {"images": ("refine", "preview")}, "Renders | views"),
            ("@stage", "4. Mesh, texture and files"),
            ("mesh", "Distill3DExtractMesh", {"field": ("refine", "field"), "resolution": 128}),
            ("bake", "Distill3DBakeTexture", {"mesh": ("mesh", "mesh"), "field": ("refine", "field"),
                                              "texture_size": 512}),
            ("save_mesh", "Distill3DSaveMesh", {"mesh": ("bake", "mesh"), "filename_prefix": "distill3d/reconstruction",
                                                "format": "glb"}),
            ("turntable", "Distill3DRenderTurntable", {"mesh": ("bake", "mesh"), "frames": 24, "resolution": 192,
                                                       "shading": "albedo",
                                                       "filename_prefix": "distill3d/reconstruction_turntable"}),
            ("turntable_frames", "PreviewImage", {"images": ("turntable", "images")}, "Turntable frames"),
            ("preview3d", "Preview3D", {"model_file": ("save_mesh", "model_file")}),
        ],
    ),
    "dreamfusion_world": (
        "DreamFusion on a CPU, offline: text -> 3D with score distillation against the primitive world's exact "
        "prior. A NeuS field is optimized so that random views of it look like 'a rubber duck' to the prior (SDS, "
        "classifier-free guidance 10, annealed timesteps; eikonal term); the mesh is extracted, saved as GLB "
        "(Preview3D) and turned into an MP4. The optimizer's preview shows the renders over the prior's denoised "
        "targets. The same graph with a Checkpoint Prior is dreamfusion_sd.",
        [
            *world_prior_and_cameras("dreamfusion_world"),
            ("@stage", "2. Score distillation"),
            ("sds", "Distill3DSDSLoss", {"prior": ("prior", "prior"), "cameras": ("cams", "cameras"),
                                         **RECIPES["dreamfusion_world"]["sds"]}),
            *world_text_to_3d("dreamfusion_world", "sds", "dreamfusion"),
        ],
    ),
    "mvdream_world": (
        "MVDream's multi-view score distillation on a CPU, offline: the dreamfusion_world graph with the World "
        "Prior in multi-view mode (groups of 4 views, 90° apart, denoised together as MVDream's U-Net does) and the "
        "Multi-View SDS loss (one timestep per group, CFG rescale, x0 reconstruction). The prior knows 4 ducks of "
        "the duck family (members; member_seed picks which): a 2D prior lets each view match a different one, "
        "the multi-view prior makes every view the same duck, with one face (the Janus problem; "
        "bench/bench_janus.py, bench/bench_families.py mvdream).",
        [
            *world_prior_and_cameras("mvdream_world"),
            ("@stage", "2. Score distillation"),
            ("mvsds", "Distill3DMultiViewSDSLoss", {"prior": ("prior", "prior"), "cameras": ("cams", "cameras"),
                                                    **RECIPES["mvdream_world"]["mvsds"]}),
            *world_text_to_3d("mvdream_world", "mvsds", "mvdream"),
        ],
    ),
    "mvdream_sampler": (
        "Text -> 4 consistent views, offline: the Multi-View Sampler (MVDream's DDIM sampling) on the World Prior "
        "in multi-view mode, 'a snowman' at elevation 15 and azimuths 0/90/180/270; beside them, the true renders "
        "at the cameras the sampler returns. With an MVDream checkpoint the same sampler makes views of anything.",
        [
            ("@stage", "1. Sample 4 views"),
            ("prior", "Distill3DWorldPrior", {"prompt": "a snowman", "mode": "multi-view", "resolution": "32"}),
            ("sampler", "Distill3DMultiViewSampler", {"prior": ("prior", "prior"), "views": 4, "elevation": 15.0,
                                                      "azimuth_start": 0.0, "steps": 30, "guidance_scale": 7.5,
                                                      "seed": 0}),
            ("save", "SaveImage", {"images": ("sampler", "images"), "filename_prefix": "distill3d/mvdream_views"},
             "Sampled views (saved)"),
            ("@stage", "2. The truth at the same cameras"),
            ("obj", "Distill3DWorldObject", {"object": "snowman", "prompt": ""}),
            ("truth", "Distill3DRenderWorldViews", {"object": ("obj", "object"), "cameras": ("sampler", "cameras"),
                                                    "resolution": 32, "shading": "albedo"}),
            ("truth_preview", "PreviewImage", {"images": ("truth", "image")}, "True renders"),
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
            ("@stage", "1. MVDream prior and its views"),
            ("prior", "Distill3DMVDreamPrior", {"ckpt_name": "sd-v2.1-base-4view.pt",
                                                "prompt": "an astronaut riding a horse",
                                                "negative_prompt": "ugly, blurry, pixelated, low quality, cropped, "
                                                                   "deformed, bad proportions",
                                                "mode": "multi-view", "views": 4, "resolution": 256}),
            ("sampler", "Distill3DMultiViewSampler", {"prior": ("prior", "prior"), "views": 4, "elevation": 15.0,
                                                      "azimuth_start": 0.0, "steps": 50, "guidance_scale": 10.0,
                                                      "seed": 0}),
            ("save_views", "SaveImage", {"images": ("sampler", "images"),
                                         "filename_prefix": "distill3d/mvdream_sd21_views"},
             "Sampled views (saved)"),
            ("@stage", "2. Multi-view score distillation"),
            ("cams", "Distill3DMultiViewCameraDistribution", {"views": 4, "elevation_min": 0.0, "elevation_max": 30.0,
                                                              "distance_min": 1.8, "distance_max": 2.2,
                                                              "fov_min": 40.0, "fov_max": 50.0}),
            ("mvsds", "Distill3DMultiViewSDSLoss", {"prior": ("prior", "prior"), "cameras": ("cams", "cameras"),
                                                    "guidance_scale": 50.0, "views": 4, "groups_per_step": 2,
                                                    "t_max_end": 0.5, "cfg_rescale": 0.5, "x0_form": True}),
            *gpu_text_to_3d("mvsds", "mvdream_sd21"),
        ],
    ),
    "prolificdreamer_world": (
        "ProlificDreamer's variational score distillation on a CPU, offline: the dreamfusion_world graph with the "
        "SDS loss replaced by VSD, whose estimator of the renders' own score (on this exact prior: a small network "
        "that decodes a camera into the field's current render there, trained alongside) takes the place of the "
        "random noise. The prior knows 4 ducks of the duck family (members; member_seed picks which): VSD builds "
        "one of them, crisp, where SDS at high guidance blurs them (bench/bench_families.py prolificdreamer). "
        "The log shows the estimator's own loss falling.",
        [
            *world_prior_and_cameras("prolificdreamer_world"),
            ("@stage", "2. Score distillation"),
            ("vsd", "Distill3DVSDLoss", {"prior": ("prior", "prior"), "cameras": ("cams", "cameras"),
                                         **RECIPES["prolificdreamer_world"]["vsd"]}),
            *world_text_to_3d("prolificdreamer_world", "vsd", "prolificdreamer", turntable=False),
        ],
    ),
    "flow_world": (
        "Rectified-flow score distillation on a CPU, offline (RFDS, Yang et al. 2024): the World Prior in its flow "
        "form is noised and read as SD3 / SD3.5 / Flux are (x = (1 - σ)·x0 + σ·ε over SD3's shifted σ table, a "
        "velocity out), and the SDS Loss takes RFDS's velocity gradient with its random weight; everything else is "
        "01's graph. Switch the loss's form to rfds-rev (one iRFDS step picks the noise) or sds to compare; the "
        "same loss drives templates 20 (Flux) and 21 (SD3.5).",
        [
            *world_prior_and_cameras("flow_world"),
            ("@stage", "2. Rectified-flow distillation"),
            ("sds", "Distill3DSDSLoss", {"prior": ("prior", "prior"), "cameras": ("cams", "cameras"),
                                         **RECIPES["flow_world"]["sds"]}),
            *world_text_to_3d("flow_world", "sds", "rfds"),
        ],
    ),
    "dreamfusion_flux": (
        "Text to 3D with Flux.1 as the prior (GPU-sized), loaded as ComfyUI users load Flux: Load Diffusion Model, "
        "DualCLIPLoader (CLIP-L + T5-XXL, type flux) and Load VAE feed the Checkpoint Prior (Text), whose "
        "flux_guidance is Flux-dev's distilled guidance (3.5; 0 for schnell). RFDS (the rectified-flow SDS) with "
        "the loss's true CFG at 1 (Flux-dev has none of its own; above 1 the negative prompt counts, at twice the "
        "cost) on 512² renders optimizes a NeRF for 5000 steps; mesh -> GLB (Preview3D) + MP4 turntable.",
        [
            ("@stage", "1. Flux as the prior"),
            ("unet", "UNETLoader", {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}),
            ("clip", "DualCLIPLoader", {"clip_name1": "clip_l.safetensors", "clip_name2": "t5xxl_fp16.safetensors",
                                        "type": "flux"}),
            ("vae", "VAELoader", {"vae_name": "ae.safetensors"}),
            ("prior", "Distill3DCheckpointTextPrior", {"model": ("unet", "MODEL"), "clip": ("clip", "CLIP"),
                                                       "vae": ("vae", "VAE"), "prompt": "a DSLR photo of a hamburger",
                                                       "negative_prompt": "", "resolution": 512,
                                                       "flux_guidance": 3.5}),
            *rfds_distillation(1.0),
            *gpu_text_to_3d("sds", "dreamfusion_flux"),
        ],
    ),
    "dreamfusion_sd35": (
        "Text to 3D with Stable Diffusion 3.5 as the prior (GPU-sized): Load Checkpoint (the MMDiT and its VAE) and "
        "TripleCLIPLoader (CLIP-L, CLIP-G, T5-XXL) feed the Checkpoint Prior (Text), with view-dependent prompts. "
        "RFDS with its published SD3 settings (true CFG 100, t from 0.02 to 0.7 of SD3's shifted schedule, the "
        "random sigmoid weight) on 512² renders optimizes a NeRF for 5000 steps; mesh -> GLB (Preview3D) + MP4 "
        "turntable. SD3 Medium works the same way.",
        [
            ("@stage", "1. SD3.5 as the prior"),
            ("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "sd3.5_large.safetensors"}),
            ("clip", "TripleCLIPLoader", {"clip_name1": "clip_l.safetensors", "clip_name2": "clip_g.safetensors",
                                          "clip_name3": "t5xxl_fp16.safetensors"}),
            ("prior", "Distill3DCheckpointTextPrior", {"model": ("ckpt", "MODEL"), "clip": ("clip", "CLIP"),
                                                       "vae": ("ckpt", "VAE"), "prompt": "a DSLR photo of a hamburger",
                                                       "negative_prompt": "unrealistic, blurry, low quality",
                                                       "resolution": 512}),
            *rfds_distillation(100.0),
            *gpu_text_to_3d("sds", "dreamfusion_sd35"),
        ],
    ),
    "dreamfusion_sd": (
        "DreamFusion with your own Stable Diffusion checkpoint (GPU-sized): Load Checkpoint and CLIP Text Encode "
        "feed the Checkpoint Prior; SDS with guidance 100 on 512² renders from DreamFusion's camera distribution "
        "optimizes a NeRF for 5000 steps; mesh -> GLB (Preview3D) + MP4 turntable. LoRAs applied to the MODEL "
        "take effect. On a CPU, lower the resolution to 64 and the steps to a few.",
        [
            ("@stage", "1. Your checkpoint as the prior"),
            ("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}),
            ("pos", "CLIPTextEncode", {"clip": ("ckpt", "CLIP"), "text": "a DSLR photo of a hamburger"}, "Prompt"),
            ("neg", "CLIPTextEncode", {"clip": ("ckpt", "CLIP"), "text": "blurry, low quality, cropped"},
             "Negative prompt"),
            ("prior", "Distill3DCheckpointPrior", {"model": ("ckpt", "MODEL"), "vae": ("ckpt", "VAE"),
                                                   "positive": ("pos", "CONDITIONING"),
                                                   "negative": ("neg", "CONDITIONING"), "resolution": 512}),
            ("@stage", "2. Score distillation"),
            ("cams", "Distill3DCameraDistribution", {}),
            ("sds", "Distill3DSDSLoss", {"prior": ("prior", "prior"), "cameras": ("cams", "cameras"),
                                         "guidance_scale": 100.0,
                                         "views_per_step": 1, "t_max_end": 0.5}),
            *gpu_text_to_3d("sds", "dreamfusion_sd"),
        ],
    ),
}




def textured_outputs(field: str, prefix: str, sizes: dict, stage: int) -> list:
    """A field's end of a graph: mesh -> texture baked from the field -> GLB (Preview3D) + MP4 turntable."""
    return [
        ("@stage", f"{stage}. Mesh, texture and files"),
        ("mesh", "Distill3DExtractMesh", {"field": (field, "field"), "resolution": sizes["mesh"]}),
        ("bake", "Distill3DBakeTexture", {"mesh": ("mesh", "mesh"), "field": (field, "field"),
                                          "texture_size": sizes["texture"]}),
        ("save_mesh", "Distill3DSaveMesh", {"mesh": ("bake", "mesh"), "filename_prefix": f"distill3d/{prefix}",
                                            "format": "glb"}, "Save the textured GLB"),
        ("turntable", "Distill3DRenderTurntable", {"mesh": ("bake", "mesh"), "frames": sizes["frames"],
                                                   "resolution": sizes["turntable"], "shading": "albedo",
                                                   "filename_prefix": f"distill3d/{prefix}_turntable"}),
        ("preview3d", "Preview3D", {"model_file": ("save_mesh", "model_file")}),
    ]


def dreamcraft3d_geometry(prefix: str, text_prior: str, image_prior: str, cams: str, ref: str, coarse: dict,
                          refine: dict, hybrid: dict, sizes: dict, texture: dict) -> list:
    """DreamCraft3D after the priors and the reference: hybrid SDS + reference losses on a NeuS (coarse) ->
    Convert to DMTet -> SDS on normal renders + reference mask / normal losses (geometry) -> Texture Stage (the
    geometry frozen) boosted by BSD against texture["prior"] -> mesh, baked texture -> GLB (Preview3D) + MP4
    turntable; with texture["lora"], the boosted model is saved as a LoRA."""
    return [
        ("@stage", "3. Coarse: hybrid SDS on a NeuS"),
        ("hybrid", "Distill3DHybridSDSLoss", {"prior_3d": (image_prior, "prior"), "cameras": (cams, "cameras"),
                                              "prior_2d": (text_prior, "prior"), **hybrid}),
        ("ref_loss", "Distill3DReferenceImageLoss", {"reference": (ref, "reference"), "rays_per_step": 512,
                                                     "rgb_weight": 1.0, "mask_weight": 1.0, "depth_weight": 0.0,
                                                     "normal_weight": 0.0}, "Reference RGB + mask"),
        ("eik", "Distill3DEikonalLoss", {"weight": 0.1}),
        ("losses", "Distill3DCombineLosses", {"loss_1": ("hybrid", "loss"), "loss_2": ("ref_loss", "loss"),
                                              "loss_3": ("eik", "loss")}, "Coarse losses"),
        ("field", "Distill3DCreateNeuS", {"encoding": "auto", "seed": 0}),
        ("coarse", "Distill3DOptimizeField", {"field": ("field", "field"), "loss": ("losses", "loss"), "seed": 0,
                                              **coarse},
         "Optimize coarse NeuS"),
        ("coarse_preview", "PreviewImage", {"images": ("coarse", "preview")}, "Coarse renders"),
        ("@stage", "4. Geometry: DMTet on normal renders"),
        ("normal_sds", "Distill3DSDSLoss", {"prior": (sizes["normal_prior"], "prior"), "cameras": (cams, "cameras"),
                                            "t_min": 0.02, "t_max": 0.5, "t_max_end": 0.5, "shading": "normal",
                                            "view_dependent_prompts": True, "random_background": 0.0,
                                            **sizes["normal_sds"]}, "SDS on normal renders"),
        ("ref_geometry", "Distill3DReferenceImageLoss", {"reference": (ref, "reference"), "rays_per_step": 512,
                                                         "rgb_weight": 1.0, "mask_weight": 1.0,
                                                         "depth_weight": 0.0, "normal_weight": 1.0},
         "Reference mask + normal"),
        ("geometry_losses", "Distill3DCombineLosses", {"loss_1": ("normal_sds", "loss"),
                                                       "loss_2": ("ref_geometry", "loss")},
         "Geometry losses"),
        ("dmtet", "Distill3DConvertToDMTet", {"field": ("coarse", "field"), "resolution": sizes["grid"]}),
        ("refine", "Distill3DOptimizeField", {"field": ("dmtet", "field"), "loss": ("geometry_losses", "loss"),
                                              "seed": 0,
                                              "lr_schedule": "constant", **refine}, "Optimize DMTet geometry"),
        ("refine_preview", "PreviewImage", {"images": ("refine", "preview")}, "Geometry renders"),
        ("@stage", "5. Texture: BSD"),
        ("texture_stage", "Distill3DTextureStage", {"field": ("refine", "field"), "texture": "source"}),
        ("bsd", "Distill3DBSDLoss", {"prior": (texture["prior"], "prior"), "cameras": (cams, "cameras"),
                                     "t_max_end": 0.5,
                                     "random_background": 0.0, **texture["bsd"]}),
        ("boost", "Distill3DOptimizeField", {"field": ("texture_stage", "field"), "loss": ("bsd", "loss"), "seed": 0,
                                             "lr_schedule": "constant", **texture["optimize"]}, "Optimize texture"),
        ("boost_preview", "PreviewImage", {"images": ("boost", "preview")}, "Texture renders"),
        *textured_outputs("boost", prefix, sizes, 6)[:1],  # the files' stage, the boosted LoRA first
        *([("save_lora", "Distill3DSaveBoostedLoRA", {"loss": ("bsd", "loss"), "field": ("boost", "field"),
                                                      "name": texture["lora"]})] if texture.get("lora") else []),
        *textured_outputs("boost", prefix, sizes, 6)[1:],
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
        ("@stage", "1. The one reference view"),
        ("obj", "Distill3DWorldObject", {"object": "duck", "prompt": ""}),
        ("ref_cam", "Distill3DOrbitCameras", {"views": 1, "elevation": 15.0, "distance": 1.8, "fov": 40.0}),
        ("ref_render", "Distill3DRenderWorldViews", {"object": ("obj", "object"), "cameras": ("ref_cam", "cameras"),
                                                     "resolution": 128, "shading": "albedo"}),
        ("ref", "Distill3DReferenceImage", {"image": ("ref_render", "image"), "mask": ("ref_render", "mask"),
                                            "normal": ("ref_render", "normal"), "size": 128, "fill": 0.0,
                                            "elevation": 15.0, "distance": 1.8, "fov": 40.0}),
        ("ref_preview", "PreviewImage", {"images": ("ref", "image")}, "Reference"),
        ("@stage", "2. Priors and cameras"),
        ("image_prior", "Distill3DWorldImagePrior", {"reference": ("ref", "reference"),
                                                     **RECIPES["dreamcraft3d_world"]["image_prior"]}),
        ("text_prior", "Distill3DWorldPrior", {"prompt": "a rubber duck",
                                               **RECIPES["dreamcraft3d_world"]["text_prior"]},
         "Text prior (2D)"),
        ("normal_prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", "mode": "view-aware", "resolution": "32",
                                                 "renders": "normal"}, "Normal-map prior (geometry)"),
        ("texture_prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", "mode": "view-aware",
                                                  "resolution": "64"}, "Texture prior (64²)"),
        ("cams", "Distill3DCameraDistribution", dict(RECIPES["dreamcraft3d_world"]["cams"])),
        *dreamcraft3d_geometry(
            "dreamcraft3d", "text_prior", "image_prior", "cams", "ref",
            coarse={**RECIPES["dreamcraft3d_world"]["coarse"], "preview_every": 25},
            refine={"steps": 40, "learning_rate": 0.01, "preview_every": 10},
            hybrid=dict(RECIPES["dreamcraft3d_world"]["hybrid"]),
            sizes={"normal_prior": "normal_prior", "normal_sds": {"guidance_scale": 10.0, "views_per_step": 4},
                   "grid": 48, "mesh": 96, "texture": 256, "frames": 24, "turntable": 128},
            texture={"prior": "texture_prior",
                     "bsd": {"guidance_scale": 7.5, "views_per_step": 2, "augment_views": 16, "estimator": "auto",
                             "estimator_steps": 4},
                     "optimize": {"steps": 30, "learning_rate": 0.01, "preview_every": 10}}),
    ],
)

# the picture's description: the user's own picture replaces example.png, so the prompt says what to write here
SD_PICTURE_PROMPT = "a DSLR photo of the object in the picture (describe it here)"

SPECS["dreamcraft3d_sd"] = (
    "DreamCraft3D with your models (GPU-sized): a picture (Load Image: a photo with transparency, or wire a "
    "KSampler's text-to-image result and a background-removal node's mask into Reference Image) -> Image Only "
    "Checkpoint Loader with stable_zero123.ckpt -> Zero123 Prior (each view conditioned on its pose relative to "
    "the picture) and Load Checkpoint's model as the 2D text prior, combined by Hybrid SDS (guidance 5 and 100, "
    "progressive views, annealed timesteps) with the reference losses on a NeuS (5000 steps); Convert to DMTet and "
    "SDS on normal renders with the reference mask and normal; the texture stage boosted by BSD with the checkpoint "
    "at 512² (DreamBooth LoRA 'a sks object', saved to models/loras for Load LoRA) -> textured GLB (Preview3D) "
    "+ MP4. On a CPU, set the priors' resolutions to 64 and the steps to a few.",
    [
        ("@stage", "1. Your picture"),
        ("image", "LoadImage", {"image": "example.png"}),
        ("ref", "Distill3DReferenceImage", {"image": ("image", "IMAGE"), "mask": ("image", "MASK"), "size": 256,
                                            "fill": 0.85,
                                            "elevation": 0.0, "distance": 1.8, "fov": 40.0}),
        ("ref_preview", "PreviewImage", {"images": ("ref", "image")}, "Reference"),
        ("@stage", "2. Priors and cameras"),
        ("zero123", "ImageOnlyCheckpointLoader", {"ckpt_name": "stable_zero123.ckpt"}),
        ("image_prior", "Distill3DZero123Prior", {"model": ("zero123", "MODEL"),
                                                  "clip_vision": ("zero123", "CLIP_VISION"),
                                                  "vae": ("zero123", "VAE"), "reference": ("ref", "reference"),
                                                  "resolution": 256}),
        ("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}),
        ("text_prior", "Distill3DCheckpointTextPrior", {"model": ("ckpt", "MODEL"), "clip": ("ckpt", "CLIP"),
                                                        "vae": ("ckpt", "VAE"), "prompt": SD_PICTURE_PROMPT,
                                                        "negative_prompt": "blurry, low quality", "resolution": 256},
         "Text prior (256², geometry)"),
        ("texture_prior", "Distill3DCheckpointTextPrior", {"model": ("ckpt", "MODEL"), "clip": ("ckpt", "CLIP"),
                                                           "vae": ("ckpt", "VAE"), "prompt": SD_PICTURE_PROMPT,
                                                           "negative_prompt": "blurry, low quality",
                                                           "resolution": 512}, "Texture prior (512²)"),
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
                             "token": "sks", "class_word": "object"},
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
        ("@stage", "2. Views -> cost volume (the 3D prior)"),
        ("sampler", "Distill3DMultiViewSampler", {"prior": (sampler_prior, "prior"), "views": 4, "elevation": 15.0,
                                                  "azimuth_start": 0.0, "seed": 0, **sampler}),
        ("views_preview", "PreviewImage", {"images": ("sampler", "images")}, "Sampled views"),
        ("volume", "Distill3DCostVolumeBuilder", {"images": ("sampler", "images"), "cameras": ("sampler", "cameras"),
                                                  "method": "learned", "grid_size": sizes["grid"]}),
        ("save_volume", "Distill3DSaveMesh", {"mesh": ("volume", "mesh"),
                                              "filename_prefix": f"distill3d/{prefix}_prior",
                                              "format": "glb"}, "Save the prior's mesh"),
        ("@stage", "3. Refine the volume by VSD"),
        ("field", "Distill3DCreateCostVolumeNeuS", {"cost_volume": ("volume", "cost_volume"), "volume_lr": 0.1,
                                                    "volume_decay": 0.1, "seed": 0, "residual_lr": 0.05}),
        ("vsd", "Distill3DVSDLoss", {"prior": (refine_prior, "prior"), "cameras": (cams, "cameras"), "t_max_end": 0.5,
                                     "estimator": "auto", **vsd}),
        ("eik", "Distill3DEikonalLoss", {"weight": 0.1}),
        ("losses", "Distill3DCombineLosses", {"loss_1": ("vsd", "loss"), "loss_2": ("eik", "loss")}),
        ("fit", "Distill3DOptimizeField", {"field": ("field", "field"), "loss": ("losses", "loss"), "seed": 0, **fit},
         "Optimize cost-volume NeuS"),
        ("fit_preview", "PreviewImage", {"images": ("fit", "preview")}, "VSD renders"),
        ("@stage", "4. Geometry: DMTet"),
        ("dmtet", "Distill3DConvertToDMTet", {"field": ("fit", "field"), "resolution": sizes["dmtet"]}),
        ("dmtet_sds", "Distill3DSDSLoss", {"prior": (dmtet_prior, "prior"), "cameras": (cams, "cameras"), "t_min": 0.02,
                                           "t_max": 0.5, "t_max_end": 0.5, "random_background": 0.0,
                                           **sizes["dmtet_sds"]}),
        ("refine", "Distill3DOptimizeField", {"field": ("dmtet", "field"), "loss": ("dmtet_sds", "loss"), "seed": 0,
                                              "lr_schedule": "constant", **refine}, "Optimize DMTet"),
        ("refine_preview", "PreviewImage", {"images": ("refine", "preview")}, "DMTet renders"),
        *textured_outputs("refine", prefix, sizes, 5),
    ]


GD = RECIPES["geodream_world"]
SPECS["geodream_world"] = (
    "GeoDream on a CPU, offline: 4 views of 'a rubber duck' from the Multi-View Sampler (the World Prior in "
    "multi-view mode, MVDream's setting) -> Cost Volume Builder (the pack's learned net: each voxel projected into "
    "the views, their features' mean and variance, a 3D CNN; its own mesh is saved as the geometry prior alone) -> "
    "a NeuS whose SDF is the volume's frozen decoder, refined by VSD against the World Prior (the volume learns "
    "at a tenth of the rate, decaying) -> Convert to DMTet and SDS on normal renders -> textured GLB (Preview3D) "
    "+ MP4. The same graph with an MVDream checkpoint is geodream_mvdream.",
    [
        ("@stage", "1. Priors and cameras"),
        ("mv_prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", **GD["mv_prior"]}, "Multi-view prior (views)"),
        ("prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", **GD["prior"]}, "View-aware prior (VSD)"),
        ("normal_prior", "Distill3DWorldPrior", {"prompt": "a rubber duck", "mode": "view-aware", "resolution": "32",
                                                 "renders": "normal"}, "Normal-map prior (DMTet)"),
        ("cams", "Distill3DCameraDistribution", dict(GD["cams"])),
        *geodream("geodream", "mv_prior", "prior", "normal_prior", "cams", sampler=dict(GD["sampler"]),
                  vsd=dict(GD["vsd"]), fit={**GD["fit"], "preview_every": 20},
                  refine={"steps": 15, "learning_rate": 0.01, "preview_every": 5},
                  sizes={"grid": GD["volume"]["grid_size"], "dmtet": 32, "mesh": 64, "texture": 128, "frames": 16,
                         "turntable": 96,
                         "dmtet_sds": {"guidance_scale": 10.0, "views_per_step": 4, "shading": "normal"}}),
    ],
)

def painted_outputs(prefix: str, texture_size: int, resolution: int, stage: int) -> list:
    """Paint Texture on ("mesh", "painter", "cams") and what a user looks at: the need masks and the painted views
    previewed, the textured GLB saved and shown in Preview3D."""
    return [
        ("@stage", f"{stage}. Paint, preview, save"),
        ("paint", "Distill3DPaintTexture", {"mesh": ("mesh", "mesh"), "painter": ("painter", "painter"),
                                            "cameras": ("cams", "cameras"),
                                            "texture_size": texture_size, "resolution": resolution}),
        ("need_image", "MaskToImage", {"mask": ("paint", "need_masks")}),
        ("need_preview", "PreviewImage", {"images": ("need_image", "IMAGE")}, "Where each view painted"),
        ("views_preview", "PreviewImage", {"images": ("paint", "painted_views")}, "Painted views"),
        ("save", "Distill3DSaveMesh", {"mesh": ("paint", "mesh"), "filename_prefix": f"distill3d/{prefix}",
                                       "format": "glb"}, "Save the painted GLB"),
        ("preview3d", "Preview3D", {"model_file": ("save", "model_file")}, "Painted mesh"),
    ]


SPECS["texture_paint_world"] = (
    "Progressive texture painting (DiffusionGAN3D's texture stage) on a CPU, offline: the duck's true, untextured "
    "mesh painted view by view by the World Painter (the world's true render at each camera) — the front "
    "first, then each view chosen for the mesh by how many texels it newly covers or improves, each painted only "
    "where it still needs paint, folded into one UV texture by the "
    "adaptive blend -> textured GLB (Preview3D) beside the true mesh; the painted views and their need masks "
    "are previewed. With your own checkpoint as the painter: texture_paint_sd.",
    [
        ("@stage", "1. Mesh, painter, views"),
        ("obj", "Distill3DWorldObject", {"object": "duck", "prompt": ""}),
        ("mesh", "Distill3DWorldTrueMesh", {"object": ("obj", "object"), "resolution": 96}),
        ("painter", "Distill3DWorldPainter", {"object": ("obj", "object"), "brightness_jitter": 0.0, "seed": 0}),
        ("cams", "Distill3DPaintViewSequence", {"order": "coverage", "views": 10, "elevation": 15.0,
                                                "mesh": ("mesh", "mesh")}),
        *painted_outputs("texture_paint_world", texture_size=512, resolution=256, stage=2),
        ("save_truth", "Distill3DSaveMesh", {"mesh": ("mesh", "mesh"),
                                             "filename_prefix": "distill3d/texture_paint_world_truth",
                                             "format": "glb"}, "Save the true mesh"),
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
        ("@stage", "1. Your mesh and the views"),
        ("mesh", "Distill3DLoadMeshFile", {"file": "distill3d_mesh.glb"}),
        ("cams", "Distill3DPaintViewSequence", {"order": "coverage", "views": 10, "elevation": 15.0,
                                                "mesh": ("mesh", "mesh")}),
        ("guides", "Distill3DPaintGuides", {"mesh": ("mesh", "mesh"), "cameras": ("cams", "cameras"),
                                            "resolution": 512}),
        ("@stage", "2. The painter: your checkpoint + depth ControlNet"),
        ("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}),
        ("pos", "CLIPTextEncode", {"clip": ("ckpt", "CLIP"), "text": "a yellow rubber duck toy, orange beak, studio "
                                                                 "lighting, plain white background"},
         "Prompt (describe your mesh)"),
        ("neg", "CLIPTextEncode", {"clip": ("ckpt", "CLIP"), "text": "shadows, text, blurry, low quality"},
         "Negative prompt"),
        ("cnet", "ControlNetLoader", {"control_net_name": "control_v11f1p_sd15_depth.pth"}),
        ("apply", "ControlNetApplyAdvanced", {"positive": ("pos", "CONDITIONING"), "negative": ("neg", "CONDITIONING"),
                                              "control_net": ("cnet", "CONTROL_NET"), "image": ("guides", "depth"), "strength": 1.0,
                                              "start_percent": 0.0, "end_percent": 1.0, "vae": ("ckpt", "VAE")}),
        ("painter", "Distill3DCheckpointPainter", {"model": ("ckpt", "MODEL"), "vae": ("ckpt", "VAE"),
                                                   "positive": ("apply", "positive"), "negative": ("apply", "negative"), "seed": 0,
                                                   "steps": 25, "cfg": 7.5, "denoise": 1.0}),
        *painted_outputs("texture_paint_sd", texture_size=1024, resolution=512, stage=3),
    ],
)

SPECS["geodream_mvdream"] = (
    "GeoDream with an MVDream checkpoint (GPU-sized): models/mvdream/sd-v2.1-base-4view.pt samples 4 views at "
    "elevation 15 -> Cost Volume Builder (learned, 64³) -> cost-volume NeuS refined by VSD with the same model in "
    "2D mode at 256² (its LoRA estimator, 5000 steps) -> Convert to DMTet (128) and SDS on its renders (MVDream "
    "judges colour renders, not normal maps) -> textured GLB (Preview3D) + MP4. On a CPU, set the priors' "
    "resolutions to 64 and the steps to a few.",
    [
        ("@stage", "1. Priors and cameras"),
        ("mv_prior", "Distill3DMVDreamPrior", {"ckpt_name": "sd-v2.1-base-4view.pt", "prompt": "a DSLR photo of a "
                                               "hamburger", "negative_prompt": "ugly, blurry, low quality",
                                               "mode": "multi-view", "views": 4, "resolution": 256},
         "MVDream, multi-view (views)"),
        ("prior", "Distill3DMVDreamPrior", {"ckpt_name": "sd-v2.1-base-4view.pt", "prompt": "a DSLR photo of a "
                                            "hamburger", "negative_prompt": "ugly, blurry, low quality",
                                            "mode": "2D", "views": 4, "resolution": 256}, "MVDream, 2D (VSD, DMTet)"),
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

def gan_sample_outputs(prefix: str, generator: str, mesh_resolution: int, stage: int) -> list:
    """Seed 0 of `generator` as a field -> mesh -> GLB (Preview3D)."""
    return [
        ("@stage", f"{stage}. Seed 0 as a mesh"),
        ("sample", "Distill3DGeneratorSampleToField", {"generator": (generator, "generator"), "seed": 0}),
        ("mesh", "Distill3DExtractMesh", {"field": ("sample", "field"), "resolution": mesh_resolution}),
        ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", "mesh"), "filename_prefix": f"distill3d/{prefix}",
                                            "format": "glb"}),
        ("preview3d", "Preview3D", {"model_file": ("save_mesh", "model_file")}),
    ]


def gan_adaptation(prefix: str, prior: str, adapt: dict, grid: dict, mesh_resolution: int) -> list:
    """The generator's samples before and after Adapt 3D GAN to Text, side by side, and one adapted sample as a
    mesh."""
    return [
        ("before", "Distill3DGeneratorGrid", {"generator": ("gen", "generator"), **grid}, "Samples before"),
        ("before_preview", "PreviewImage", {"images": ("before", "grid")}, "Before adaptation"),
        ("@stage", "2. Adapt to the prompt"),
        ("adapt", "Distill3DAdaptGenerator", {"generator": ("gen", "generator"), "prior": (prior, "prior"), **adapt}),
        ("adapt_preview", "PreviewImage", {"images": ("adapt", "preview")}, "Adaptation renders"),
        ("after", "Distill3DGeneratorGrid", {"generator": ("adapt", "generator"), **grid}, "Samples after"),
        ("after_preview", "PreviewImage", {"images": ("after", "grid")}, "After adaptation"),
        *gan_sample_outputs(prefix, "adapt", mesh_resolution, 3),
    ]


SPECS["diffusiongan3d_adapt_world"] = (
    "DiffusionGAN3D's domain adaptation on a CPU, offline: the pack's own 3D GAN of mugs (many proportions, "
    "handles, colours) adapted to 'a red mug' by SDS with the world prior, the relative distance loss keeping "
    "the mugs as different from each other as they were and the reconstruction loss (source 'a mug') keeping "
    "what the prompt does not speak about (the background, the coffee); 8 samples before and after, and seed 0 "
    "of the adapted generator as a GLB (Preview3D). The world prior knows 8 red mugs of the mug family "
    "(members): the adapted mugs stay many shapes (with members 1, the one catalogue mug, longer runs pull every "
    "shape towards it; bench/bench_families.py diffusiongan3d).",
    [
        ("@stage", "1. Generator, prior, samples before"),
        ("gen", "Distill3DLoadGenerator", {"generator_name": "distill3d: mugs (shipped)"}),
        ("prior", "Distill3DWorldPrior", {"prompt": "a red mug", "mode": "view-aware", "resolution": "32",
                                          "members": 8, "member_seed": 0}),
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
        ("@stage", "1. Generator and prior"),
        ("gen", "Distill3DLoadGenerator", {"generator_name": "distill3d: mugs (shipped)"}),
        ("prior", "Distill3DWorldPrior", {"prompt": "a mug", "mode": "view-aware", "resolution": "32"}),
        ("@stage", "2. Pick the best seed, fine-tune it"),
        ("avatar", "Distill3DTextToAvatar", {"generator": ("gen", "generator"), "prior": ("prior", "prior"),
                                             "candidates": 8,
                                             "seed": 0, "steps": 20, "learning_rate": 0.01,
                                             "generator_lr_scale": 0.1, "tv_weight": 1.0, "batch": 4,
                                             "guidance_scale": 100.0, "samples_per_ray": 32, "preview_every": 10}),
        ("candidates", "PreviewImage", {"images": ("avatar", "candidates")}, "Candidates (chosen first)"),
        ("@stage", "3. Mesh and file"),
        ("mesh", "Distill3DExtractMesh", {"field": ("avatar", "field"), "resolution": 64}),
        ("save_mesh", "Distill3DSaveMesh", {"mesh": ("mesh", "mesh"),
                                            "filename_prefix": "distill3d/diffusiongan3d_avatar",
                                            "format": "glb"}),
        ("preview3d", "Preview3D", {"model_file": ("save_mesh", "model_file")}),
    ],
)

SPECS["diffusiongan3d_adapt_eg3d"] = (
    "DiffusionGAN3D's domain adaptation of EG3D's FFHQ generator (GPU-sized): models/eg3d/ffhq512-128.pkl (read "
    "as data, never run) adapted to 'a Pixar character' by SDS with your Stable Diffusion checkpoint at 512², "
    "frontal poses, 2000 steps of 4 latents, the relative distance loss keeping the faces distinct; 8 faces before "
    "and after, and seed 0 as a GLB. Put ffhq512-128.pkl in models/eg3d and v1-5-pruned-emaonly.safetensors in "
    "models/checkpoints.",
    [
        ("@stage", "1. Generator, prior, samples before"),
        ("gen", "Distill3DLoadGenerator", {"generator_name": "ffhq512-128.pkl"}),
        ("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}),
        ("pos", "CLIPTextEncode", {"clip": ("ckpt", "CLIP"), "text": "a 3D render of a Pixar character, face, high "
                                                               "quality"}, "Prompt"),
        ("neg", "CLIPTextEncode", {"clip": ("ckpt", "CLIP"), "text": "blurry, low quality, photo"}, "Negative prompt"),
        ("prior", "Distill3DCheckpointPrior", {"model": ("ckpt", "MODEL"), "vae": ("ckpt", "VAE"),
                                               "positive": ("pos", "CONDITIONING"),
                                               "negative": ("neg", "CONDITIONING"), "resolution": 512}),
        *gan_adaptation("diffusiongan3d_adapt_eg3d", "prior",
                        adapt={"steps": 2000, "learning_rate": 0.001, "batch": 4, "guidance_scale": 100.0,
                               "relative_distance_weight": 10000.0, "reconstruction_weight": 0.0,
                               "source_prompt": "", "samples_per_ray": 96, "seed": 0, "preview_every": 50},
                        grid={"seed": 0, "count": 8, "columns": 4, "azimuth": 0.0, "elevation": 0.0,
                              "fov": 13.37, "images": "super-resolved"},
                        mesh_resolution=256),
    ],
)


# Model files the GPU workflows name: (file, ComfyUI models folder, where to get it). The folder is the one ComfyUI's
# loader (or the pack's node) lists; the source is the public place the file is published.
SD15 = ("v1-5-pruned-emaonly.safetensors", "checkpoints",
        "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/v1-5-pruned-emaonly.safetensors")
MVDREAM = ("sd-v2.1-base-4view.pt", "mvdream",
           "https://huggingface.co/MVDream/MVDream/resolve/main/sd-v2.1-base-4view.pt")
ZERO123 = ("stable_zero123.ckpt", "checkpoints",
           "https://huggingface.co/stabilityai/stable-zero123/resolve/main/stable_zero123.ckpt")
FLUX_DEV = ("flux1-dev.safetensors", "diffusion_models",
            "https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/flux1-dev.safetensors (gated)")
FLUX_AE = ("ae.safetensors", "vae", "https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/ae.safetensors")
CLIP_L = ("clip_l.safetensors", "text_encoders",
          "https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/clip_l.safetensors")
T5XXL = ("t5xxl_fp16.safetensors", "text_encoders",
         "https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/t5xxl_fp16.safetensors")
SD35 = ("sd3.5_large.safetensors", "checkpoints",
        "https://huggingface.co/stabilityai/stable-diffusion-3.5-large/resolve/main/sd3.5_large.safetensors (gated)")
CLIP_G = ("clip_g.safetensors", "text_encoders",
          "https://huggingface.co/stabilityai/stable-diffusion-3.5-large/resolve/main/text_encoders/clip_g.safetensors")
DEPTH_CONTROLNET = ("control_v11f1p_sd15_depth.pth", "controlnet",
                    "https://huggingface.co/lllyasviel/ControlNet-v1-1/resolve/main/control_v11f1p_sd15_depth.pth")
EG3D_FFHQ = ("ffhq512-128.pkl", "eg3d",
             "NVIDIA NGC, catalog 'eg3d' (nvidia/research/models/eg3d), file ffhq512-128.pkl")


class Template:
    """What the template browser and the workflow's note say: the file's name (the card's title: the frontends read
    nothing else for a custom node pack's template, and list them in the server's directory order, so the number in
    front orders them when sorted by name), where it runs and how long it takes, what to set, the model files."""

    def __init__(self, title: str, runs: str, time: str, settings: str, files: tuple = (), inputs: tuple = ()):
        self.title, self.runs, self.time, self.settings = title, runs, time, settings
        self.files, self.inputs = files, inputs

    @property
    def needs_model_files(self) -> bool:
        return bool(self.files)


TEMPLATES = {
    "dreamfusion_world": Template(
        "01 CPU Text to 3D - DreamFusion", "CPU, offline", "about 1 min on 2 CPU cores",
        "Run it as it is. Then change the World Prior's prompt to another world object (a snowman, a mug, a chair "
        "...) or raise the steps."),
    "mvdream_world": Template(
        "02 CPU Text to 3D - MVDream", "CPU, offline", "about 1.5 min on 2 CPU cores",
        "Run it as it is; compare its back view with 01's (no second face). Set the World Prior's mode to 2D to "
        "see views disagree."),
    "prolificdreamer_world": Template(
        "03 CPU Text to 3D - ProlificDreamer", "CPU, offline", "about 1.5 min on 2 CPU cores",
        "Run it as it is; change the World Prior's member_seed for other ducks, or its prompt ('a tall red "
        "mug')."),
    "dreamcraft3d_world": Template(
        "04 CPU Image to 3D - DreamCraft3D", "CPU, offline", "about 1.5 min on 2 CPU cores",
        "Run it as it is. The reference is an exact view of the duck: pick another object in World Object (and "
        "the same object in the three World Prior prompts)."),
    "geodream_world": Template(
        "05 CPU Text to 3D - GeoDream", "CPU, offline", "about 2 min on 2 CPU cores",
        "Run it as it is; the prior's own mesh is saved beside the refined one."),
    "texture_paint_world": Template(
        "06 CPU Paint a mesh - world painter", "CPU, offline", "about 1 min on 2 CPU cores",
        "Run it as it is; the need masks show where each view painted."),
    "diffusiongan3d_adapt_world": Template(
        "07 CPU 3D GAN to text - DiffusionGAN3D", "CPU, offline", "about 1 min on 2 CPU cores",
        "Run it as it is; compare the samples before and after. Try 'a blue mug'."),
    "diffusiongan3d_avatar_world": Template(
        "08 CPU Text to avatar - DiffusionGAN3D", "CPU, offline", "about 1 min on 2 CPU cores",
        "Run it as it is; the candidates show which seed the prior chose."),
    "reconstruct_from_views": Template(
        "09 CPU Views to 3D - NeuS + DMTet", "CPU, offline", "about 2 min on 2 CPU cores",
        "Run it as it is; for your own posed photos use Load Views (transforms.json) in place of the world views."),
    "mvdream_sampler": Template(
        "10 CPU Multi-view sampler - MVDream", "CPU, offline", "seconds",
        "Run it as it is; with an MVDream checkpoint (template 14) the same sampler makes views of anything."),
    "world_views": Template(
        "11 CPU World objects - views, meshes", "CPU, offline", "seconds",
        "Pick an object; the true mesh opens in the 3D preview."),
    "world_random_views": Template(
        "12 CPU World objects - random cameras", "CPU, offline", "seconds",
        "The prompt picks the object; change the cameras' seed."),
    "dreamfusion_sd": Template(
        "13 GPU Text to 3D - DreamFusion + your SD", "GPU",
        "not yet timed on a GPU (5000 steps at 512²); on a CPU set the prior's resolution to 64 and the steps to 20",
        "Write your prompt; pick your SD 1.x / 2.x / SDXL checkpoint in Load Checkpoint.", files=(SD15,)),
    "mvdream_sd21": Template(
        "14 GPU Text to 3D - MVDream checkpoint", "GPU",
        "not yet timed on a GPU (5000 steps at 256²); on a CPU set the resolution to 64 and the steps to a few",
        "Write your prompt in the MVDream Prior.", files=(MVDREAM,)),
    "dreamcraft3d_sd": Template(
        "15 GPU Image to 3D - DreamCraft3D", "GPU",
        "not yet timed on a GPU (three stages of 5000 / 2000 / 5000 steps); on a CPU set the priors' resolutions "
        "to 64 and the steps to a few",
        "Upload your picture in Load Image (an object on a transparent or plain background); describe it in both "
        "Checkpoint Prior (Text) prompts and set BSD's class word.", files=(ZERO123, SD15),
        inputs=("your picture: Load Image's upload puts it in ComfyUI/input/",)),
    "geodream_mvdream": Template(
        "16 GPU Text to 3D - GeoDream + MVDream", "GPU",
        "not yet timed on a GPU (5000 + 2000 steps at 256²); on a CPU set the resolutions to 64 and the steps to a "
        "few",
        "Write the same prompt in both MVDream Priors.", files=(MVDREAM,)),
    "texture_paint_sd": Template(
        "17 GPU Paint a mesh - SD + ControlNet", "GPU",
        "not yet timed on a GPU (10 views of 25 sampler steps at 512²)",
        "Upload your mesh in Load Mesh File (GLB / glTF / OBJ / PLY); describe it in the prompt.",
        files=(SD15, DEPTH_CONTROLNET), inputs=("your mesh: Load Mesh File's upload puts it in ComfyUI/input/",)),
    "diffusiongan3d_adapt_eg3d": Template(
        "18 GPU 3D GAN to text - EG3D faces", "GPU", "not yet timed on a GPU (2000 steps of 4 faces at 512²)",
        "Write the target domain in the prompt.", files=(EG3D_FFHQ, SD15)),
}
TEMPLATES.update({
    "flow_world": Template(
        "19 CPU Text to 3D - rectified flow (RFDS)", "CPU, offline", "about 1.5 min on 2 CPU cores",
        "Run it as it is; set the SDS Loss's form to sds or rfds-rev, or the World Prior's noise to ddpm, to "
        "compare."),
    "dreamfusion_flux": Template(
        "20 GPU Text to 3D - Flux", "GPU",
        "not yet timed on a GPU (5000 steps at 512²); on a CPU set the prior's resolution to 64 and the steps to a "
        "few",
        "Write your prompt. Flux.1-schnell: its file in Load Diffusion Model and flux_guidance 0. A fp8 Flux: "
        "Load Diffusion Model's weight_dtype.", files=(FLUX_DEV, CLIP_L, T5XXL, FLUX_AE)),
    "dreamfusion_sd35": Template(
        "21 GPU Text to 3D - SD3.5", "GPU",
        "not yet timed on a GPU (5000 steps at 512²); on a CPU set the prior's resolution to 64 and the steps to a "
        "few",
        "Write your prompt. SD3.5 Medium or SD3 Medium: their file in Load Checkpoint.",
        files=(SD35, CLIP_L, CLIP_G, T5XXL)),
})
MAIN_DEMO = "dreamfusion_world"
# workflows that need the user's model files: their thumbnail shows the graph, never a result they did not make
NEEDS_MODEL_FILES = {k for k, t in TEMPLATES.items() if t.needs_model_files}


def workflow_file(name: str) -> str:
    """The shipped file of workflow `name` (a key of SPECS): its template title is its file name."""
    return os.path.join(WORKFLOW_DIR, TEMPLATES[name].title + ".json")


def note_text(name: str) -> str:
    """The Markdown note at the top of a shipped workflow: what it does, what to set, model files and folders,
    time."""
    t, (description, _) = TEMPLATES[name], SPECS[name]
    lines = [f"## {t.title[7:]}", "", description, "", f"**Runs on:** {t.runs}; {t.time}.", "",
             f"**Set:** {t.settings}"]
    if t.files:
        lines += ["", "**Model files** (put each in the folder named, then press R to refresh):"]
        lines += [f"- `{f}` in `ComfyUI/models/{folder}/` ({src})" for f, folder, src in t.files]
    for what in t.inputs:
        lines += ["", f"- {what}"]
    return "\n".join(lines)


# --- layout: stages as groups from left to right, nodes in columns inside them, the note at the top left ---------
TITLE_H = 30          # a node's title bar, drawn above its pos
GROUP_HEAD = 44       # a group's title bar (font 24) above its first node's title
GAP = 20              # between nodes and columns
GROUP_PAD = 12
PREVIEW_TYPES = {"PreviewImage": (240, 220), "SaveImage": (240, 240), "Preview3D": (300, 300)}
GROUP_COLORS = ["#3f789e", "#8A8", "#b58b2a", "#a1309b", "#b06634", "#88A", "#444"]
SAFE = (84, 96, 1640, 1072)  # where the graph may lie on a 1920x1080 page, in CSS px: clear of the Graph / Run
                              # toolbars (top), the side bar (left) and the minimap (bottom right)
# plumbing a user rarely opens: drawn collapsed (title only) in the graphs too big for the page otherwise
FOLDABLE = {"Distill3DCombineLosses", "Distill3DEikonalLoss", "Distill3DCreateNeuS", "Distill3DConvertToDMTet",
            "Distill3DTextureStage", "MaskToImage", "Distill3DBakeTexture", "Distill3DExtractMesh"}
MIN_SCALE = 0.575             # below 8/14 (LiteGraph.Canvas.MinFontSizeForLOD / title font) text is not drawn


def node_size(d: dict, title: str, widget_labels: list, n_slots: int) -> list:
    """A node's size as the frontends compute it (LiteGraph: 20 px a slot row, 24 a widget or upload button, 54 a
    multiline text), so that no widget is clipped; previews get room for their images."""
    if d["name"] in PREVIEW_TYPES:
        return [*PREVIEW_TYPES[d["name"]], True]
    multiline = sum(1 for sec in ("required", "optional") for spec in d["input"].get(sec, {}).values()
                    if len(spec) > 1 and isinstance(spec[1], dict) and spec[1].get("multiline"))
    uploads = sum(1 for sec in ("required", "optional") for spec in d["input"].get(sec, {}).values()
                  if len(spec) > 1 and isinstance(spec[1], dict) and
                  any(spec[1].get(k) for k in ("image_upload", "video_upload", "mesh_upload", "file_upload")))
    n_widgets = len(widget_labels) + uploads  # the frontends (and web/mesh_upload.js) add an upload button
    height = 6 + 20 * n_slots + 24 * n_widgets + 30 * multiline + (8 if n_widgets else 0)
    width = max(220, int(7.4 * len(title)) + 50, int(7.2 * max(map(len, widget_labels), default=0)) + 102)
    return [width, height + (24 if multiline else 0), False]


def note_size(text: str, width: int = 440) -> list:
    """Room for the note's Markdown as both frontends draw it (about 5.6 px a character, 15 px a line)."""
    chars = width // 5.6
    rows = sum(max(1, -(-len(line) // chars)) for line in text.splitlines())
    return [width, 60 + 15 * rows]


def _columns(keys: list, sizes: dict, deps: dict, max_h: float) -> list:
    """Nodes of one stage in columns: each node in the first column after every node of the stage it reads from
    (a node that reads nothing of the stage goes in the column just before its first reader's), columns filled
    top-down up to max_h."""
    inside = set(keys)
    readers = {k: [r for r in keys if k in deps[r]] for k in keys}
    depth = {}
    for k in keys:
        depth[k] = max((depth[d] + 1 for d in deps[k] if d in inside), default=0)
    for k in reversed(keys):  # sources as late as their readers allow: shorter first columns
        if not any(d in inside for d in deps[k]) and readers[k]:
            depth[k] = max(0, min(depth[r] for r in readers[k]) - 1)
    src = {k: [d for d in deps[k] if d in inside] for k in keys}
    below = {k for k in keys if sizes[k][2] and len(src[k]) == 1}
    for k in keys:  # a preview (or a folded node) sits under the node it reads, in its column
        if k in below:
            depth[k] = depth[src[k][0]]
    cols, where = [], {}
    for k in sorted(keys, key=lambda k: (depth[k], keys.index(src[k][0]) + 0.5 if k in below else keys.index(k))):
        c = max([depth[k]] + [where[d] + (0 if k in below else 1) for d in deps[k] if d in where])
        while True:
            while len(cols) <= c:
                cols.append([])
            used = sum(sizes[x][1] + TITLE_H + GAP for x in cols[c])
            if not cols[c] or used + sizes[k][1] + TITLE_H <= max_h:
                break
            c += 1
        cols[c].append(k)
        where[k] = c
    return [c for c in cols if c]


def layout(stages: list, sizes: dict, deps: dict, note: list) -> tuple[float, dict, list, tuple]:
    """(scale, positions for every node, group boxes, the graph's size) of the arrangement that fits the page at the
    largest scale: stages left to right, in one row or wrapped into two or three, the note first."""
    best = None
    n = len(stages)
    splits = [set(c) for r in range(3) for c in itertools.combinations(range(1, n), r)]  # where a new row starts
    for max_h in range(700, 2000, 50):
        for breaks in splits:
            pos, groups, x, y0, row_w, row_h = {}, [], note[0] + 2 * GAP, 0, [], 0
            for i, (title, keys) in enumerate(stages):
                if i in breaks:
                    row_w.append(x)
                    y0 = y0 + row_h + 2 * GAP
                    x = 0 if y0 > note[1] + TITLE_H + GAP else note[0] + 2 * GAP  # under the note if it ends
                    row_h = 0
                cols = _columns(keys, sizes, deps, max_h)
                gx, cx = x, x + GROUP_PAD
                height = 0
                for col in cols:
                    w = max(sizes[k][0] for k in col)
                    cy = y0 + GROUP_HEAD + TITLE_H
                    for k in col:
                        pos[k] = [cx, cy]
                        cy += sizes[k][1] + TITLE_H + GAP
                    height = max(height, cy - GAP - y0 + GROUP_PAD)
                    cx += w + GAP
                width = max(cx - GAP + GROUP_PAD - gx, 8.5 * len(title) + 40)
                groups.append({"title": title, "bounding": [gx, y0, width, height]})
                x = gx + width + 2 * GAP
                row_h = max(row_h, height)
            row_w.append(x)
            w, h = max(row_w) - 2 * GAP, max(y0 + row_h, note[1] + TITLE_H)
            scale = min((SAFE[2] - SAFE[0]) / w, (SAFE[3] - SAFE[1]) / h)
            if best is None or scale > best[0] + 1e-6:
                best = (scale, pos, groups, (w, h))
    return best


def node_ids(name: str) -> dict:
    """The node id of each spec key in workflow `name` (1 is the note; then the nodes in spec order)."""
    keys = [item[0] for item in SPECS[name][1] if item[0] != "@stage"]
    return {key: i + 2 for i, key in enumerate(keys)}


def build(name: str, info: dict) -> dict:
    description, spec = SPECS[name]
    entries, stages = [], []
    for item in spec:
        if item[0] == "@stage":
            stages.append((item[1], []))
            continue
        key, cls, values, *title = item
        entries.append((key, cls, values, title[0] if title else None))
        stages[-1][1].append(key)
    note = note_text(name)
    ids = node_ids(name)
    counts = {}
    for _, cls, _, _ in entries:
        counts[cls] = counts.get(cls, 0) + 1
    for key, cls, _, title in entries:
        if counts[cls] > 1 and not title:
            raise ValueError(f"{name}: {cls} appears {counts[cls]} times: give '{key}' a title")
    cls_of = {key: cls for key, cls, _, _ in entries}
    links, nodes, sizes, deps = [], [], {}, {}
    for order, (key, cls, values, title) in enumerate(entries):
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
                    src_key, output = v  # an output by its name
                    outs = info[cls_of[src_key]]["output_name"]
                    if output not in outs:
                        raise KeyError(f"{name}: {cls_of[src_key]} has no output {output!r} (it has {outs})")
                    links.append([link_id, ids[src_key], outs.index(output), ids[key], None, None])  # type below
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
        for e in inputs:
            if e["link"] is not None:
                link = links[e["link"] - 1]
                link[4] = inputs.index(e)
                src_cls = entries[link[1] - 2][1]
                link[5] = info[src_cls]["output"][link[2]]
        deps[key] = [v[0] for v in values.values() if isinstance(v, tuple)]
        shown = title or d.get("display_name") or cls
        slot_inputs = [e for e in inputs if "widget" not in e]
        labels = [w for w, control in widget_names(d) for w in ([w, "seed"] if control else [w])]
        sizes[key] = node_size(d, shown, labels, max(len(slot_inputs), len(d["output"])))
        outputs = [{"name": n, "type": t, "links": [], "slot_index": i}
                   for i, (n, t) in enumerate(zip(d["output_name"], d["output"]))]
        node = {"id": ids[key], "type": cls, "pos": [0, 0], "size": sizes[key][:2], "flags": {}, "order": order + 1,
                "mode": 0, "inputs": inputs, "outputs": outputs, "properties": {"Node name for S&R": cls},
                "widgets_values": widgets}
        if title:
            node["title"] = title
        files = [f for f in TEMPLATES[name].files if f[0] in widgets]
        if files:  # the frontend's missing-model card names the folder (and the source) from these
            node["properties"]["models"] = [{"name": f, "directory": folder, "url": src}
                                            for f, folder, src in files if src.startswith("https://")]
        nodes.append(node)
    for link in links:
        nodes[link[1] - 2]["outputs"][link[2]]["links"].append(link[0])
    nsize = note_size(note)
    scale, pos, groups, (w, h) = layout(stages, sizes, deps, nsize)
    folded = set()
    if scale < MIN_SCALE:  # fold the plumbing
        folded = {key for key, cls, *_ in entries if cls in FOLDABLE}
        scale, pos, groups, (w, h) = layout(stages, {k: ([v[0], 0, True] if k in folded else v)
                                                     for k, v in sizes.items()}, deps, nsize)
    for width in (400, 360):  # then a narrower (taller) note beside the first row
        if scale >= MIN_SCALE:
            break
        nsize = note_size(note, width)
        scale, pos, groups, (w, h) = layout(stages, {k: ([v[0], 0, True] if k in folded else v)
                                                     for k, v in sizes.items()}, deps, nsize)
    if scale < MIN_SCALE and not os.environ.get("D3_LAYOUT_DRAFT"):
        raise ValueError(f"{name}: the graph ({w:.0f} x {h:.0f}) would show at {scale:.2f}, where the frontend hides "
                         f"text: split a stage or trim the graph")
    for node, (key, *_) in zip(nodes, entries):
        node["pos"] = pos[key]
        if key in folded:
            node["flags"] = {"collapsed": True}
    note_node = {"id": 1, "type": "MarkdownNote", "pos": [0, TITLE_H], "size": nsize, "flags": {}, "order": 0,
                 "mode": 0, "inputs": [], "outputs": [], "title": "Read me", "properties": {},
                 "widgets_values": [note], "color": "#432", "bgcolor": "#653"}
    scale = round(min(scale, 1.0), 3)
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"distill3d/{name}")), "revision": 0,
            "last_node_id": len(nodes) + 1, "last_link_id": len(links), "nodes": [note_node, *nodes], "links": links,
            "groups": [{"id": i + 1, "title": g["title"], "bounding": [round(v) for v in g["bounding"]],
                        "color": GROUP_COLORS[i % len(GROUP_COLORS)], "font_size": 24, "flags": {}}
                       for i, g in enumerate(groups)],
            "config": {},
            "extra": {"ds": {"scale": scale, "offset": [SAFE[0] / scale, SAFE[1] / scale]},
                      "distill3d": {"name": name, "description": description}},
            "version": 0.4}


def _video_frames(data: bytes, count: int) -> list:
    """`count` frames spread over an MP4 (the turntable: the result seen from around)."""
    import av
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_image() for f in container.decode(video=0)]
    return [frames[i * len(frames) // count] for i in range(count)]


def thumbnail(host: ComfyHost, wf: dict, info: dict, path: str):
    """The workflow's real result, from a run in the host: four turntable frames where it makes a turntable, else
    the images it saves, else those of its last preview."""
    from PIL import Image, ImageOps

    entry = host.run(ui_to_api(wf, info), timeout=3600)
    if entry["status"]["status_str"] != "success":
        raise RuntimeError(f"{path}: the workflow failed: {entry['status']}")
    files = host.output_files(entry)
    videos = [r for r in files if r["filename"].endswith(".mp4")]
    if videos:
        tiles = _video_frames(host.view(videos[-1]), 4)
    else:
        imgs = [r for r in files if r["filename"].endswith(".png") and r["kind"] == "images"]
        saved = [r for r in imgs if r.get("type") == "output"]
        if not saved:  # only previews: take those of the last previewing node of the graph (its result)
            last = max(int(r["node"]) for r in imgs)
            saved = [r for r in imgs if int(r["node"]) == last]
        tiles = [Image.open(io.BytesIO(host.view(r))).convert("RGB") for r in saved[:4]]
    sheet = Image.new("RGB", (512, 512), "white")
    cells = [(0, 0, 512)] if len(tiles) == 1 else [((i % 2) * 256, (i // 2) * 256, 256) for i in range(len(tiles))]
    for t, (x, y, size) in zip(tiles, cells):
        t = ImageOps.contain(t.convert("RGB"), (size, size))
        sheet.paste(t, (x + (size - t.width) // 2, y + (size - t.height) // 2))
    _label(sheet, "CPU: this workflow's own result")
    sheet.save(path, quality=90)


def _label(sheet, text: str):
    from PIL import ImageDraw
    draw = ImageDraw.Draw(sheet)
    draw.rectangle([0, sheet.height - 30, sheet.width, sheet.height], fill=(20, 20, 24))
    draw.text((10, sheet.height - 22), text, fill=(255, 255, 255), font_size=16)


def graph_thumbnail(wf: dict, path: str):
    """A drawing of the graph itself (its stages and nodes), marked as needing a GPU and model files: for the
    workflows whose result this machine cannot make, so the card never shows a result they did not produce."""
    from PIL import Image, ImageDraw
    nodes = [n for n in wf["nodes"] if n["type"] != "MarkdownNote"]
    boxes = [g["bounding"] for g in wf["groups"]]
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    scale = min(492 / (x1 - x0), 430 / (y1 - y0))
    left, top = (512 - (x1 - x0) * scale) / 2, 52 + (430 - (y1 - y0) * scale) / 2

    def at(x, y):
        return left + (x - x0) * scale, top + (y - y0) * scale

    sheet = Image.new("RGB", (512, 512), (32, 32, 36))
    draw = ImageDraw.Draw(sheet)
    draw.text((12, 10), "GPU + your model files", fill=(255, 200, 120), font_size=20)
    draw.text((12, 34), "(a drawing of the graph, not a result)", fill=(200, 200, 200), font_size=13)
    for g in wf["groups"]:
        a, b = at(g["bounding"][0], g["bounding"][1]), at(g["bounding"][0] + g["bounding"][2],
                                                          g["bounding"][1] + g["bounding"][3])
        draw.rectangle([a, b], outline=g["color"], width=2)
    by_id = {n["id"]: n for n in nodes}
    for _, src, _, dst, _, _ in wf["links"]:
        a, b = by_id[src], by_id[dst]
        p = at(a["pos"][0] + a["size"][0], a["pos"][1] + 10)
        q = at(b["pos"][0], b["pos"][1] + 10)
        draw.line([p, q], fill=(150, 200, 255), width=1)
    for n in nodes:
        a = at(n["pos"][0], n["pos"][1] - 30)
        b = at(n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
        ours = n["type"].startswith("Distill3D")
        draw.rectangle([a, b], fill=(60, 70, 95) if ours else (70, 70, 70), outline=(200, 200, 200))
    _label(sheet, "GPU: needs the model files its note names")
    sheet.save(path, quality=90)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--thumbnails", action="store_true", help="also make each workflow's .jpg (runs the CPU ones)")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    known = {os.path.basename(workflow_file(n))[:-5] for n in SPECS}
    for f in os.listdir(WORKFLOW_DIR):  # files of workflows no longer shipped (or renamed) go
        if os.path.splitext(f)[0] not in known:
            os.remove(os.path.join(WORKFLOW_DIR, f))
            print("removed", f)
    with ComfyHost() as host:
        info = host.object_info()
        if not any(k.startswith("Distill3D") for k in info):
            raise SystemExit(f"the host did not load the pack: see {host.log_path}")
        for name in args.names or SPECS:
            wf = build(name, info)
            path = workflow_file(name)
            with open(path, "w") as f:
                json.dump(wf, f, indent=1)
            print("wrote", path)
            if args.thumbnails:
                (graph_thumbnail(wf, path[:-5] + ".jpg") if name in NEEDS_MODEL_FILES else
                 thumbnail(host, wf, info, path[:-5] + ".jpg"))
                print("wrote", path[:-5] + ".jpg")


if __name__ == "__main__":
    main()
