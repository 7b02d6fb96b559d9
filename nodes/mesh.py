"""Mesh nodes: save to GLB / OBJ / PLY (previewable in ComfyUI's Preview3D) and hand meshes to ComfyUI's MESH."""
from __future__ import annotations

import os

import folder_paths
import torch
from comfy_api.latest import io

from ..core.mesh.export import FORMATS, save_mesh
from ..core.mesh.extract import field_mesh
from .types import CATEGORY, D3Field, D3Mesh


class SaveMesh(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DSaveMesh",
            display_name="Save Mesh",
            category=f"{CATEGORY}/mesh",
            description="Writes the mesh under ComfyUI's output folder (atomically, never overwriting). Wire "
                        "model_file into ComfyUI's Preview3D to view it.",
            is_output_node=True,
            inputs=[
                D3Mesh.Input("mesh"),
                io.String.Input("filename_prefix", default="distill3d/mesh",
                                tooltip="Path under the output folder; a counter and the extension are added."),
                io.Combo.Input("format", options=list(FORMATS), default="glb",
                               tooltip="glb: glTF binary (Preview3D, Blender, the web); obj: Wavefront with vertex "
                                       "colors; ply: vertex colors."),
            ],
            outputs=[io.String.Output(display_name="model_file",
                                      tooltip="The file's path relative to the output folder (for Preview3D).")],
        )

    @classmethod
    def execute(cls, mesh, filename_prefix, format) -> io.NodeOutput:
        out_dir = folder_paths.get_output_directory()
        path = save_mesh(mesh, out_dir, filename_prefix, format)
        rel = os.path.relpath(path, out_dir).replace(os.sep, "/")
        subfolder, filename = os.path.split(rel)
        return io.NodeOutput(rel, ui={"3d": [{"filename": filename, "subfolder": subfolder, "type": "output"}]})


class ToComfyMesh(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DToComfyMesh",
            display_name="To ComfyUI MESH",
            category=f"{CATEGORY}/mesh",
            description="Converts a Distill3D mesh to ComfyUI's own MESH type (geometry only), e.g. for SaveGLB.",
            inputs=[D3Mesh.Input("mesh")],
            outputs=[io.Mesh.Output(display_name="MESH")],
        )

    @classmethod
    def execute(cls, mesh) -> io.NodeOutput:
        from comfy_api.latest import MESH

        return io.NodeOutput(MESH(mesh.vertices[None].clone(), mesh.faces[None].to(torch.int64).clone()))


class ExtractMesh(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DExtractMesh",
            display_name="Extract Mesh",
            category=f"{CATEGORY}/mesh",
            description="Marching cubes of a field's surface (NeuS: SDF = 0; NeRF: density = level), with the "
                        "field's albedo as vertex colors.",
            inputs=[
                D3Field.Input("field"),
                io.Int.Input("resolution", default=128, min=16, max=1024, step=8,
                             tooltip="Grid resolution over the field's cube."),
                io.Float.Input("level", default=-1.0, min=-1.0, max=1000.0, step=0.5,
                               tooltip="NeRF density level of the surface; -1 = the default (5 for a NeRF, "
                                       "0 for a NeuS SDF)."),
            ],
            outputs=[D3Mesh.Output(display_name="mesh")],
        )

    @classmethod
    def execute(cls, field, resolution, level) -> io.NodeOutput:
        with torch.no_grad():
            mesh = field_mesh(field, resolution, None if level < 0 else level)
        return io.NodeOutput(mesh)


NODES = [SaveMesh, ToComfyMesh, ExtractMesh]
