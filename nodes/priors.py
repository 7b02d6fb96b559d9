"""Prior nodes: each makes a D3_PRIOR (a noise predictor and what to ask it for) for the score-distillation losses."""
from __future__ import annotations

import logging

import torch
from comfy_api.latest import io

from ..core.priors import PromptedPrior
from ..core.priors.world_prior import MODES as WORLD_MODES, NOISE_FORMS, WorldPrior, world_noise_path
from ..core.world import UnknownObjectError
from ..core.world.families import MAX_MEMBERS, FamilyWordError, parse_family_prompt
from .types import CATEGORY, D3Prior, D3Reference, checked_inputs, device, input_errors, tell


class WorldPriorNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DWorldPrior",
            display_name="World Prior",
            category=f"{CATEGORY}/priors",
            description="The primitive world's exact diffusion prior: the posterior-mean denoiser of every world "
                        "object's renders. Runs offline with no model files, and every result can be judged "
                        "against the truth. The prompt picks the object by name or synonym; the unconditional "
                        "model pools all objects, so guidance scale means what it means.",
            inputs=[
                io.String.Input("prompt", default="a snowman", tooltip="Must name a world object, e.g. 'a red mug'."),
                io.Combo.Input("mode", options=list(WORLD_MODES), default="view-aware",
                               tooltip="view-aware: knows the camera (like a 3D-aware prior). 2D: ignores it, as a "
                                       "text-to-image model does; shows the Janus problem. multi-view: MVDream's "
                                       "setting, groups of 4 views (one elevation, 90° apart) denoised together."),
                io.Combo.Input("resolution", options=["32", "64"], default="32",
                               tooltip="Pixels of the renders it judges. 64 is 4x slower; the first use of each "
                                       "size renders all objects once (cached on disk)."),
                io.Combo.Input("renders", options=["albedo", "normal"], default="albedo", optional=True,
                               tooltip="What its data are: albedo renders, or normal maps (world-space normals as "
                                       "colours) for a geometry stage that judges normal renders (DreamCraft3D's "
                                       "DMTet stage: set the loss's shading to normal)."),
                io.Combo.Input("noise", options=list(NOISE_FORMS), default="ddpm", optional=True,
                               tooltip="How it is noised and what it outputs. ddpm: Stable Diffusion's schedule, "
                                       "epsilon. flow: as SD3 / SD3.5 / Flux, x = (1 - σ) x0 + σ ε over a shifted σ "
                                       "table, velocity out: the flow path end to end, exactly (try the SDS Loss's "
                                       "rfds forms with it)."),
                io.Float.Input("flow_shift", default=3.0, min=0.1, max=10.0, step=0.05, optional=True,
                               tooltip="The flow form's timestep shift (SD3 / SD3.5: 3.0; 1.0: none)."),
                *_member_inputs("a prompt's"),
            ],
            outputs=[D3Prior.Output(display_name="prior")],
        )

    @classmethod
    def validate_inputs(cls, prompt=None, mode=None, resolution=None, renders=None, noise=None, flow_shift=None):
        err = input_errors(cls, prompt=prompt, mode=mode, resolution=resolution, renders=renders, noise=noise,
                           flow_shift=flow_shift)
        if err or prompt is None:
            return err or True  # a linked prompt is checked when the node runs
        try:
            parse_family_prompt(prompt)
        except (UnknownObjectError, FamilyWordError) as e:
            return str(e)
        return True

    @classmethod
    def execute(cls, prompt, mode, resolution, renders="albedo", noise="ddpm", flow_shift=3.0, members=1,
                member_seed=0) -> io.NodeOutput:
        return io.NodeOutput(PromptedPrior(WorldPrior(int(resolution), mode, shading=renders, device=device(),
                                                      path=world_noise_path(noise, flow_shift), members=members,
                                                      member_seed=member_seed), prompt))


def _member_inputs(whose: str) -> list:
    """The family inputs the world's priors share: how many members, and which."""
    return [
        io.Int.Input("members", default=1, min=1, max=MAX_MEMBERS, optional=True,
                     tooltip=f"K: how many members of {whose} object family the prior is a distribution over (a "
                             "real text-to-image model knows many ducks). 1: the one catalogue object, as before. "
                             "Each new member is rendered once (a few seconds, cached on disk); a query costs "
                             "about K times more."),
        io.Int.Input("member_seed", default=0, min=0, max=2 ** 31 - 1, optional=True,
                     tooltip="Which members are drawn (member 0 is always the catalogue object where the prompt's "
                             "words fit it)."),
    ]


def _checkpoint_resolution():
    return io.Int.Input("resolution", default=512, min=64, max=2048, step=64,
                        tooltip="Render size the model sees (its latents are 1/8): 512 for SD 1.5, 768 for SD 2.1-v, "
                                "1024 for SDXL, SD3.5 and Flux; smaller is faster and blurrier.")


def _flux_guidance():
    return io.Float.Input("flux_guidance", default=0.0, min=0.0, max=100.0, step=0.1, optional=True,
                          tooltip="Flux.1-dev's distilled guidance (ComfyUI's FluxGuidance value). 0: the model's "
                                  "own default (3.5 for Flux-dev) or what a FluxGuidance node upstream set. Only "
                                  "guidance-distilled models take it. With it, set the loss's guidance_scale (true "
                                  "CFG) to 1 unless you want a negative prompt to count too.")


CHECKPOINT_KINDS = ("SD 1.x / 2.x (epsilon or v), SDXL, SD3 / SD3.5 and Flux.1 (flow matching; load them with "
                    "Load Diffusion Model + DualCLIPLoader / TripleCLIPLoader + Load VAE)")


class CheckpointPriorNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DCheckpointPrior",
            display_name="Checkpoint Prior",
            category=f"{CATEGORY}/priors",
            description="Your own diffusion model as the prior: MODEL and VAE from Load Checkpoint, the prompt "
                        "from CLIP Text Encode. LoRAs and patches applied to the MODEL take effect; ComfyUI loads "
                        f"and offloads it as for sampling. {CHECKPOINT_KINDS}. For view-dependent prompts use "
                        "Checkpoint Prior (Text).",
            inputs=[io.Model.Input("model"), io.Vae.Input("vae"), io.Conditioning.Input("positive"),
                    io.Conditioning.Input("negative"), _checkpoint_resolution(), _flux_guidance()],
            outputs=[D3Prior.Output(display_name="prior")],
        )

    @classmethod
    def execute(cls, model, vae, positive, negative, resolution, flux_guidance=0.0) -> io.NodeOutput:
        from .comfy.prior import ComfyModelPredictor
        predictor = ComfyModelPredictor(model, vae, resolution, guidance=flux_guidance)
        return io.NodeOutput(PromptedPrior(predictor, conditioning=(predictor.conditioned(positive),
                                                                    predictor.conditioned(negative))))


class CheckpointTextPriorNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DCheckpointTextPrior",
            display_name="Checkpoint Prior (Text)",
            category=f"{CATEGORY}/priors",
            description="Your own diffusion model as the prior, prompted with text through its CLIP, so the SDS / "
                        "VSD losses can add DreamFusion's view-dependent suffixes (', front view', ', back view', "
                        "...) per rendered view: the usual remedy for multi-faced (Janus) results. Each suffixed "
                        f"prompt is encoded once. {CHECKPOINT_KINDS}.",
            inputs=[io.Model.Input("model"), io.Clip.Input("clip"), io.Vae.Input("vae"),
                    io.String.Input("prompt", default="a DSLR photo of a hamburger", multiline=True),
                    io.String.Input("negative_prompt", default="", multiline=True), _checkpoint_resolution(),
                    _flux_guidance()],
            outputs=[D3Prior.Output(display_name="prior")],
        )

    @classmethod
    def execute(cls, model, clip, vae, prompt, negative_prompt, resolution, flux_guidance=0.0) -> io.NodeOutput:
        from .comfy.prior import ComfyModelPredictor
        return io.NodeOutput(PromptedPrior(ComfyModelPredictor(model, vae, resolution, clip=clip,
                                                               guidance=flux_guidance), prompt, negative_prompt))


def _diffusers_folders() -> dict[str, str]:
    """Pipeline folders (with a model_index.json) under ComfyUI's models/diffusers paths, by name."""
    import os
    import folder_paths
    found = {}
    for root in folder_paths.get_folder_paths("diffusers"):
        if os.path.isdir(root):
            for name in sorted(os.listdir(root)):
                if os.path.isfile(os.path.join(root, name, "model_index.json")):
                    found.setdefault(name, os.path.join(root, name))
    return found


class DiffusersPriorNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DDiffusersPrior",
            display_name="Diffusers Prior",
            category=f"{CATEGORY}/priors",
            description="A diffusers pipeline folder from models/diffusers as the prior: Stable Diffusion "
                        "(latent) or DeepFloyd IF stage I (pixels, 64², DreamFusion's closest public relative). "
                        "Text embeddings are computed once per prompt, view-dependent suffixes included.",
            inputs=[
                io.Combo.Input("model", options=sorted(_diffusers_folders()) or ["(no folder in models/diffusers)"],
                               tooltip="A folder written by save_pretrained, e.g. models/diffusers/IF-I-XL-v1.0."),
                io.String.Input("prompt", default="a DSLR photo of a hamburger", multiline=True),
                io.String.Input("negative_prompt", default="", multiline=True),
                io.Int.Input("resolution", default=0, min=0, max=2048, step=8,
                             tooltip="Render size; 0 = the model's own (64 for IF-I, 512 for SD 1.5)."),
            ],
            outputs=[D3Prior.Output(display_name="prior")],
        )

    @classmethod
    def validate_inputs(cls, model=None):
        if model is not None and model not in _diffusers_folders():
            return f"model = {model!r}: no diffusers pipeline folder of that name in models/diffusers (found: " \
                   f"{', '.join(_diffusers_folders()) or 'none'})"
        return checked_inputs(cls, model=model)

    @classmethod
    def execute(cls, model, prompt, negative_prompt, resolution) -> io.NodeOutput:
        from ..core.priors.diffusers_prior import DiffusersPrior
        dev = device()
        dtype = torch.float16 if dev.type == "cuda" else torch.float32
        predictor = DiffusersPrior(_diffusers_folders()[model], resolution or None, device=dev, dtype=dtype)
        return io.NodeOutput(PromptedPrior(predictor, prompt, negative_prompt))


class WorldImagePriorNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DWorldImagePrior",
            display_name="World Image Prior",
            category=f"{CATEGORY}/priors",
            description="Zero-1-to-3 of the primitive world: it recognizes which world object (and how turned) the "
                        "reference shows, then denoises every novel view exactly, relative to the reference's "
                        "camera. Runs offline, so image-to-3D can be judged against the truth. A picture framed unlike "
                        "the world's own view (any fill, off centre) is matched whatever its framing and the object "
                        "placed as the picture shows it; a poor or ambiguous match is told to the user.",
            inputs=[
                D3Reference.Input("reference"),
                io.Combo.Input("resolution", options=["32", "64"], default="32"),
                io.Float.Input("tolerance", default=0.01, min=0.001, max=0.5, step=0.001,
                               tooltip="How far (RMS colour, 0..1) a world render may differ from the reference "
                                       "and still be what it shows."),
                *_member_inputs("every"),
            ],
            outputs=[D3Prior.Output(display_name="prior")],
        )

    @classmethod
    def validate_inputs(cls, resolution=None):
        return checked_inputs(cls, resolution=resolution)

    @classmethod
    def execute(cls, reference, resolution, tolerance, members=1, member_seed=0) -> io.NodeOutput:
        from ..core.priors.world_prior import WorldImagePrior
        prior = WorldImagePrior(reference, int(resolution), tolerance, device=device(), members=members,
                                member_seed=member_seed)
        logging.info("Distill3D World Image Prior: the reference shows %s", prior.describe())
        tell(prior.match_warnings(), "World Image Prior")
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
        from .comfy.prior import Zero123Predictor
        prior = Zero123Predictor(model, clip_vision, vae, reference, resolution)
        return io.NodeOutput(PromptedPrior(prior, conditioning=prior.conditioning()))


NODES = [WorldPriorNode, CheckpointPriorNode, CheckpointTextPriorNode, DiffusersPriorNode, WorldImagePriorNode,
         Zero123PriorNode]
