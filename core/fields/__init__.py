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


def make_field(kind: str, **kw) -> Field:
    if kind not in FIELD_KINDS:
        raise ValueError(f"unknown field kind '{kind}'; choose one of {', '.join(FIELD_KINDS)}")
    return FIELD_KINDS[kind](**kw)


__all__ = ["Background", "CostVolumeNeuSField", "FIELD_KINDS", "Field", "NeRFField", "NeuSField", "Optimizable",
           "make_field", "mlp"]
