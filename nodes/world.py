"""Nodes of the primitive world: pick an object, render exact views, get its true mesh."""
from __future__ import annotations

from comfy_api.latest import io

from ..core.world import UnknownObjectError, find_in_prompt, get_object, object_names, render_object, \
    true_mesh
from ..core.render import SHADINGS
from ..core.world.render import depth_image
from .types import BACKGROUND_COLORS, CATEGORY, D3Cameras, D3Mesh, D3WorldObject, checked_inputs, device, \
    fixed_cameras, image_batch, input_errors


def _resolve(object_name: str, prompt: str):
    return find_in_prompt(prompt) if prompt and prompt.strip() else get_object(object_name)


class WorldObjectNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DWorldObject",
            display_name="World Object",
            category=f"{CATEGORY}/world",
            description="An object of the primitive world, the pack's built-in ground truth: exact renders, "
                        "occupancy and mesh.",
            inputs=[
                io.Combo.Input("object", options=object_names(), default="snowman",
                               tooltip="The world object, by name."),
                io.String.Input("prompt", default="", multiline=False,
                                tooltip="Optional: a prompt that names an object ('a photo of a rubber duck'). "
                                        "When set, it picks the object instead of the list."),
            ],
            outputs=[
                D3WorldObject.Output(display_name="object"),
                io.String.Output(display_name="name"),
            ],
        )

    @classmethod
    def validate_inputs(cls, object=None, prompt=None):
        err = input_errors(cls, object=object, prompt=prompt)
        if err or prompt is None or (object is None and not prompt.strip()):
            return err or True  # a linked input is checked when the node runs
        try:
            _resolve(object, prompt)
        except UnknownObjectError as e:
            return str(e)
        return True

    @classmethod
    def execute(cls, object, prompt) -> io.NodeOutput:
        obj = _resolve(object, prompt)
        return io.NodeOutput(obj, obj.name)




class RenderWorldViews(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DRenderWorldViews",
            display_name="Render World Views",
            category=f"{CATEGORY}/world",
            description="Exact renders of a world object by sphere tracing, one per camera.",
            inputs=[
                D3WorldObject.Input("object"),
                D3Cameras.Input("cameras"),
                io.Int.Input("resolution", default=128, min=16, max=2048, step=8,
                             tooltip="Width and height of each view in pixels."),
                io.Combo.Input("shading", options=list(SHADINGS), default="lambertian",
                               tooltip="lambertian: albedo lit by a light above-left of the camera; albedo: flat "
                                       "color; textureless: white surface, lit (shows the geometry)."),
                io.Combo.Input("background", options=list(BACKGROUND_COLORS), default="white"),
                io.Int.Input("supersample", default=2, min=1, max=4,
                             tooltip="Samples per pixel along each axis: antialiased edges and soft mask borders."),
            ],
            outputs=[
                io.Image.Output(display_name="image"),
                io.Mask.Output(display_name="mask"),
                io.Image.Output(display_name="depth", tooltip="Per view, near is bright: the nearest surface is 1, "
                                "the farthest 0.2, linear in depth in between; 0 where empty (like MiDaS/ControlNet "
                                "depth maps; the reference-depth loss is scale-invariant)."),
                io.Image.Output(display_name="normal", tooltip="Camera-space normals mapped to 0..1 "
                                "(+X right, +Y up, +Z towards the viewer); 0 where empty."),
                D3Cameras.Output(display_name="cameras"),
            ],
        )

    @classmethod
    def validate_inputs(cls, shading=None, background=None):
        return checked_inputs(cls, shading=shading, background=background)

    @classmethod
    def execute(cls, object, cameras, resolution, shading, background, supersample) -> io.NodeOutput:
        dev = device()
        cams = fixed_cameras(cameras, "Render World Views").to(dev)
        rec = render_object(object, cams, resolution, shading=shading, background=BACKGROUND_COLORS[background],
                            supersample=supersample)
        depth = depth_image(rec.depth, rec.alpha)
        normal = (rec.camera_normals(cams) * 0.5 + 0.5) * (rec.alpha[..., None] > 0)
        return io.NodeOutput(image_batch(rec.rgb), rec.alpha.detach().float().cpu(), image_batch(depth[..., None]),
                             image_batch(normal), cameras)


class WorldTrueMesh(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DWorldTrueMesh",
            display_name="World True Mesh",
            category=f"{CATEGORY}/world",
            description="The object's exact surface: marching cubes of its signed distance, with vertex colors.",
            inputs=[
                D3WorldObject.Input("object"),
                io.Int.Input("resolution", default=128, min=16, max=512, step=8,
                             tooltip="Marching-cubes grid resolution over the unit cube."),
            ],
            outputs=[D3Mesh.Output(display_name="mesh")],
        )

    @classmethod
    def execute(cls, object, resolution) -> io.NodeOutput:
        return io.NodeOutput(true_mesh(object, resolution))


NODES = [WorldObjectNode, RenderWorldViews, WorldTrueMesh]
