"""Adapters of ComfyUI's own objects (MODEL, VAE, CONDITIONING, CLIP, CLIP vision) to core's interfaces: the
checkpoint priors (prior.py: a NoisePredictor through ComfyUI's sampling), the Checkpoint Painter (painter.py: a
Painter through ComfyUI's sampler) and CLIP scoring (clip.py). The only modules besides the nodes that touch the
host's models."""
