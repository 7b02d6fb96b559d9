"""Mesh nodes: save to GLB / OBJ / PLY (previewable in ComfyUI's Preview3D) and hand meshes to ComfyUI's MESH."""
from __future__ import annotations

import json
import logging
import os

import folder_paths
import torch
from comfy_api.latest import io, ui

from ..core.mesh.export import FORMATS, gltf_arrays, save_mesh
from ..core.mesh.clean import remove_small_components
from ..core.mesh.extract import field_mesh
from ..core.mesh.texture import bake
from .types import CATEGORY, D3Field, D3Mesh, checked_inputs


def graph_metadata(hidden) -> dict[str, str]:
    """The graph that made a result, as ComfyUI's own savers write it into their files (SaveGLB's asset.extras,
    SaveVideo's container tags): "prompt" (the API graph) and each extra_pnginfo entry ("workflow", the page's
    graph) as JSON text. Nothing when ComfyUI runs with --disable-metadata, or when the prompt came without them."""
    from comfy.cli_args import args

    if args.disable_metadata or hidden is None:
        return {}
    out = {}
    if hidden.prompt is not None:
        out["prompt"] = json.dumps(hidden.prompt)
    for key, value in (hidden.extra_pnginfo or {}).items():
        out[key] = json.dumps(value)
    return out


class SaveMesh(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DSaveMesh",
            display_name="Save Mesh",
            category=f"{CATEGORY}/mesh",
            description="Writes the mesh under ComfyUI's output folder (atomically, never overwriting). Wire "
                        "model_file into ComfyUI's Preview3D to view it. A GLB carries the graph that made it, as "
                        "ComfyUI's Save GLB does: dropped on the page it opens that workflow (not with "
                        "--disable-metadata).",
            is_output_node=True,
            inputs=[
                D3Mesh.Input("mesh"),
                io.String.Input("filename_prefix", default="distill3d/mesh",
                                tooltip="Path under the output folder; a counter and the extension are added."),
                io.Combo.Input("format", options=list(FORMATS), default="glb",
                               tooltip="glb: glTF binary (Preview3D, Blender, the web); obj: Wavefront (with .mtl "
                                       "and .png when textured, else vertex colors); ply: vertex colors."),
            ],
            outputs=[io.String.Output(display_name="model_file",
                                      tooltip="The file's path relative to the output folder (for Preview3D).")],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
        )

    @classmethod
    def validate_inputs(cls, format=None):
        """ComfyUI 0.3.75 checks no V3 combo's value: the format is re-checked here."""
        return checked_inputs(cls, format=format)

    @classmethod
    def execute(cls, mesh, filename_prefix, format) -> io.NodeOutput:
        out_dir = folder_paths.get_output_directory()
        path = save_mesh(mesh, out_dir, filename_prefix, format, asset_extras=graph_metadata(cls.hidden))
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
            description="Converts a Distill3D mesh to ComfyUI's own MESH type, e.g. for SaveGLB or ComfyUI's mesh "
                        "nodes: vertices and faces, and — where the host's MESH carries them (ComfyUI 2026 and "
                        "later) — the texture with its UVs and the vertex colors, in glTF's conventions.",
            inputs=[D3Mesh.Input("mesh")],
            outputs=[io.Mesh.Output(display_name="MESH")],
        )

    @classmethod
    def execute(cls, mesh) -> io.NodeOutput:
        import inspect

        from comfy_api.latest import MESH

        arrays = gltf_arrays(mesh)
        accepted = inspect.signature(MESH.__init__).parameters
        extras = {k: arrays[k][None] for k in ("uvs", "vertex_colors", "texture") if k in arrays and k in accepted}
        dropped = [k for k in ("uvs", "vertex_colors", "texture") if k in arrays and k not in accepted]
        if dropped:
            logging.info("Distill3D: this ComfyUI's MESH carries geometry only; %s not passed on (Save Mesh keeps "
                         "them)", ", ".join(dropped))
        return io.NodeOutput(MESH(arrays["vertices"][None], arrays["faces"][None], **extras))


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
                io.Float.Input("remove_floaters", default=0.05, min=0.0, max=1.0, step=0.01,
                               tooltip="Drop pieces smaller than this fraction of the largest piece's area "
                                       "(0 keeps everything)."),
            ],
            outputs=[D3Mesh.Output(display_name="mesh")],
        )

    @classmethod
    def execute(cls, field, resolution, level, remove_floaters) -> io.NodeOutput:
        with torch.no_grad():
            mesh = field_mesh(field, resolution, None if level < 0 else level)
        if remove_floaters > 0:
            mesh = remove_small_components(mesh, remove_floaters)
        return io.NodeOutput(mesh)


class BakeTexture(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DBakeTexture",
            display_name="Bake Texture",
            category=f"{CATEGORY}/mesh",
            description="Unwraps the mesh (xatlas) and bakes the field's albedo — or, with no field connected, the "
                        "mesh's own vertex colors — into a texture image, padded across seams. Saved as GLB it "
                        "carries the texture; as OBJ, an .mtl and a .png.",
            inputs=[
                D3Mesh.Input("mesh"),
                io.Int.Input("texture_size", default=1024, min=64, max=8192, step=64),
                io.Int.Input("padding", default=4, min=0, max=64, tooltip="Texels grown beyond each chart."),
                D3Field.Input("field", optional=True,
                              tooltip="The field whose albedo is baked (e.g. the optimized one); leave it "
                                      "unconnected to bake the mesh's vertex colors."),
            ],
            outputs=[D3Mesh.Output(display_name="mesh"), io.Image.Output(display_name="texture")],
        )

    @classmethod
    def execute(cls, mesh, texture_size, padding, field=None) -> io.NodeOutput:
        color_fn = None  # core.mesh.texture.bake refuses a mesh without vertex colors when no field is given
        if field is not None:
            dev = next(field.parameters()).device
            color_fn = lambda p: field.query(p.to(dev))[1]  # noqa: E731
        with torch.no_grad():
            baked = bake(mesh, color_fn, texture_size, padding)
        return io.NodeOutput(baked, baked.texture[None].clone())


class RenderTurntable(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DRenderTurntable",
            display_name="Render Turntable",
            category=f"{CATEGORY}/mesh",
            description="A full turn around the mesh (texture or vertex colors) as an IMAGE batch, and "
                        "optionally an MP4 under the output folder, played on the node. The MP4 carries the graph "
                        "that made it, as ComfyUI's Save Video does: dropped on the page it opens that workflow "
                        "(not with --disable-metadata).",
            is_output_node=True,
            inputs=[
                D3Mesh.Input("mesh"),
                io.Int.Input("frames", default=36, min=1, max=720),
                io.Int.Input("resolution", default=256, min=16, max=2048, step=8),
                io.Float.Input("elevation", default=15.0, min=-89.0, max=89.0, step=0.5),
                io.Float.Input("distance", default=1.8, min=0.3, max=20.0, step=0.05),
                io.Float.Input("fov", default=40.0, min=5.0, max=150.0, step=0.5),
                io.Combo.Input("shading", options=["albedo", "lambertian"], default="lambertian"),
                io.Int.Input("fps", default=24, min=1, max=120),
                io.String.Input("filename_prefix", default="distill3d/turntable",
                                tooltip="Where the MP4 goes under the output folder; empty: no video."),
            ],
            outputs=[io.Image.Output(display_name="images"), io.String.Output(display_name="video_file")],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
        )

    @classmethod
    def validate_inputs(cls, shading=None):
        """ComfyUI 0.3.75 checks no V3 combo's value: the shading is re-checked here."""
        return checked_inputs(cls, shading=shading)

    @classmethod
    def execute(cls, mesh, frames, resolution, elevation, distance, fov, shading, fps,
                filename_prefix) -> io.NodeOutput:
        from ..core.cameras import orbit
        from ..core.files import resolve_prefix, write_new_file
        from ..core.render.raster import render_mesh
        from ..core.video import encode_mp4
        from .types import Progress, device

        cams = orbit(frames, elevation, distance, fov)
        progress = Progress(frames)
        imgs = []
        with torch.no_grad():
            for i in range(frames):
                Progress.check_cancel()
                imgs.append(render_mesh(mesh, cams[i], resolution, shading=shading, device=device()).rgb.cpu())
                progress(i + 1, frames)
        images = torch.cat(imgs).clamp(0, 1)
        rel, preview = "", None
        if filename_prefix.strip():
            out_dir = folder_paths.get_output_directory()
            folder, name = resolve_prefix(out_dir, filename_prefix)
            path = write_new_file(folder, name, "mp4", encode_mp4(images, fps, graph_metadata(cls.hidden)))
            rel = os.path.relpath(path, out_dir).replace(os.sep, "/")
            sub, fn = os.path.split(rel)
            # ComfyUI's own video preview (Save Video's): {"images": [the file], "animated": [true]}, which both
            # frontends (1.32.9, 1.49.6) play in a <video> on the node for a file that is not .png / .webp
            preview = ui.PreviewVideo([ui.SavedResult(fn, sub, io.FolderType.output)])
        return io.NodeOutput(images, rel, ui=preview)


NODES = [SaveMesh, ToComfyMesh, ExtractMesh, BakeTexture, RenderTurntable]
