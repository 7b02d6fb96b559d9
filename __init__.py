"""Distill3D: score-distillation 3D generation as ComfyUI nodes.

ComfyUI imports this package and awaits `comfy_entrypoint()` (the V3 extension API). Importing it does no heavy
work: node modules import only torch and the pack's own light modules; models load when a node runs.
"""
from __future__ import annotations

WEB_DIRECTORY = "./web"  # page extensions: Load Mesh File's upload button and missing-file mark (web/mesh_upload.js)


async def comfy_entrypoint():
    from comfy_api.latest import ComfyExtension

    from .nodes import NODES

    class Distill3DExtension(ComfyExtension):
        async def get_node_list(self):
            return list(NODES)

    return Distill3DExtension()
