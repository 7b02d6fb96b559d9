"""Progressive texture painting nodes: meshes in (the pack's, ComfyUI's MESH, a mesh file), painters, and the
painter sequence that textures a mesh view by view (core.texture)."""
from __future__ import annotations

import logging
import os

import torch
from comfy_api.latest import io

from ..core.texture.paint import PaintConfig
from .comfy.painter import ComfyPainter
from .types import CATEGORY, D3Cameras, D3Mesh, D3WorldObject, Progress, checked_inputs, fixed_cameras, \
    image_batch, input_entries, input_errors, input_path

log = logging.getLogger("Distill3D")
D3Painter = io.Custom("D3_PAINTER")  # a callable core.texture.PaintRequest -> image [H,W,3]
MESH_FILES = (".glb", ".gltf", ".obj", ".ply")
UPLOAD_FOLDER = "3d"  # in the input folder: where ComfyUI's Load 3D and the frontends' mesh uploads put files


def mesh_files() -> list[str]:
    """Mesh files under the input directory (up to 3 folders deep, so input/3d too), by relative path."""
    return input_entries(lambda here, files: [f for f in files if f.lower().endswith(MESH_FILES)])


def _input_file(name: str) -> str:
    """The mesh file inside the input directory; refuses one that leaves it or does not exist."""
    import folder_paths
    path = input_path(name, "the mesh file")
    if not os.path.isfile(path):
        raise ValueError(f"no mesh file '{name}' in ComfyUI's input folder ({folder_paths.get_input_directory()}): "
                         f"upload it on the node (it goes to input/{UPLOAD_FOLDER}) or put it there")
    return path


def _mesh_file_input():
    inp = io.Combo.Input("file", options=mesh_files(), upload=io.UploadType.model,
                         tooltip=f"A GLB / glTF / OBJ / PLY file under ComfyUI's input folder; uploads go to "
                                 f"input/{UPLOAD_FOLDER}.")
    # what the newest frontend reads for a mesh upload (its own Load 3D gets the same from the frontend); 0.3.75's
    # Combo takes no extra_dict argument
    inp.extra_dict = {"mesh_upload": True, "upload_subfolder": UPLOAD_FOLDER}
    return inp


class LoadMeshFile(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DLoadMeshFile",
            display_name="Load Mesh File",
            category=f"{CATEGORY}/mesh",
            description="A GLB / glTF / OBJ / PLY from ComfyUI's input folder as a Distill3D mesh (all its parts "
                        "merged; its uvs and texture or vertex colours kept).",
            inputs=[_mesh_file_input()],
            outputs=[D3Mesh.Output(display_name="mesh")],
        )

    @classmethod
    def validate_inputs(cls, file=None):
        if file is None:
            return True
        try:
            _input_file(file)
        except ValueError as e:
            return f"file: {e}"
        return checked_inputs(cls, file=file)

    @classmethod
    def fingerprint_inputs(cls, file):
        try:
            return os.path.getmtime(_input_file(file))
        except (ValueError, OSError):
            return file

    @classmethod
    def execute(cls, file) -> io.NodeOutput:
        from ..core.mesh.export import load_mesh
        return io.NodeOutput(load_mesh(_input_file(file)))


class FromComfyMesh(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DFromComfyMesh",
            display_name="From ComfyUI MESH",
            category=f"{CATEGORY}/mesh",
            description="ComfyUI's own MESH (from its 3D model nodes: Hunyuan3D, TRELLIS, Load 3D ...) as a "
                        "Distill3D mesh: vertices and faces, and the uvs, texture and vertex colours where the "
                        "host's MESH carries them. A batch gives its first mesh.",
            inputs=[io.Mesh.Input("mesh")],
            outputs=[D3Mesh.Output(display_name="mesh")],
        )

    @classmethod
    def execute(cls, mesh) -> io.NodeOutput:
        from ..core.mesh.export import from_gltf_arrays
        batched = isinstance(mesh.vertices, list) or mesh.vertices.ndim == 3
        if batched and len(mesh.vertices) > 1:
            log.info("Distill3D From ComfyUI MESH: a batch of %d meshes; the first is taken", len(mesh.vertices))
        nv = nf = None
        counts = getattr(mesh, "vertex_counts", None)
        if counts is not None:
            nv, nf = int(counts[0]), int(mesh.face_counts[0])

        def first(x, n=None, per_item_ndim=2):
            """Item 0 of a batched (list, or one more dimension) per-mesh array, cut to its real length."""
            if x is None:
                return None
            if isinstance(x, list) or x.ndim > per_item_ndim:
                x = x[0]
            return (x[:n] if n is not None else x).detach().float().cpu()
        uvs, colors, texture = (getattr(mesh, k, None) for k in ("uvs", "vertex_colors", "texture"))
        faces = first(mesh.faces, nf).long()
        return io.NodeOutput(from_gltf_arrays(first(mesh.vertices, nv), faces, first(uvs, nv), first(colors, nv),
                                              first(texture, per_item_ndim=3)))


class WorldPainterNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DWorldPainter",
            display_name="World Painter",
            category=f"{CATEGORY}/texture paint",
            description="Paints each view with the true render of a world object (the pack's ground truth), so "
                        "the painting loop can be judged without a model: on the object's own mesh, the texture "
                        "comes back.",
            inputs=[
                D3WorldObject.Input("object"),
                io.Float.Input("brightness_jitter", default=0.0, min=0.0, max=0.5, step=0.01,
                               tooltip="Each view comes back brighter or darker by up to this share (seeded), as "
                                       "a diffusion painter's views disagree: what the adaptive blend hides."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF),
            ],
            outputs=[D3Painter.Output(display_name="painter")],
        )

    @classmethod
    def execute(cls, object, brightness_jitter, seed) -> io.NodeOutput:
        from ..core.texture import WorldPainter
        return io.NodeOutput(WorldPainter(object, brightness_jitter, seed))


class PaintTexture(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DPaintTexture",
            display_name="Paint Texture (progressive)",
            category=f"{CATEGORY}/texture paint",
            description="DiffusionGAN3D's texture stage (TEXTure / Text2Tex's loop): the mesh is painted view by "
                        "view, in the cameras' order, each view only where it still needs "
                        "paint (never painted, or painted at a grazing angle it sees head-on), folded into one UV "
                        "texture by the adaptive blend (a texel keeps its most head-on view; seams fade over a "
                        "band). Cancel stops it between views.",
            inputs=[
                D3Mesh.Input("mesh", tooltip="Any mesh: its uvs are kept (xatlas unwraps one without); a texture it "
                                             "has is kept wherever no view paints. Moved into the unit cube to paint, "
                                             "returned in its own coordinates."),
                D3Painter.Input("painter"),
                D3Cameras.Input("cameras", tooltip="The views in painting order (Paint View Sequence: front, back, "
                                                   "sides, diagonals, top, bottom), around the mesh moved into "
                                                   "the unit cube."),
                io.Int.Input("texture_size", default=512, min=64, max=4096, step=64,
                             tooltip="The texture's side in texels."),
                io.Int.Input("resolution", default=256, min=64, max=1024, step=64,
                             tooltip="The painted views' side in pixels (512 for Stable Diffusion 1.5)."),
                io.Combo.Input("blend", options=["adaptive", "last"], default="adaptive",
                               tooltip="adaptive: per-texel weights from the view angle and the distance to the "
                                       "need mask's edge. last: every texel a view sees takes its colour (the "
                                       "plain projection, for comparison)."),
                io.Float.Input("blend_band", default=0.04, min=0.0, max=0.2, step=0.01,
                               tooltip="The band over which new paint fades into old, as a share of the view."),
                io.Int.Input("optimize_steps", default=0, min=0, max=2000,
                             tooltip="Optional: then fit the texture to every painted view by differentiable "
                                     "rendering (measured on the world it does not beat the blend)."),
            ],
            outputs=[D3Mesh.Output(display_name="mesh"),
                     io.Image.Output(display_name="painted_views", tooltip="Each view as it was painted."),
                     io.Mask.Output(display_name="need_masks", tooltip="What each view was asked to paint."),
                     io.String.Output(display_name="log")],
        )

    @classmethod
    def validate_inputs(cls, blend=None):
        return checked_inputs(cls, blend=blend)

    @classmethod
    def execute(cls, mesh, painter, cameras, texture_size, resolution, blend, blend_band,
                optimize_steps) -> io.NodeOutput:
        from ..core.texture import paint_mesh
        cams = fixed_cameras(cameras, "Paint Texture")
        progress = Progress(len(cams))

        def on_view(i, n, image):
            Progress.check_cancel()
            progress.show(i, n, image)

        painting = painter.start()

        def checked(request):
            Progress.check_cancel()
            return painting(request)
        with torch.inference_mode(False):
            config = PaintConfig(texture_size=texture_size, resolution=resolution, blend=blend, blend_band=blend_band,
                                 optimize_steps=optimize_steps)
            res = paint_mesh(mesh, checked, cams, config=config, on_view=on_view)
        f = res.figures
        text = (f"painted {f['views']} views, {f['painted_share']:.1%} of {f['texels']:,} texels"
                + (f"; texture fit loss {f['optimize_loss_start']:.2e} -> {f['optimize_loss']:.2e}"
                   if "optimize_loss" in f else ""))
        return io.NodeOutput(res.mesh, image_batch(res.views), res.needs.float().cpu(), text, ui={"text": [text]})


class PaintViewSequence(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DPaintViewSequence",
            display_name="Paint View Sequence",
            category=f"{CATEGORY}/texture paint",
            description="The painting order. fixed: front, back, right, left, the four diagonals (on a ring at the "
                        "elevation), then top and bottom. coverage: chosen for the connected mesh — the front "
                        "first, then each next view the one that newly covers or improves the most texels (it "
                        "finds the inside of a cup, the underside of a cap), at elevations -60 .. 75.",
            inputs=[
                io.Combo.Input("order", options=["fixed", "coverage"], default="fixed",
                               tooltip="fixed: the same ring for every mesh. coverage: views chosen for the mesh "
                                       "(connect it); on the world's mug, mushroom and lamp it paints the texels "
                                       "the ring never sees."),
                io.Int.Input("views", default=10, min=1, max=24,
                             tooltip="How many views to paint (the fixed order has 10)."),
                io.Float.Input("elevation", default=15.0, min=-30.0, max=60.0, step=1.0,
                               tooltip="Elevation of the ring, or of the first (front) view in coverage order "
                                       "(degrees)."),
                io.Float.Input("distance", default=1.8, min=1.0, max=5.0, step=0.05,
                               tooltip="Camera distance from the centre of the unit cube the mesh is moved into."),
                io.Float.Input("fov", default=40.0, min=10.0, max=90.0, step=1.0),
                D3Mesh.Input("mesh", optional=True, tooltip="The mesh to be painted (coverage order)."),
            ],
            outputs=[D3Cameras.Output(display_name="cameras")],
        )

    @classmethod
    def validate_inputs(cls, order=None, views=None):
        err = input_errors(cls, order=order, views=views)
        if err:
            return err
        if order == "fixed" and views is not None and views > 10:
            return f"views = {views}: the fixed order has 10 views; choose order 'coverage' for more"
        return True

    @classmethod
    def execute(cls, order, views, elevation, distance, fov, mesh=None) -> io.NodeOutput:
        from ..core.texture import coverage_sequence, view_sequence
        if order == "fixed":
            return io.NodeOutput(view_sequence(elevation, distance, fov, views))
        if mesh is None:
            raise ValueError("Paint View Sequence: order 'coverage' chooses the views for a mesh; connect the mesh "
                             "to be painted (or choose order 'fixed')")
        cams = coverage_sequence(mesh, views, distance, fov, first_elevation=elevation)
        log.info("Distill3D Paint View Sequence: %d views chosen by coverage (elevation, azimuth): %s", len(cams),
                 ", ".join(f"({float(e):.0f}, {float(a):.0f})" for e, a in zip(cams.elevation, cams.azimuth)))
        return io.NodeOutput(cams)


class PaintGuides(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DPaintGuides",
            display_name="Paint Guides (depth, normals)",
            category=f"{CATEGORY}/texture paint",
            description="The bare mesh's depth and normal maps from each camera of the sequence, one image per view, "
                        "exactly as the painter will see them: wire depth into ComfyUI's Apply ControlNet (a depth "
                        "ControlNet) on the painter's conditioning; the Checkpoint Painter gives each view its own.",
            inputs=[
                D3Mesh.Input("mesh"),
                D3Cameras.Input("cameras"),
                io.Int.Input("resolution", default=512, min=64, max=1024, step=64,
                             tooltip="The painted views' side (Paint Texture's resolution)."),
            ],
            outputs=[io.Image.Output(display_name="depth"), io.Image.Output(display_name="normal")],
        )

    @classmethod
    def execute(cls, mesh, cameras, resolution) -> io.NodeOutput:
        from ..core.texture import view_guides
        depth, normal = view_guides(mesh, fixed_cameras(cameras, "Paint Guides"), resolution)
        return io.NodeOutput(image_batch(depth[..., None]), image_batch(normal))


class CheckpointPainter(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        import comfy.samplers
        return io.Schema(
            node_id="Distill3DCheckpointPainter",
            display_name="Checkpoint Painter",
            category=f"{CATEGORY}/texture paint",
            description="Paints each view with your model through ComfyUI's own sampler, as KSampler does with a "
                        "noise mask: the current render is encoded, only the view's need mask is regenerated "
                        "(an inpainting checkpoint also gets the masked image as its concat input). ControlNets "
                        "applied to the conditioning with one hint per view (Paint Guides' depth) give each view "
                        "its own hint.",
            inputs=[
                io.Model.Input("model"),
                io.Vae.Input("vae"),
                io.Conditioning.Input("positive"),
                io.Conditioning.Input("negative"),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="View i is sampled with seed + i."),
                io.Int.Input("steps", default=20, min=1, max=10000),
                io.Float.Input("cfg", default=7.5, min=0.0, max=100.0, step=0.1),
                io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS, default="euler"),
                io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS, default="normal"),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="1: the need region is painted from noise; lower keeps more of the render."),
            ],
            outputs=[D3Painter.Output(display_name="painter")],
        )

    @classmethod
    def validate_inputs(cls, sampler_name=None, scheduler=None):
        return checked_inputs(cls, sampler_name=sampler_name, scheduler=scheduler)

    @classmethod
    def execute(cls, model, vae, positive, negative, seed, steps, cfg, sampler_name, scheduler,
                denoise) -> io.NodeOutput:
        return io.NodeOutput(ComfyPainter(model, vae, positive, negative, seed, steps, cfg, sampler_name,
                                           scheduler, denoise))


NODES = [LoadMeshFile, FromComfyMesh, WorldPainterNode, CheckpointPainter, PaintViewSequence, PaintGuides,
         PaintTexture]
