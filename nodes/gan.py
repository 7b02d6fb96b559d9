"""Triplane GAN nodes (DiffusionGAN3D's generator): load an EG3D-family generator from models/eg3d (a
network-snapshot .pkl read as data, never run, or the pack's safetensors) and look at its samples."""
from __future__ import annotations

import logging
import os

import torch
from comfy_api.latest import io

import folder_paths

from .comfy.clip import clip_scorer
from .types import CATEGORY, D3Field, D3Prior, Progress, checked_inputs, device, image_batch

log = logging.getLogger("Distill3D")
D3Generator = io.Custom("D3_GENERATOR")  # core.gan.TriplaneGenerator
MODEL_FOLDER = "eg3d"  # ComfyUI/models/eg3d (or an extra_model_paths.yaml entry of that name)
folder_paths.folder_names_and_paths.setdefault(
    MODEL_FOLDER, ([os.path.join(folder_paths.models_dir, MODEL_FOLDER)], {".pkl", ".safetensors"}))
_LOADED: dict = {}
SHIPPED = "distill3d: mugs (shipped)"  # the pack's own generator (weights/eg3d, scripts/train_world_generator.py)


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
            inputs=[io.Combo.Input("generator_name", options=[SHIPPED, *folder_paths.get_filename_list(MODEL_FOLDER)],
                                   default=SHIPPED,
                                   tooltip="A file in models/eg3d, or the pack's own small generator of mugs of "
                                           "many proportions and colours (trained by the pack's script on its "
                                           "world; CPU-sized).")],
            outputs=[D3Generator.Output(display_name="generator")],
        )

    @classmethod
    def validate_inputs(cls, generator_name=None):
        return checked_inputs(cls, generator_name=generator_name)

    @classmethod
    def execute(cls, generator_name) -> io.NodeOutput:
        from ..core.gan import load_generator
        from ..core.gan.world import WEIGHTS
        path = WEIGHTS if generator_name == SHIPPED else folder_paths.get_full_path_or_raise(MODEL_FOLDER,
                                                                                             generator_name)
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
            outputs=[io.Image.Output(display_name="images"), io.Image.Output(display_name="raw_images",
                                                                       tooltip="EG3D's image_raw: the volume render "
                                                                       "(plus the 2X head's first RGB where EG3D "
                                                                       "adds it, at neural rendering 64)."),
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


def _summary(run, steps: int) -> list[str]:
    if run.stopped:
        log.warning("Distill3D: %s", run.stopped)
    return run.summary(steps)


def _grid(images: torch.Tensor, columns: int) -> torch.Tensor:
    """[N,H,W,3] tiled into one [1, rows*H, columns*W, 3] image (empty cells white)."""
    n, h, w, c = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    out = torch.ones(rows * h, columns * w, c, dtype=images.dtype)
    for i in range(n):
        r, k = divmod(i, columns)
        out[r * h:(r + 1) * h, k * w:(k + 1) * w] = images[i]
    return out[None]


class AdaptGenerator(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DAdaptGenerator",
            display_name="Adapt 3D GAN to Text (DiffusionGAN3D)",
            category=f"{CATEGORY}/gan",
            description="Fine-tunes a copy of the generator so that its samples become what the prior's prompt "
                        "says (SDS on renders of random latents and cameras), while the relative distance loss "
                        "keeps the samples as different from each other as they were (without it, SDS collapses "
                        "them into one) and, for local edits, the reconstruction loss keeps everything the prompt "
                        "does not speak about. Cancel stops it at the next step and keeps what it has.",
            inputs=[
                D3Generator.Input("generator"),
                D3Prior.Input("prior"),
                io.Int.Input("steps", default=200, min=1, max=100000),
                io.Float.Input("learning_rate", default=0.001, min=1e-5, max=0.1, step=0.0001,
                               tooltip="Adam's rate for the synthesis network; the decoder takes a tenth. The "
                                       "mapping network stays frozen."),
                io.Int.Input("batch", default=4, min=1, max=32,
                             tooltip="Latents per step, one view each. The relative distance loss needs 3 or "
                                     "more."),
                io.Float.Input("guidance_scale", default=100.0, min=1.0, max=200.0, step=0.5),
                io.Float.Input("relative_distance_weight", default=10000.0, min=0.0, max=1e7, step=100.0,
                               tooltip="Its KL is small (1e-3) beside SDS's loss (1e3): weights of 1e3-1e5. 0 "
                                       "switches it off (expect the samples to drift towards one)."),
                io.Float.Input("reconstruction_weight", default=0.0, min=0.0, max=10000.0, step=0.1,
                               tooltip="Above 0: a local edit; outside where the prompt acts, the renders must "
                                       "stay the original generator's."),
                io.String.Input("source_prompt", default="", multiline=False,
                                tooltip="What the generator draws now (e.g. 'a mug'): the edit region is where "
                                        "the prompt and this differ. Empty: against the unconditional."),
                io.Float.Input("truncation_psi", default=1.0, min=0.0, max=1.0, step=0.05),
                io.Int.Input("samples_per_ray", default=48, min=8, max=512, step=8),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
                io.Int.Input("preview_every", default=10, min=0, max=10000),
            ],
            outputs=[D3Generator.Output(display_name="generator"),
                     io.Image.Output(display_name="preview", tooltip="The last step's renders and targets."),
                     io.String.Output(display_name="log")],
        )

    @classmethod
    def execute(cls, generator, prior, steps, learning_rate, batch, guidance_scale, relative_distance_weight,
                reconstruction_weight, source_prompt, truncation_psi, samples_per_ray, seed,
                preview_every) -> io.NodeOutput:
        from ..core.gan.adapt import AdaptConfig, adapt_generator
        dev = device()  # bad settings fail in adapt_generator as it builds its loss terms, before any work

        def preview():
            return next((img for img in (t.preview() for t in run_terms) if img is not None), None)
        with torch.inference_mode(False), torch.enable_grad():
            run_terms = []
            progress = Progress(steps, preview_every, lambda: preview())
            config = AdaptConfig(steps=steps, learning_rate=learning_rate, batch=batch,
                                 guidance_scale=guidance_scale, relative_distance_weight=relative_distance_weight,
                                 reconstruction_weight=reconstruction_weight, source_prompt=source_prompt,
                                 truncation_psi=truncation_psi, samples_per_ray=samples_per_ray, seed=seed)
            result = adapt_generator(generator, prior, config=config, device=dev, on_progress=progress,
                                     check_cancel=Progress.check_cancel, on_start=run_terms.extend)
        img = preview()
        text = "\n".join(_summary(result.run, steps))
        return io.NodeOutput(result.generator, image_batch(img[None] if img is not None else torch.ones(1, 8, 8, 3)),
                             text, ui={"text": [text]})


class GeneratorGrid(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DGeneratorGrid",
            display_name="3D GAN Sample Grid",
            category=f"{CATEGORY}/gan",
            description="One image of N samples (seeds seed .. seed+N-1) side by side, each from the same camera: "
                        "to compare a generator before and after adaptation, or to pick a seed.",
            inputs=[
                D3Generator.Input("generator"),
                io.Int.Input("seed", default=0, min=0, max=2 ** 32 - 1),
                io.Int.Input("count", default=8, min=1, max=64),
                io.Int.Input("columns", default=4, min=1, max=16),
                io.Float.Input("truncation_psi", default=1.0, min=0.0, max=1.0, step=0.05),
                io.Float.Input("azimuth", default=30.0, min=-180.0, max=180.0, step=1.0),
                io.Float.Input("elevation", default=20.0, min=-60.0, max=60.0, step=1.0),
                io.Float.Input("fov", default=40.0, min=5.0, max=90.0, step=0.1,
                               tooltip="The pack's generators: 40. EG3D's FFHQ models: 13.37."),
                io.Combo.Input("images", options=["super-resolved", "raw render"], default="super-resolved",
                               tooltip="The generator's final images, or its volume renders before the "
                                       "super-resolution head (the pack's small generators: cleaner at 64²)."),
            ],
            outputs=[io.Image.Output(display_name="grid")],
        )

    @classmethod
    def validate_inputs(cls, images=None):
        return checked_inputs(cls, images=images)

    @classmethod
    def execute(cls, generator, seed, count, columns, truncation_psi, azimuth, elevation, fov,
                images="super-resolved") -> io.NodeOutput:
        from ..core.cameras import Cameras
        from ..core.gan.eg3d import render_samples, seed_latents
        dev = next(generator.parameters()).device
        cams = Cameras.from_spherical(elevation, azimuth, 1.8, fov).to(dev)
        z = seed_latents(range(seed, seed + count), generator.z_dim).to(dev)
        with torch.inference_mode(False):
            out = render_samples(generator, z, cams, truncation_psi)
        key = "image" if images == "super-resolved" else "image_render"
        return io.NodeOutput(_grid(out[key].float().cpu(), columns))


class GeneratorSampleToField(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DGeneratorSampleToField",
            display_name="3D GAN Sample to Field",
            category=f"{CATEGORY}/gan",
            description="One sample of the generator as a field (its triplanes and the generator's decoder), so "
                        "Extract Mesh, Bake Texture, Save and Optimize Field apply to it.",
            inputs=[
                D3Generator.Input("generator"),
                io.Int.Input("seed", default=0, min=0, max=2 ** 32 - 1),
                io.Float.Input("truncation_psi", default=1.0, min=0.0, max=1.0, step=0.05),
            ],
            outputs=[D3Field.Output(display_name="field")],
        )

    @classmethod
    def execute(cls, generator, seed, truncation_psi) -> io.NodeOutput:
        from ..core.gan.eg3d import seed_latents
        from ..core.gan.field import TriplaneField
        dev = next(generator.parameters()).device
        z = seed_latents([seed], generator.z_dim).to(dev)
        with torch.inference_mode(False), torch.no_grad():
            ws = generator.mapping(z, torch.zeros(1, generator.c_dim, device=dev), truncation_psi)
            field = TriplaneField.from_generator(generator, ws)
        return io.NodeOutput(field)


class TextToAvatar(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DTextToAvatar",
            display_name="3D GAN Text to Avatar (DiffusionGAN3D)",
            category=f"{CATEGORY}/gan",
            description="One object for the prior's prompt: of `candidates` seeds, the sample the prior finds most "
                        "like the prompt (its denoising loss on four views) is fine-tuned with SDS — the generator "
                        "for that latent, slowly, and a learnable triplane added to the generated one (smooth by a "
                        "multi-scale TV loss), so the result may leave the generator's family. Returns a field.",
            inputs=[
                D3Generator.Input("generator"),
                D3Prior.Input("prior"),
                io.Int.Input("candidates", default=8, min=1, max=256, tooltip="Seeds seed .. seed+K-1 scored."),
                io.Int.Input("seed", default=0, min=0, max=2 ** 32 - 1),
                io.Int.Input("steps", default=150, min=1, max=100000),
                io.Float.Input("learning_rate", default=0.01, min=1e-5, max=1.0, step=0.0005,
                               tooltip="The case triplane's rate; the generator takes generator_lr_scale of it."),
                io.Float.Input("generator_lr_scale", default=0.1, min=0.0, max=1.0, step=0.01),
                io.Float.Input("tv_weight", default=1.0, min=0.0, max=1000.0, step=0.1),
                io.Int.Input("batch", default=4, min=1, max=32, tooltip="Views per step."),
                io.Float.Input("guidance_scale", default=100.0, min=1.0, max=200.0, step=0.5),
                io.Int.Input("samples_per_ray", default=48, min=8, max=512, step=8),
                io.Int.Input("preview_every", default=10, min=0, max=10000),
                io.ClipVision.Input("clip_vision", optional=True,
                                    tooltip="With clip and clip_text: the candidates are scored by CLIP (their "
                                            "views against the text) instead of by the prior."),
                io.Clip.Input("clip", optional=True),
                io.String.Input("clip_text", default="", optional=True,
                                tooltip="The text CLIP compares the candidates' views with."),
            ],
            outputs=[D3Field.Output(display_name="field"),
                     io.Image.Output(display_name="candidates", tooltip="The candidates, the chosen one first."),
                     io.String.Output(display_name="log")],
        )

    @classmethod
    def execute(cls, generator, prior, candidates, seed, steps, learning_rate, generator_lr_scale, tv_weight,
                batch, guidance_scale, samples_per_ray, preview_every, clip_vision=None, clip=None,
                clip_text="") -> io.NodeOutput:
        from ..core.cameras import Cameras
        from ..core.gan.avatar import make_avatar
        from ..core.gan.eg3d import render_samples, seed_latents
        dev = device()
        scorer = clip_scorer(clip_vision, clip, clip_text)
        with torch.inference_mode(False), torch.enable_grad():
            progress = Progress(steps, 0)
            field, chosen, scores, run = make_avatar(
                generator, prior, candidates, seed, steps, learning_rate, batch, guidance_scale, tv_weight,
                generator_lr_scale, n_samples=samples_per_ray, device=dev, scorer=scorer, on_progress=progress,
                check_cancel=Progress.check_cancel)
            order = [int(i) for i in scores.argsort()]
            z = seed_latents([seed + i for i in order], generator.z_dim).to(dev)
            cams = Cameras.from_spherical(20.0, 30.0, 1.8, 40.0).to(dev)
            shown = render_samples(generator, z, cams)["image"].float().cpu()
        lines = [f"chose seed {chosen} of {seed}..{seed + candidates - 1} "
                 f"({'minus CLIP similarity' if scorer else 'the prior' + chr(39) + 's loss'} "
                 + ", ".join(f"{seed + i}: {float(scores[i]):.4f}" for i in order) + ")"] + _summary(run, steps)
        text = "\n".join(lines)
        return io.NodeOutput(field, _grid(shown, 8), text, ui={"text": [text]})


NODES = [LoadGenerator, GeneratorSamples, GeneratorGrid, GeneratorSampleToField, AdaptGenerator, TextToAvatar]
