"""The pack's own small 3D GAN generators: EG3D's architecture at a size a CPU trains and runs, drawing a family of
world objects (core.world.families), trained by scripts/train_world_generator.py and shipped in weights/.

A latent z is a family member through EG3D's own z normalization (the mapping network sees z / rms(z), so the
member is a function of what the generator sees): u = Phi(z / rms(z))[:P]. The generator's rendering_kwargs name
its family ('world_family'), so a loaded generator knows which objects it was trained to draw.
"""
from __future__ import annotations

import os

import torch

from ..world.families import FAMILIES, Family
from .eg3d import TriplaneGenerator
from .networks import normalize_2nd_moment

#: the shipped generator of the mug family
WEIGHTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "weights",
                       "eg3d", "world_mug_generator.safetensors")
#: our world's camera: distance 1.8 from the origin, objects inside the unit cube
CAMERA_DISTANCE = 1.8


def world_generator(family: str = "mug") -> TriplaneGenerator:
    """A freshly initialized small generator for `family` (EG3D's architecture: 2-layer mapping, w 128, planes
    3 x 32 at 64², 64² neural rendering, a 2X head with a quarter of EG3D's channels to 128²; the cube of side 1.2
    around the origin on the planes; white background; no camera conditioning)."""
    fam = FAMILIES[family]
    rendering = dict(ray_start=CAMERA_DISTANCE - 0.9, ray_end=CAMERA_DISTANCE + 0.9, box_warp=1.2,
                     depth_resolution=32, depth_resolution_importance=32,
                     superresolution_module="distill3d.superresolution.Hybrid2XSmall", sr_antialias=True,
                     superresolution_noise_mode="none", c_gen_conditioning_zero=True, c_scale=1.0, white_back=True,
                     avg_camera_radius=CAMERA_DISTANCE, avg_camera_pivot=[0.0, 0.0, 0.0], world_family=family,
                     decoder_lr_mul=100.0)
    return TriplaneGenerator(z_dim=fam.size, c_dim=25, w_dim=128, img_resolution=128,
                             mapping_kwargs=dict(num_layers=2, lr_multiplier=1.0), rendering_kwargs=rendering,
                             channel_base=4096, channel_max=128, plane_resolution=64,
                             neural_rendering_resolution=64)


def family_of(g: TriplaneGenerator) -> Family | None:
    """The world family a generator was trained on, or None (EG3D's own models)."""
    name = g.rendering_kwargs.get("world_family")
    return FAMILIES.get(name) if name else None


def latent_members(family: Family, z: torch.Tensor) -> torch.Tensor:
    """[N,P] family members (u in 0..1) of latents z [N,z_dim], through EG3D's z normalization."""
    return family.from_latent(normalize_2nd_moment(z.float()))


def default_generator() -> TriplaneGenerator:
    """The shipped mug generator (weights/world_mug_generator.safetensors)."""
    from .eg3d import load_generator
    if not os.path.isfile(WEIGHTS):
        raise FileNotFoundError(f"{WEIGHTS} is missing: train it with scripts/train_world_generator.py")
    return load_generator(WEIGHTS)


__all__ = ["world_generator", "family_of", "latent_members", "default_generator", "WEIGHTS", "CAMERA_DISTANCE"]
