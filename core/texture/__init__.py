"""Explicit texturing of a fixed mesh: the progressive painter (DiffusionGAN3D's second stage, the loop of TEXTure
and Text2Tex) — views painted one after another by an image model, folded into one UV texture by an adaptive blend,
then the texture optimized against every painted view.

    painted = paint_mesh(mesh, WorldPainter(obj), texture_size=512)  # core.texture.paint / core.texture.painters
"""
from .paint import (PaintConfig, Painter, PaintRequest, PaintResult, adaptive_blend_weights, coverage_sequence,
                    paint_mesh, placement, seam_error, texel_surface, texel_visibility, view_guides, view_sequence)
from .painters import WorldPainter

__all__ = ["PaintConfig", "Painter", "PaintRequest", "PaintResult", "WorldPainter", "adaptive_blend_weights",
           "coverage_sequence", "paint_mesh", "placement", "seam_error", "texel_surface", "texel_visibility",
           "view_guides", "view_sequence"]
