"""ComfyUI nodes of Distill3D: thin wrappers that validate inputs, pick the device, call core and report."""
from __future__ import annotations

import logging

from ..core.deps import fix_command, missing_optional, outdated_optional
from . import cameras, costvolume, fields, gan, losses, mesh, mvdream, optimize, paint, priors, reference, texture, \
    views, world

NODES = [*world.NODES, *cameras.NODES, *fields.NODES, *priors.NODES, *losses.NODES, *optimize.NODES, *mesh.NODES,
         *mvdream.NODES, *reference.NODES, *texture.NODES, *views.NODES,
         *costvolume.NODES, *paint.NODES, *gan.NODES]

_missing = missing_optional()
if _missing:  # the pack still loads; the nodes that need these say so by name when they run
    logging.warning("Distill3D: not installed: %s. Those nodes will fail until you run `%s` (it changes nothing "
                    "you already have).", "; ".join(_missing), fix_command())
_outdated = outdated_optional()
if _outdated:  # e.g. diffusers 0.27.2 kept from another pack: install.py leaves it, so name the upgrade command
    logging.warning("Distill3D: %s", _outdated)
