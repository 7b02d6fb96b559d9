"""Camera set nodes (the pack's convention: +Y up, azimuth 0 looks at the object's front; see core.cameras)."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..core.cameras import CameraDistribution, Cameras, orbit
from .types import CATEGORY, D3Cameras, fixed_cameras, input_errors


def _deg(name, default, lo, hi, tip):
    return io.Float.Input(name, default=default, min=lo, max=hi, step=0.5, tooltip=tip)


class OrbitCameras(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DOrbitCameras",
            display_name="Orbit Cameras",
            category=f"{CATEGORY}/cameras",
            description="N cameras evenly spaced in azimuth at one elevation, looking at the object.",
            inputs=[
                io.Int.Input("views", default=8, min=1, max=256, tooltip="Number of cameras."),
                _deg("elevation", 15.0, -89.0, 89.0, "Degrees above the horizontal plane."),
                _deg("azimuth_start", 0.0, -360.0, 360.0, "Azimuth of the first camera; 0 = the object's front."),
                io.Float.Input("distance", default=1.8, min=0.3, max=20.0, step=0.05,
                               tooltip="Distance from the object's center, meters (objects fit a 1 m cube)."),
                _deg("fov", 40.0, 5.0, 150.0, "Vertical field of view, degrees."),
            ],
            outputs=[D3Cameras.Output(display_name="cameras")],
        )

    @classmethod
    def execute(cls, views, elevation, azimuth_start, distance, fov) -> io.NodeOutput:
        return io.NodeOutput(orbit(views, elevation, distance, fov, azimuth_start))


def _distribution_inputs(elevation=(-10.0, 90.0), distance=(1.5, 2.0), fov=(40.0, 70.0)):
    """The inputs of DreamFusion's camera distribution (defaults per METHODS.md), shared by two nodes."""
    return [
        _deg("elevation_min", elevation[0], -89.0, 89.0, "Lowest elevation, degrees."),
        _deg("elevation_max", elevation[1], -89.0, 90.0, "Highest elevation, degrees."),
        _deg("azimuth_min", -180.0, -360.0, 360.0, "Azimuth range start; 0 = the object's front."),
        _deg("azimuth_max", 180.0, -360.0, 360.0, "Azimuth range end."),
        io.Float.Input("distance_min", default=distance[0], min=0.3, max=20.0, step=0.05),
        io.Float.Input("distance_max", default=distance[1], min=0.3, max=20.0, step=0.05),
        _deg("fov_min", fov[0], 5.0, 150.0, "Smallest vertical field of view, degrees."),
        _deg("fov_max", fov[1], 5.0, 150.0, "Largest vertical field of view, degrees."),
    ]


def _validate_distribution(node_cls, elevation_min=None, elevation_max=None, azimuth_min=None, azimuth_max=None,
                           distance_min=None, distance_max=None, fov_min=None, fov_max=None):
    """validate_inputs of both distribution nodes (ComfyUI reads the input names from this signature)."""
    return _distribution_errors(node_cls, elevation_min=elevation_min, elevation_max=elevation_max,
                                azimuth_min=azimuth_min, azimuth_max=azimuth_max, distance_min=distance_min,
                                distance_max=distance_max, fov_min=fov_min, fov_max=fov_max)


def _distribution_errors(node_cls, **ranges):
    err = input_errors(node_cls, **ranges)
    if err:
        return err
    for name in ("elevation", "azimuth", "distance", "fov"):
        lo, hi = ranges[f"{name}_min"], ranges[f"{name}_max"]
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo > hi:
            return f"{name}_min ({lo}) must not exceed {name}_max ({hi})"
    return True


def _distribution(elevation_min, elevation_max, azimuth_min, azimuth_max, distance_min, distance_max, fov_min,
                  fov_max, uniform_sphere=False, views_per_group=1) -> CameraDistribution:
    return CameraDistribution((elevation_min, elevation_max), (azimuth_min, azimuth_max),
                              (distance_min, distance_max), (fov_min, fov_max), uniform_sphere, views_per_group)


class RandomCameras(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DRandomCameras",
            display_name="Random Cameras",
            category=f"{CATEGORY}/cameras",
            description="A fixed set of cameras drawn from DreamFusion's camera distribution with a seed.",
            inputs=[
                io.Int.Input("views", default=8, min=1, max=1024),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
                *_distribution_inputs(),
            ],
            outputs=[D3Cameras.Output(display_name="cameras")],
        )

    validate_inputs = classmethod(_validate_distribution)

    @classmethod
    def execute(cls, views, seed, **ranges) -> io.NodeOutput:
        return io.NodeOutput(_distribution(**ranges).sample(views, torch.Generator().manual_seed(seed)))


class CameraDistributionNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DCameraDistribution",
            display_name="DreamFusion Camera Distribution",
            category=f"{CATEGORY}/cameras",
            description="Random cameras around the object, drawn anew at every step of a score-distillation "
                        "loss (DreamFusion). Priors made at one distance and field of view (the World Prior) "
                        "keep only the directions.",
            inputs=[*_distribution_inputs(),
                    io.Boolean.Input("uniform_sphere", default=False,
                                     tooltip="Sample elevation uniformly on the sphere (fewer overhead views) "
                                             "instead of uniformly in angle.")],
            outputs=[D3Cameras.Output(display_name="cameras")],
        )

    validate_inputs = classmethod(_validate_distribution)

    @classmethod
    def execute(cls, uniform_sphere, **ranges) -> io.NodeOutput:
        return io.NodeOutput(_distribution(**ranges, uniform_sphere=uniform_sphere))


class MultiViewCameraDistributionNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DMultiViewCameraDistribution",
            display_name="Multi-View Camera Distribution",
            category=f"{CATEGORY}/cameras",
            description="MVDream's camera groups, drawn anew at every step of a multi-view SDS loss: each group of "
                        "views shares one random elevation, distance and field of view, with azimuths "
                        "r + i·360/views from one random r (the azimuth range bounds r).",
            inputs=[io.Int.Input("views", default=4, min=1, max=8,
                                 tooltip="Views per group; MVDream's models are trained on 4."),
                    *_distribution_inputs(elevation=(0.0, 30.0), fov=(40.0, 60.0))],
            outputs=[D3Cameras.Output(display_name="cameras")],
        )

    validate_inputs = classmethod(_validate_distribution)

    @classmethod
    def execute(cls, views, **ranges) -> io.NodeOutput:
        return io.NodeOutput(_distribution(**ranges, views_per_group=views))


class CombineCameras(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Distill3DCombineCameras",
            display_name="Combine Cameras",
            category=f"{CATEGORY}/cameras",
            description="One camera set made of several, in order (e.g. orbits at three elevations).",
            inputs=[D3Cameras.Input("cameras_1"), D3Cameras.Input("cameras_2"),
                    D3Cameras.Input("cameras_3", optional=True), D3Cameras.Input("cameras_4", optional=True)],
            outputs=[D3Cameras.Output(display_name="cameras")],
        )

    @classmethod
    def execute(cls, cameras_1, cameras_2, cameras_3=None, cameras_4=None) -> io.NodeOutput:
        parts = [fixed_cameras(c, "Combine Cameras").to("cpu")
                 for c in (cameras_1, cameras_2, cameras_3, cameras_4) if c is not None]
        return io.NodeOutput(Cameras.cat(parts))


NODES = [OrbitCameras, RandomCameras, CameraDistributionNode, MultiViewCameraDistributionNode, CombineCameras]
