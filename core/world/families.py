"""Families of world objects with continuous variation: a point u in [0,1]^P is one member (its proportions, sizes
and colours). The pack's own 3D GAN is trained on a family (scripts/train_world_generator.py): a latent z maps to
u = Phi(z[:P]) (the normal CDF), so every latent is a member and nearby latents are similar members.

    fam = FAMILIES["mug"]
    obj = fam.object(fam.from_latent(z))       # a WorldObject: render_object / occupancy / true_mesh apply
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Callable

import torch

from .catalogue import WorldObject
from .sdf import Cylinder, Shape, Subtract, Torus, Union


@dataclass(frozen=True)
class Family:
    """P named parameters, each spanning [low, high]; `build` turns their values into an SDF shape."""

    name: str
    description: str
    parameters: tuple[tuple[str, float, float], ...]
    build: Callable[[dict], Shape]

    @property
    def size(self) -> int:
        return len(self.parameters)

    def values(self, u) -> dict:
        """The parameter values of the member u ([P] in 0..1)."""
        u = torch.as_tensor(u, dtype=torch.float32).reshape(-1)
        if u.numel() != self.size:
            raise ValueError(f"the {self.name} family has {self.size} parameters, got {u.numel()} values")
        return {n: lo + (hi - lo) * float(x) for (n, lo, hi), x in zip(self.parameters, u.clamp(0, 1))}

    def object(self, u) -> WorldObject:
        shape = self.build(self.values(u))
        return WorldObject(f"{self.name}-member", [], self.description, lambda: shape)

    def from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """u = Phi(z[..., :P]): a standard normal latent as a member (the rest of z, if any, is not used)."""
        if z.shape[-1] < self.size:
            raise ValueError(f"the {self.name} family needs latents of at least {self.size} values, got "
                             f"{z.shape[-1]}")
        return 0.5 * (1 + torch.erf(z[..., :self.size].float() / 2 ** 0.5))


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(h % 1.0, s, v)


def _mug(p: dict) -> Shape:
    """The catalogue mug's construction and placement (body on the Y axis, 0.08 below the centre; a torus handle
    on +X; a cavity with coffee-coloured inner faces) with its proportions, handle and colours free: the catalogue's
    mug is the member radius 0.26, half height 0.3, wall 0.045, handle 0.13 / 0.035 at 0.25 of the height."""
    r, h, wall = p["radius"], p["half_height"], p["wall"]
    body_colour = _hsv(p["hue"], p["saturation"], p["value"])
    handle_colour = tuple(c + (1 - c) * p["handle_pale"] for c in body_colour)
    inner = _hsv(0.07, 0.65, p["inner_value"])
    major, minor = p["handle_major"], p["handle_minor"]
    y = -0.08
    body = Cylinder(color=body_colour, radius=r, half_height=h, offset=(0, y, 0))
    handle = Torus(color=handle_colour, major=major, minor=minor, rotation=(90, 0, 0),
                   offset=(r + 0.01, y + p["handle_height"] * h, 0))
    cavity = Cylinder(color=inner, radius=r - wall, half_height=h, offset=(0, y + wall + 0.002, 0))
    return Subtract(Union([body, handle]), cavity, cut_color=inner)


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("mug", "mugs of many proportions, handles and colours (the catalogue's mug, varied)",
           (("radius", 0.17, 0.27), ("half_height", 0.15, 0.30), ("wall", 0.035, 0.06),
            ("handle_major", 0.08, 0.13), ("handle_minor", 0.028, 0.045), ("handle_height", -0.15, 0.3),
            ("hue", 0.0, 1.0), ("saturation", 0.2, 0.85), ("value", 0.45, 0.95), ("handle_pale", 0.0, 0.5),
            ("inner_value", 0.2, 0.55)),
           _mug),
]}


__all__ = ["Family", "FAMILIES"]
