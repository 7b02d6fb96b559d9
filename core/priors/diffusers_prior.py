"""A diffusers pipeline folder as a noise predictor: Stable Diffusion (latent) or DeepFloyd IF stage I (pixels, 64²).

The folder is the one `save_pretrained` writes (model_index.json, unet/, scheduler/, text_encoder/, tokenizer/,
vae/ for latent models), e.g. ComfyUI's models/diffusers/<name>. Nothing is downloaded: a missing part is an error
that names the file. Text embeddings are computed once per prompt and cached (view-dependent prompts included).
"""
from __future__ import annotations

import json
import os

import torch

from ..deps import require
from . import NoisePredictor, v_to_eps

PIPELINES = {  # pipeline class -> (parts it needs, space)
    "StableDiffusionPipeline": (("unet", "scheduler", "text_encoder", "tokenizer", "vae"), "latent"),
    "IFPipeline": (("unet", "scheduler", "text_encoder", "tokenizer"), "pixel"),
}
_CONFIG = {"scheduler": "scheduler_config.json", "tokenizer": "tokenizer_config.json"}
_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin", "model.safetensors",
            "pytorch_model.bin", "diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json",
            "pytorch_model.bin.index.json")


class DiffusersFolderError(ValueError):
    """A diffusers folder this prior cannot use; the message names what is missing or unsupported."""


def inspect_folder(folder: str) -> str:
    """The pipeline class of a diffusers folder, after checking every file the prior will read."""
    index = os.path.join(folder, "model_index.json")
    if not os.path.isfile(index):
        raise DiffusersFolderError(f"{folder} is not a diffusers pipeline folder: {index} is missing")
    with open(index) as f:
        kind = json.load(f).get("_class_name", "?")
    if kind not in PIPELINES:
        raise DiffusersFolderError(f"{folder} holds a {kind}; supported: {', '.join(PIPELINES)}")
    for part in PIPELINES[kind][0]:
        cfg = os.path.join(folder, part, _CONFIG.get(part, "config.json"))
        if not os.path.isfile(cfg):
            raise DiffusersFolderError(f"the {kind} in {folder} is missing {os.path.relpath(cfg, folder)}")
        if part not in ("scheduler", "tokenizer") and not any(
                os.path.isfile(os.path.join(folder, part, w)) for w in _WEIGHTS):
            raise DiffusersFolderError(f"the {kind} in {folder} is missing the weights of '{part}' "
                                       f"({part}/{_WEIGHTS[0]} or {part}/{_WEIGHTS[2]})")
    return kind


class DiffusersModules(NoisePredictor):
    """What every prior made of diffusers modules shares: `unet`, `vae` (None in pixel space), `dtype` and
    `resolution` set by the subclass; renders <-> x0 space through the VAE; the U-Net for a LoRA estimator."""

    vae = None

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1:3] != (self.resolution, self.resolution):
            raise ValueError(f"this prior takes {self.resolution}² renders, got {tuple(images.shape[1:3])}")
        x = images.permute(0, 3, 1, 2).to(self.dtype) * 2 - 1
        if self.vae is None:
            return x
        return self.vae.encode(x).latent_dist.mean * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        if self.vae is not None:
            x0 = self.vae.decode(x0.to(self.dtype) / self.vae.config.scaling_factor).sample
        return ((x0.float().permute(0, 2, 3, 1) + 1) / 2).clamp(0, 1)

    def adaptable_network(self):
        return self.unet, self.unet.time_embedding


class DiffusersPrior(DiffusersModules):
    """Stable Diffusion (epsilon or v) or IF stage I from a diffusers folder."""

    def __init__(self, folder: str, resolution: int | None = None, device="cpu", dtype=torch.float32):
        diffusers = require("diffusers", "The Diffusers Prior")
        transformers = require("transformers", "The Diffusers Prior")

        self.kind = inspect_folder(folder)
        self.space = PIPELINES[self.kind][1]
        self.device = torch.device(device)
        kw = dict(local_files_only=True, torch_dtype=dtype)
        with open(os.path.join(folder, "model_index.json")) as f:
            index = json.load(f)
        # built outside inference mode: a ComfyUI prompt runs under it, and the VAE encoder needs gradients
        with torch.inference_mode(False):
            self.unet = diffusers.UNet2DConditionModel.from_pretrained(folder, subfolder="unet", **kw)
            self.unet.to(self.device).eval().requires_grad_(False)
            encoder_cls = getattr(transformers, index["text_encoder"][1])
            self.text_encoder = encoder_cls.from_pretrained(folder, subfolder="text_encoder", local_files_only=True,
                                                            dtype=dtype)
            self.text_encoder.to(self.device).eval().requires_grad_(False)
            self.vae = None
            if self.space == "latent":
                self.vae = diffusers.AutoencoderKL.from_pretrained(folder, subfolder="vae", **kw)
                self.vae.to(self.device).eval().requires_grad_(False)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, subfolder="tokenizer",
                                                                     local_files_only=True)
        sched = diffusers.DDPMScheduler.from_pretrained(folder, subfolder="scheduler", local_files_only=True)
        self.alphas_cumprod = sched.alphas_cumprod.float().clone()
        self.num_timesteps = self.alphas_cumprod.shape[0]
        self.prediction = sched.config.get("prediction_type", "epsilon")
        if self.prediction not in ("epsilon", "v_prediction"):
            raise DiffusersFolderError(f"prediction type '{self.prediction}' is not supported (epsilon, v_prediction)")
        factor = 8 if self.space == "latent" else 1
        self.resolution = resolution or int(self.unet.config.sample_size) * factor
        if self.resolution % factor:
            raise ValueError(f"the render size must be a multiple of {factor} for this model, got {self.resolution}")
        self.dtype = dtype
        self._embeds: dict[str, torch.Tensor] = {}

    # ---- text ---------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, text: str) -> torch.Tensor:
        if text not in self._embeds:
            length = min(int(self.tokenizer.model_max_length or 77), 512)
            if self.kind == "IFPipeline":
                length = 77  # IF's pipeline encodes T5 prompts at 77 tokens
            tok = self.tokenizer(text, padding="max_length", max_length=length, truncation=True,
                                 return_tensors="pt")
            mask = tok.attention_mask.to(self.device) if self.kind == "IFPipeline" else None
            with torch.inference_mode(False):
                self._embeds[text] = self.text_encoder(tok.input_ids.to(self.device), attention_mask=mask)[0]
        return self._embeds[text]

    def condition(self, prompt: str, negative: str = ""):
        return self.embed(prompt), self.embed(negative)

    # ---- the model ----------------------------------------------------------------------------------------------
    def predict_eps(self, x_t, t, cond, cameras=None):
        """Gradients flow only when enabled by the caller (a LoRA estimator's training)."""
        ctx = cond.expand(x_t.shape[0], *cond.shape[1:])
        out = self.unet(x_t.to(self.dtype), t, encoder_hidden_states=ctx).sample.float()
        if out.shape[1] == 2 * x_t.shape[1]:  # IF predicts epsilon and a variance: keep epsilon
            out = out[:, : x_t.shape[1]]
        if self.prediction == "v_prediction":
            out = v_to_eps(x_t, out, t, self.alphas_cumprod)
        return out
