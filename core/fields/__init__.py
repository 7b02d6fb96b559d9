"""3D fields: NeRF (density), NeuS (SDF), the cost-volume NeuS, DMTet, textured meshes and triplanes, behind one
interface (interface.Optimizable): what the optimizer and the losses may use of them.

A field maps world points [P,3] (inside the cube [-bound, bound]^3) to a geometry value (density or SDF) and an
albedo in one pass (`query`), gives normals, its parameter groups with learning rates, and a config that rebuilds
it. Renderers (core.render) and the optimizer (core.optimize) only use this interface.
"""
from __future__ import annotations

from .costvolume import CostVolumeNeuSField
from .interface import Optimizable
from .volume import Background, Field, NeRFField, NeuSField, mlp

FIELD_KINDS = {"nerf": NeRFField, "neus": NeuSField, "costvolume-neus": CostVolumeNeuSField}


#: the encodings the Create NeRF / NeuS nodes offer, as configured there ('auto': hashgrid on CUDA, else densegrid)
ENCODING_PRESETS = {"hashgrid": dict(n_levels=16, features_per_level=2, log2_hashmap_size=19, base_resolution=16,
                                     max_resolution=2048),
                    "densegrid": dict(resolutions=(16, 32, 64), features=4),
                    "triplane": dict(resolution=128, features=16)}


def encoding_preset(encoding: str, device="cpu") -> tuple[str, dict]:
    """(encoding, its config) for an encoding name of ENCODING_PRESETS or 'auto' on `device`."""
    import torch
    if encoding == "auto":
        encoding = "hashgrid" if torch.device(device).type == "cuda" else "densegrid"
    if encoding not in ENCODING_PRESETS:
        raise ValueError(f"unknown encoding '{encoding}'; choose auto or one of {', '.join(ENCODING_PRESETS)}")
    return encoding, dict(ENCODING_PRESETS[encoding])


def make_field(kind: str, **kw) -> Field:
    if kind not in FIELD_KINDS:
        raise ValueError(f"unknown field kind '{kind}'; choose one of {', '.join(FIELD_KINDS)}")
    return FIELD_KINDS[kind](**kw)


__all__ = ["Background", "CostVolumeNeuSField", "ENCODING_PRESETS", "FIELD_KINDS", "Field", "NeRFField", "NeuSField",
           "Optimizable", "encoding_preset", "make_field", "mlp"]
