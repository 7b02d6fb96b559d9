"""Texture-stage nodes (DreamCraft3D's texture boosting): freeze any geometry, boost its texture with BSD, keep the
boosted model as a LoRA."""
from __future__ import annotations

import json
import logging
import os

from comfy_api.latest import io

from ..core.files import OutputPathError, resolve_prefix, write_exclusive
from ..core.fields.textured import TEXTURES, TexturedMeshField
from ..core.losses.bsd import BSDConfig, BSDLoss
from ..core.optimize import run_of
from ..core.losses.vsd import ESTIMATORS
from ..core.losses import LossList
from .losses import _distillation_errors, _distillation_inputs
from .types import CATEGORY, D3Field, D3Loss, D3Mesh, checked_inputs, device

log = logging.getLogger("Distill3D")


class TextureStageNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DTextureStage",
            display_name="Texture Stage (Freeze Geometry)",
            category=f"{CATEGORY}/fields",
            description="Freezes a geometry and frees a texture: the field Optimize Field then changes only colours. "
                        "Takes a DMTet (DreamCraft3D's stage-1 result), any NeuS / NeRF field (its surface by "
                        "marching cubes) or a mesh. Renders by rasterization, so the texture stage can render larger "
                        "than the geometry stage did.",
            inputs=[
                D3Field.Input("field", optional=True, tooltip="The geometry as a field (DMTet, NeuS, NeRF)."),
                D3Mesh.Input("mesh", optional=True, tooltip="Or the geometry as a mesh (then the texture is fresh)."),
                io.Combo.Input("texture", options=list(TEXTURES), default="source",
                               tooltip="source: start from the field's own colours. densegrid / hashgrid: a fresh, "
                                       "finer texture (grey at the start)."),
                io.Int.Input("mesh_resolution", default=128, min=32, max=512, step=8,
                             tooltip="Marching-cubes grid for a NeuS / NeRF field's surface."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFF, tooltip="Seed of a fresh texture."),
            ],
            outputs=[D3Field.Output(display_name="field")],
        )

    @classmethod
    def validate_inputs(cls, texture=None):
        return checked_inputs(cls, texture=texture)

    @classmethod
    def execute(cls, texture, mesh_resolution, seed, field=None, mesh=None) -> io.NodeOutput:
        if (field is None) == (mesh is None):
            raise ValueError("Texture Stage: connect either a field or a mesh (exactly one)")
        return io.NodeOutput(TexturedMeshField.from_source(field if field is not None else mesh, texture,
                                                           mesh_resolution, seed=seed).to(device()))


class BSDLossNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DBSDLoss",
            display_name="BSD Loss",
            category=f"{CATEGORY}/losses",
            description="Bootstrapped score distillation (DreamCraft3D's texture boosting): VSD against a prior that "
                        "is repeatedly fine-tuned (DreamBooth, a LoRA with the camera as a condition) on SDEdit-"
                        "augmented renders of this very object, so it pulls the texture towards a sharp, consistent "
                        "version of itself. For a frozen geometry (Texture Stage). The World Prior is boosted "
                        "exactly (its data become the augmented views). Save Boosted LoRA keeps the model.",
            inputs=[*_distillation_inputs(7.5, "Classifier-free guidance of the boosted prior (public code: 7.5)."),
                    io.Combo.Input("estimator", options=["auto", *ESTIMATORS], default="auto",
                                   tooltip="VSD's estimator of the renders' own score (see VSD Loss)."),
                    io.Float.Input("estimator_lr", default=1e-3, min=1e-6, max=0.1, step=1e-4,
                                   tooltip="Learning rate of the estimator (Adam)."),
                    io.Int.Input("estimator_steps", default=0, min=0, max=32,
                                 tooltip="Estimator updates per field step; 0 = its own default (see VSD Loss)."),
                    io.Int.Input("augment_every", default=0, min=0, max=100000,
                                 tooltip="Steps between bootstrap rounds (render, augment, fine-tune); 0 = a fifth "
                                         "of the run (public code: every 1000 of 5000 steps)."),
                    io.Int.Input("augment_views", default=16, min=1, max=128,
                                 tooltip="Views rendered and augmented each round, on rings at 0, 20 and 40° "
                                         "elevation."),
                    io.Float.Input("augment_t_start", default=0.5, min=0.01, max=0.99, step=0.01,
                                   tooltip="SDEdit noise level t' of the first round, a fraction of the diffusion's "
                                           "steps (public code: 500 of 1000)."),
                    io.Float.Input("augment_t_end", default=0.2, min=0.01, max=0.99, step=0.01,
                                   tooltip="t' at the end of the run (public code: 200): later rounds only sharpen."),
                    io.Int.Input("sdedit_steps", default=4, min=1, max=50,
                                 tooltip="Deterministic DDIM steps from t' to a clean augmented view."),
                    io.Float.Input("finetune_fraction", default=0.2, min=0.01, max=1.0, step=0.01,
                                   tooltip="Part of each period spent fine-tuning (public code: 200 of 1000 steps)."),
                    io.Int.Input("finetune_steps", default=1, min=1, max=16,
                                 tooltip="Adapter updates per field step while fine-tuning."),
                    io.Float.Input("finetune_lr", default=1e-4, min=1e-6, max=0.1, step=1e-5,
                                   tooltip="Learning rate of the DreamBooth adapter."),
                    io.String.Input("token", default="sks",
                                    tooltip="The rare token of the DreamBooth prompt 'a [V] <class>'."),
                    io.String.Input("class_word", default="",
                                    tooltip="The class in that prompt; empty = the prior's prompt."),
                    io.Float.Input("warmup", default=0.0, min=0.0, max=0.9, step=0.05, optional=True,
                                   tooltip="Part of the run spent as plain VSD before the first round. 0 (DreamCraft3D) "
                                           "when the texture starts from the geometry stage's colours (Texture "
                                           "Stage 'source'); about 0.2 for a fresh grey texture, or the first "
                                           "boost learns grey renders.")],
            outputs=[D3Loss.Output(display_name="loss")],
        )

    @classmethod
    def validate_inputs(cls, t_min=None, t_max=None, t_max_end=None, weighting=None, t_schedule=None, shading=None,
                        estimator=None):
        return _distillation_errors(cls, t_min, t_max, t_max_end, weighting=weighting, t_schedule=t_schedule,
                                    shading=shading, estimator=estimator)

    @classmethod
    def execute(cls, prior, cameras, token, random_background=0.5, **settings) -> io.NodeOutput:
        if not token.strip() or any(c.isspace() for c in token.strip()):
            raise ValueError(f"BSD Loss: the token must be one word (e.g. 'sks'), got '{token}'")
        term = BSDLoss(prior, cameras, config=BSDConfig(token=token, random_background=random_background, **settings))
        return io.NodeOutput(LossList([term]))


def lora_path(name: str) -> tuple[str, str]:
    """(ComfyUI's first loras folder, the file for `name` inside it); refuses a name that leaves the folder (an
    existing file is refused when written: core.files.write_exclusive)."""
    import folder_paths
    name = name.strip()
    if not name.endswith(".safetensors"):
        name += ".safetensors"
    root = os.path.realpath(folder_paths.get_folder_paths("loras")[0])
    try:
        folder, filename = resolve_prefix(root, name)
    except OutputPathError as e:
        raise ValueError(f"Save Boosted LoRA: {e} (the loras folder)") from None
    return root, os.path.join(folder, filename)


class SaveBoostedLoRA(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DSaveBoostedLoRA",
            display_name="Save Boosted LoRA",
            category=f"{CATEGORY}/losses",
            description="Saves the model BSD boosted on your object (its DreamBooth adapter) into models/loras, "
                        "for ComfyUI's own Load LoRA on the same checkpoint; its trigger prompt is in the file's "
                        "metadata. The camera condition is baked in as its average over the augmented views.",
            inputs=[
                D3Loss.Input("loss", tooltip="The BSD Loss that Optimize Field ran."),
                D3Field.Input("field", tooltip="Optimize Field's output (so this runs after the optimization)."),
                io.String.Input("name", default="distill3d/bsd_boosted",
                                tooltip="File name inside models/loras; an existing file is never overwritten."),
            ],
            outputs=[io.String.Output(display_name="lora_name"), io.String.Output(display_name="trigger_prompt")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, loss, field, name) -> io.NodeOutput:
        from safetensors.torch import save

        terms = [t for t in loss if isinstance(t, BSDLoss)]
        if len(terms) != 1:
            raise ValueError(f"Save Boosted LoRA: connect the loss that holds one BSD Loss (found {len(terms)})")
        bsd = run_of(field, terms[0])
        if bsd is None:
            raise ValueError("Save Boosted LoRA: the field was not made by an Optimize Field run of this BSD Loss: "
                             "connect the field that Optimize Field made with it")
        tensors = bsd.lora_tensors()
        root, path = lora_path(name)
        meta = {"distill3d": "BSD DreamBooth adapter", "trigger_prompt": bsd.trigger_prompt(),
                "rounds": str(bsd.rounds_done), "modules": json.dumps(len(bsd.booster.lora.targets))}
        try:
            write_exclusive(path, save(tensors, metadata=meta))
        except FileExistsError:
            raise ValueError(f"Save Boosted LoRA: {path} exists; choose another name (files are never "
                             f"overwritten)") from None
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        log.info("Distill3D Save Boosted LoRA: wrote %s (trigger '%s')", path, bsd.trigger_prompt())
        return io.NodeOutput(rel, bsd.trigger_prompt(), ui={"text": [f"{rel}: {bsd.trigger_prompt()}"]})


NODES = [TextureStageNode, BSDLossNode, SaveBoostedLoRA]
