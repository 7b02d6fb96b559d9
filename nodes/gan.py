"""Triplane GAN nodes (DiffusionGAN3D's generator): load an EG3D-family generator from models/eg3d (a
network-snapshot .pkl read as data, never run, or the pack's safetensors) and look at its samples."""
from __future__ import annotations

import logging
import os

import torch
from comfy_api.latest import io

import folder_paths

from .types import CATEGORY, device

log = logging.getLogger("Distill3D")
D3Generator = io.Custom("D3_GENERATOR")  # core.gan.TriplaneGenerator
MODEL_FOLDER = "eg3d"  # ComfyUI/models/eg3d (or an extra_model_paths.yaml entry of that name)
folder_paths.folder_names_and_paths.setdefault(
    MODEL_FOLDER, ([os.path.join(folder_paths.models_dir, MODEL_FOLDER)], {".pkl", ".safetensors"}))
_LOADED: dict = {}


class LoadGenerator(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DLoadGenerator",
            display_name="Load 3D GAN Generator",
            category=f"{CATEGORY}/gan",
            description="An EG3D-family generator from models/eg3d: a network-snapshot .pkl (EG3D's released "
                        "ffhq512-128.pkl, afhq..., or your own training's), read as data — the code a pickle "
                        "carries never runs, and a file that asks for anything else is refused, saying what it "
                        "asked for — or a generator the pack saved as safetensors.",
            inputs=[io.Combo.Input("generator_name", options=folder_paths.get_filename_list(MODEL_FOLDER),
                                   tooltip="A file in models/eg3d.")],
            outputs=[D3Generator.Output(display_name="generator")],
        )

    @classmethod
    def execute(cls, generator_name) -> io.NodeOutput:
        from ..core.gan import load_generator
        path = folder_paths.get_full_path_or_raise(MODEL_FOLDER, generator_name)
        key = (path, os.path.getmtime(path), str(device()))
        if key not in _LOADED:
            _LOADED.clear()
            _LOADED[key] = load_generator(path).to(device())
            g = _LOADED[key]
            log.info("Distill3D: loaded generator %s (%d² images, %d² rendering, %s)", generator_name,
                     g.img_resolution, g.neural_rendering_resolution,
                     g.rendering_kwargs["superresolution_module"].rsplit(".", 1)[-1])
        return io.NodeOutput(_LOADED[key])


class GeneratorSamples(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DGeneratorSamples",
            display_name="3D GAN Samples",
            category=f"{CATEGORY}/gan",
            description="Samples of a 3D GAN generator, one per seed (seed, seed+1, ...; drawn as EG3D's own "
                        "scripts draw them, so seed N is EG3D's seed N), rendered from one camera and conditioned "
                        "on the front camera, as EG3D's scripts do.",
            inputs=[
                D3Generator.Input("generator"),
                io.Int.Input("seed", default=0, min=0, max=2 ** 32 - 1),
                io.Int.Input("count", default=4, min=1, max=64, tooltip="How many seeds."),
                io.Float.Input("truncation_psi", default=0.7, min=0.0, max=1.0, step=0.05,
                               tooltip="1: the full variety; lower pulls every sample towards the average."),
                io.Float.Input("azimuth", default=0.0, min=-180.0, max=180.0, step=1.0,
                               tooltip="Camera azimuth (degrees; 0 is the front)."),
                io.Float.Input("elevation", default=0.0, min=-60.0, max=60.0, step=1.0),
                io.Float.Input("fov", default=13.37, min=5.0, max=90.0, step=0.1,
                               tooltip="Field of view (degrees); EG3D's FFHQ models: 13.37 (focal 4.2647)."),
                io.Int.Input("rendering_resolution", default=0, min=0, max=512, step=8,
                             tooltip="The neural rendering resolution; 0: the generator's own."),
            ],
            outputs=[io.Image.Output(display_name="images"), io.Image.Output(display_name="raw_images"),
                     io.Mask.Output(display_name="depth")],
        )

    @classmethod
    def execute(cls, generator, seed, count, truncation_psi, azimuth, elevation, fov,
                rendering_resolution) -> io.NodeOutput:
        from ..core.cameras import Cameras
        from ..core.gan.eg3d import render_samples, seed_latents
        cams = Cameras.from_spherical(elevation, azimuth, 1.8, fov)
        z = seed_latents(range(seed, seed + count), generator.z_dim)
        dev = next(generator.parameters()).device
        with torch.inference_mode(False):
            out = render_samples(generator, z.to(dev), cams.to(dev), truncation_psi, rendering_resolution or None)
        d = out["depth"]
        depth = 1 - (d - d.amin()) / (d.amax() - d.amin()).clamp_min(1e-6)  # near bright, as depth previews are
        return io.NodeOutput(out["image"].float().cpu(), out["image_raw"].float().cpu(), depth.float().cpu())


NODES = [LoadGenerator, GeneratorSamples]
