"""GeoDream nodes: the Cost Volume Builder (views + cameras -> a 3D geometry prior) and the cost-volume NeuS that
score distillation refines."""
from __future__ import annotations

import logging
import os

import folder_paths
import torch
from comfy_api.latest import io

from .fields import _build, _common_inputs
from .types import CATEGORY, D3Cameras, D3Field, D3Mesh, checked_inputs, device, fixed_cameras

log = logging.getLogger("Distill3D")
D3CostVolume = io.Custom("D3_COST_VOLUME")  # core.costvolume.CostVolume

MODEL_FOLDER = "cost_volume"  # ComfyUI/models/cost_volume: weights trained with scripts/train_cost_volume.py
folder_paths.folder_names_and_paths.setdefault(
    MODEL_FOLDER, ([os.path.join(folder_paths.models_dir, MODEL_FOLDER)], {".safetensors"}))
SHIPPED = "distill3d (shipped)"

_NETS: dict = {}  # path -> (mtime, net): the weights load once


def _net(weights: str):
    from ..core.costvolume import CostVolumeNet, default_weights
    path = default_weights() if weights == SHIPPED else folder_paths.get_full_path_or_raise(MODEL_FOLDER, weights)
    mtime = os.path.getmtime(path) if os.path.exists(path) else None
    if path not in _NETS or _NETS[path][0] != mtime:
        with torch.inference_mode(False):
            _NETS[path] = (mtime, CostVolumeNet.from_file(path))
    return _NETS[path][1]


class CostVolumeBuilderNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DCostVolumeBuilder",
            display_name="Cost Volume Builder",
            category=f"{CATEGORY}/geodream",
            description="GeoDream's geometry prior from posed views (the Multi-View Sampler's, Render World Views', "
                        "or Load Views'): each voxel is projected into every view and the views' features there "
                        "are aggregated by mean and variance (any number of views; a disagreeing view raises the "
                        "variance), then a 3D CNN regresses the volume. Learned (the pack's weights, trained on "
                        "procedural objects) or classical (silhouette carving + colour photo-consistency).",
            inputs=[
                io.Image.Input("images", tooltip="The views, one per camera, square."),
                D3Cameras.Input("cameras", tooltip="One camera per view, in the views' order."),
                io.Combo.Input("method", options=["learned", "classical"], default="learned",
                               tooltip="learned: feature net + 3D CNN + geometry decoder. classical: no learned "
                                       "parts (visual hull of the masks, then colour-variance carving)."),
                io.Int.Input("grid_size", default=32, min=16, max=128, step=8,
                             tooltip="Voxels per side of the volume (the weights were trained at 32)."),
                io.Combo.Input("weights", options=[SHIPPED, *folder_paths.get_filename_list(MODEL_FOLDER)],
                               default=SHIPPED,
                               tooltip="The learned net: the pack's own, or yours in models/cost_volume."),
                io.Boolean.Input("drop_disagreeing", default=True,
                                 tooltip="Leave out a view whose silhouette the others contradict (a sampler's "
                                         "view of another object, a wrong pose): found by silhouette "
                                         "consistency, named in the log. Never leaves fewer than 3 views."),
                io.Mask.Input("mask", optional=True,
                              tooltip="The object's mask per view (1 on the object). Without one it is read off "
                                      "each view's uniform background."),
            ],
            outputs=[D3CostVolume.Output(display_name="cost_volume"), D3Mesh.Output(display_name="mesh")],
        )

    @classmethod
    def validate_inputs(cls, method=None, weights=None):
        return checked_inputs(cls, method=method, weights=weights)

    @classmethod
    def execute(cls, images, cameras, method, grid_size, weights, drop_disagreeing=True, mask=None) -> io.NodeOutput:
        from ..core.costvolume import build_cost_volume, volume_mesh
        cams = fixed_cameras(cameras, "Cost Volume Builder")
        net = _net(weights) if method == "learned" else None
        with torch.inference_mode(False):
            vol = build_cost_volume(images, cams, mask, grid_size, method, net=net, device=device(),
                                    drop_disagreeing=drop_disagreeing)
            mesh = volume_mesh(vol, max(64, grid_size))
        if vol.dropped:
            log.warning("Distill3D Cost Volume Builder: view(s) %s (counting from 1) left out: their silhouettes "
                        "disagree with the other views'", ", ".join(str(i + 1) for i in vol.dropped))
        for finding in vol.findings:
            log.warning("Distill3D Cost Volume Builder: %s", finding)
        return io.NodeOutput(vol, mesh)


class CreateCostVolumeNeuSNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DCreateCostVolumeNeuS",
            display_name="Create Cost-Volume NeuS",
            category=f"{CATEGORY}/geodream",
            description="GeoDream's priors refinement field: a NeuS whose SDF is the cost volume's frozen decoder "
                        "on the volume V (optimized with its own learning rate and decay) plus a residual SDF grid "
                        "that starts at zero, and a new texture, so SDS / VSD / multi-view SDS refine the prior "
                        "instead of starting from a sphere.",
            inputs=[
                D3CostVolume.Input("cost_volume"),
                io.Float.Input("volume_lr", default=0.1, min=0.0, max=10.0, step=0.01,
                               tooltip="V's learning rate as a multiple of Optimize Field's (0 freezes the "
                                       "geometry prior)."),
                io.Float.Input("volume_decay", default=0.1, min=0.001, max=1.0, step=0.01,
                               tooltip="V's learning rate at the end of the run as a share of its start "
                                       "(GeoDream decays it)."),
                *_common_inputs(bound=False),
                io.Float.Input("residual_lr", default=0.05, min=0.0, max=1.0, step=0.01, optional=True,
                               tooltip="The residual SDF grid's learning rate as a multiple of Optimize Field's: "
                                       "how far the refinement may move the surface from the prior (about this "
                                       "times the rate per step). 0 = V alone, GeoDream's refinement, which the "
                                       "frozen decoder makes nearly inert."),
            ],
            outputs=[D3Field.Output(display_name="field")],
        )

    @classmethod
    def validate_inputs(cls, encoding=None, background=None):
        return checked_inputs(cls, encoding=encoding, background=background)

    @classmethod
    def execute(cls, cost_volume, volume_lr, volume_decay, encoding, background, seed,
                residual_lr=0.05) -> io.NodeOutput:
        return io.NodeOutput(_build("costvolume-neus", encoding, background, cost_volume.bound, seed,
                                    cost_volume=cost_volume, volume_lr=volume_lr, volume_decay=volume_decay,
                                    residual_lr=residual_lr))


NODES = [CostVolumeBuilderNode, CreateCostVolumeNeuSNode]
