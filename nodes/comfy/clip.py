"""CLIP scoring of the avatar's candidates with ComfyUI's own CLIP vision and CLIP text models (the scores are
core.gan.avatar.clip_scores)."""
from __future__ import annotations

import torch


def clip_scorer(clip_vision, clip, text: str):
    """A candidate scorer from ComfyUI's CLIP vision and CLIP text models (core.gan.avatar.clip_scores), or None
    when they are not connected; a clear error for half of them."""
    given = [clip_vision is not None, clip is not None, bool(text.strip())]
    if not any(given):
        return None
    if not all(given):
        raise ValueError("CLIP scoring needs all three: clip_vision, clip and clip_text (or none of them, to score "
                         "by the prior)")
    from ...core.gan.avatar import candidate_renders, clip_scores
    _, pooled = clip.encode_from_tokens(clip.tokenize(text.strip()), return_pooled=True)

    def embed(views):  # ComfyUI's models run in inference mode; their output is copied out of it
        with torch.inference_mode():
            out = clip_vision.encode_image(views)["image_embeds"]
        return out.float().cpu().clone()

    def score(generator, z):
        renders = candidate_renders(generator, z, 128, n_samples=32)  # CLIP resizes to its 224² itself
        with torch.no_grad():
            return clip_scores(embed, pooled[0].float().cpu().clone(), renders)
    return score
