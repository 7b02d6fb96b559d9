"""ComfyUI nodes of Distill3D: thin wrappers that validate inputs, pick the device, call core and report."""
from __future__ import annotations

from . import cameras, fields, losses, mesh, mvdream, optimize, priors, world

NODES = [*world.NODES, *cameras.NODES, *fields.NODES, *priors.NODES, *losses.NODES, *optimize.NODES, *mesh.NODES,
         *mvdream.NODES]
