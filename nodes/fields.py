"""Field nodes: create NeRF and NeuS fields (the optimizer clones them; a field output is never modified)."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..core.fields import ENCODING_PRESETS, encoding_preset, make_field
from ..core.fields.dmtet import DMTetField
from .types import BACKGROUND_COLORS, CATEGORY, D3Field, checked_inputs, device

ENCODINGS = ["auto", *sorted(ENCODING_PRESETS)]
BACKGROUNDS = {**{name: ("solid", c) for name, c in BACKGROUND_COLORS.items()},
               "learned (environment MLP)": ("mlp", (1.0, 1.0, 1.0))}


def _common_inputs(bound: bool = True):
    """encoding, background, (bound,) seed: the inputs every field node has (a cost-volume field takes its
    volume's bound)."""
    return [
        io.Combo.Input("encoding", options=ENCODINGS, default="auto",
                       tooltip="auto: hash grid (tiny-cuda-nn where it imports) on a GPU, dense multiresolution "
                               "grid on a CPU. hashgrid: Instant-NGP in pure torch (or tcnn). triplane: EG3D-style."),
        io.Combo.Input("background", options=list(BACKGROUNDS), default="white",
                       tooltip="Behind the object: a solid color, or DreamFusion's learned environment MLP."),
        *([io.Float.Input("bound", default=0.6, min=0.3, max=2.0, step=0.05,
                          tooltip="Half size of the cube the field lives in, meters (world objects fit 0.5).")]
          if bound else []),
        io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
    ]


def _build(kind: str, encoding: str, background: str, bound: float, seed: int, **kw):
    dev = device()
    encoding, cfg = encoding_preset(encoding, dev)
    bg_kind, bg_color = BACKGROUNDS[background]
    with torch.inference_mode(False), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make_field(kind, encoding=encoding, encoding_config=cfg, bound=bound, background=bg_kind,
                          background_color=bg_color, backend="auto", device=dev, **kw)


class CreateNeRF(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DCreateNeRF",
            display_name="Create NeRF",
            category=f"{CATEGORY}/fields",
            description="DreamFusion's NeRF: density and albedo, starting as a density blob at the center.",
            inputs=[*_common_inputs(),
                    io.Float.Input("blob_density", default=10.0, min=0.0, max=100.0, step=0.5,
                                   tooltip="Initial density at the center (the blob that SDS starts from)."),
                    io.Float.Input("blob_radius", default=0.5, min=0.05, max=2.0, step=0.05,
                                   tooltip="Where the blob's added density falls to zero, meters.")],
            outputs=[D3Field.Output(display_name="field")],
        )

    @classmethod
    def validate_inputs(cls, encoding=None, background=None):
        return checked_inputs(cls, encoding=encoding, background=background)

    @classmethod
    def execute(cls, encoding, background, bound, seed, blob_density, blob_radius) -> io.NodeOutput:
        return io.NodeOutput(_build("nerf", encoding, background, bound, seed, blob_density=blob_density,
                                    blob_radius=blob_radius))


class CreateNeuS(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DCreateNeuS",
            display_name="Create NeuS",
            category=f"{CATEGORY}/fields",
            description="NeuS: a signed distance field starting as a sphere, rendered with a learned sharpness. "
                        "Smoother surfaces than a NeRF; pair it with an Eikonal Loss.",
            inputs=[*_common_inputs(),
                    io.Float.Input("init_radius", default=0.3, min=0.05, max=1.5, step=0.05,
                                   tooltip="Radius of the starting sphere, meters."),
                    io.Float.Input("sharpness_warmup", default=0.5, min=0.0, max=1.0, step=0.05, optional=True,
                                   tooltip="Fraction of the run over which the surface's sharpness is capped "
                                           "(rising from soft to sharp), so gradients still reach inside the "
                                           "shape and holes can open (a torus, a handle). 0 = no cap.")],
            outputs=[D3Field.Output(display_name="field")],
        )

    @classmethod
    def validate_inputs(cls, encoding=None, background=None):
        return checked_inputs(cls, encoding=encoding, background=background)

    @classmethod
    def execute(cls, encoding, background, bound, seed, init_radius, sharpness_warmup=0.5) -> io.NodeOutput:
        if init_radius >= bound:
            raise ValueError(f"init_radius ({init_radius}) must be smaller than bound ({bound})")
        return io.NodeOutput(_build("neus", encoding, background, bound, seed, init_radius=init_radius,
                                    sharpness_warmup=sharpness_warmup))


class ConvertToDMTet(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DConvertToDMTet",
            display_name="Convert to DMTet",
            category=f"{CATEGORY}/fields",
            description="A DMTet surface initialized from a NeuS (its SDF) or NeRF (its density level) field, "
                        "for refinement by rasterization; the source field's color branch becomes its texture.",
            inputs=[
                D3Field.Input("field"),
                io.Int.Input("resolution", default=48, min=8, max=256, step=4,
                             tooltip="Tetrahedral grid cells per side (6 tetrahedra a cell). 32-64 on a CPU, "
                                     "128+ on a GPU."),
                io.Float.Input("nerf_level", default=5.0, min=0.01, max=1000.0, step=0.5,
                               tooltip="For a NeRF: the density taken as the surface."),
            ],
            outputs=[D3Field.Output(display_name="field")],
        )

    @classmethod
    def execute(cls, field, resolution, nerf_level) -> io.NodeOutput:
        if field.geometry == "mesh":
            raise ValueError("the field is already a DMTet; connect a NeuS or NeRF field")
        return io.NodeOutput(DMTetField.from_field(field, resolution, nerf_level).to(device()))


NODES = [CreateNeRF, CreateNeuS, ConvertToDMTet]
