"""The adapter that makes a ComfyUI MODEL (+ VAE + CONDITIONING) a core NoisePredictor.

Host glue, not algorithm: every denoising call goes through ComfyUI's own CFGGuider preparation (model loading and
offloading, condition processing, ControlNets, hooks, model_options wrappers), so LoRAs and patches already applied
to the MODEL take effect, and through the model's own model_sampling: what its output denotes (epsilon, v, flow
velocity, EDM's preconditioning: calculate_denoised) and how it noises (noise_scaling, measured into a
core.priors.paths.NoisePath over its own, shifted, sigma table). The losses then work on that path's VP timeline.
"""
from __future__ import annotations

import torch

import comfy.model_base
import comfy.model_sampling
import comfy.samplers
import comfy.utils

from ...core.cameras import to_zero123, zero123_camera_terms
from ...core.priors import NoisePredictor
from ...core.priors.paths import path_of

SUPPORTED = ("image models ComfyUI samples with a sigma schedule: Stable Diffusion 1.x / 2.x (epsilon or "
             "v-prediction), SDXL (also EDM / v-prediction variants), Stable Diffusion 3 / 3.5, Flux.1 (dev, "
             "schnell) and the other flow-matching image models with 2-D latents")


#: ComfyUI's denoisers that a LoRA (VSD's estimator, BSD's boost) can adapt, by their time-embedding module, with
#: the attention projections it adapts: the U-Nets (SD, SDXL) and SD3's MMDiT. Not Flux: ComfyUI's Flux blocks add
#: their residuals in place (img += ...), so no gradient can pass back through them to an adapter.
TIME_EMBEDDINGS = (("time_embed", ("to_q", "to_k", "to_v", "to_out.0")),
                   ("t_embedder", ("attn.qkv", "attn.proj")))


class UnsupportedModelError(ValueError):
    """A MODEL whose kind the score-distillation prior cannot drive."""


def check_model(model) -> None:
    """Refuse cascade, video, audio and 3D-latent models, and samplings that do not denoise from a noise level
    (LCM's boundary step, image-to-image models), with a message naming what works."""
    base = model.model
    kind = getattr(base, "model_type", None)
    ms = model.get_model_object("model_sampling")
    fmt = base.latent_format
    problems = []
    kind_name = getattr(kind, "name", str(kind))
    if kind_name in ("STABLE_CASCADE", "IMG_TO_IMG"):
        what = "a cascade" if kind_name == "STABLE_CASCADE" else "an image-to-image"
        problems.append(f"its prediction type is {kind_name} ({what} model, not a denoiser of one latent image)")
    if not isinstance(getattr(ms, "sigmas", None), torch.Tensor) or not hasattr(ms, "noise_scaling"):
        problems.append(f"its sampling {type(ms).__name__} has no sigma table to draw noise levels from")
    elif _is_lcm(ms):  # e.g. Model Sampling Discrete set to lcm
        problems.append("its model sampling is LCM's (a consistency model's boundary step, not a denoiser)")
    dims, channels = getattr(fmt, "latent_dimensions", 2), getattr(fmt, "latent_channels", 4)
    if dims != 2:
        what = {1: "audio or 3D-shape", 3: "video"}.get(dims, f"{dims}-D")
        problems.append(f"its latents are {dims}-D with {channels} channels (a {what} latent space)")
    if problems:
        raise UnsupportedModelError(f"this MODEL ({type(base).__name__}) cannot drive score distillation: "
                                    f"{'; '.join(problems)}. Supported: {SUPPORTED}.")


def _is_lcm(ms) -> bool:
    """Whether a Model Sampling node set the model's sampling to LCM's (its classes say so)."""
    return any(c.__name__ == "LCM" for c in type(ms).__mro__)


def guidance_input(model) -> bool:
    """Whether the model takes a distilled guidance value (Flux-dev's guidance_in; schnell and others do not)."""
    net = getattr(model.model, "diffusion_model", None)
    params = getattr(net, "params", None)
    if hasattr(params, "guidance_embed"):
        return bool(params.guidance_embed)
    embed = getattr(net, "guidance_in", None)  # schnell's is an Identity
    return embed is not None and not isinstance(embed, torch.nn.Identity)


def with_guidance(conditioning, value: float):
    """CONDITIONING with ComfyUI's FluxGuidance value set on every entry (a copy; the input is left as it was)."""
    return [[c[0], {**c[1], "guidance": float(value)}] for c in conditioning]


class _OneEvaluation(comfy.samplers.Sampler):
    """A 'sampler' that evaluates the prepared model once at given sigmas and keeps the denoised result."""

    def __init__(self, sigma: torch.Tensor):
        self.sigma, self.denoised = sigma, None

    def sample(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None,
               disable_pbar=False):
        self.denoised = comfy.samplers.calc_cond_batch(model_wrap.inner_model, [model_wrap.conds["positive"]], noise,
                                                       self.sigma.to(noise.device), extra_args["model_options"])[0]
        return noise


class ComfyModelPredictor(NoisePredictor):
    """A ComfyUI MODEL as a latent-space noise predictor; the VAE gives the differentiable encoder. With a CLIP it
    takes text (so view-dependent prompt suffixes can be encoded per view), else fixed CONDITIONING."""

    space = "latent"

    def __init__(self, model, vae, resolution: int = 512, clip=None, guidance: float = 0.0):
        check_model(model)
        self.clip = clip
        self.text_prompts = clip is not None
        self.model, self.vae, self.resolution = model, vae, resolution
        self.latent_format = model.model.latent_format
        _check_vae(model, vae)
        _check_resolution(model, vae, resolution)
        if guidance and not guidance_input(model):
            raise ValueError(f"a distilled guidance of {guidance:g} was set, but this MODEL "
                             f"({type(model.model).__name__}) has no guidance input (only guidance-distilled models "
                             f"such as Flux.1-dev take one; Flux.1-schnell, SD3 and SD do not): set it to 0")
        self.guidance = float(guidance)
        ms = model.get_model_object("model_sampling")
        with torch.inference_mode(False):
            self.path = path_of(ms.sigmas.float().cpu(), ms.noise_scaling)
        self.alphas_cumprod = self.path.alphas_cumprod.clone()
        self.num_timesteps = self.alphas_cumprod.shape[0]
        self._encoder = None

    # ---- the differentiable VAE encoder ------------------------------------------------------------------------
    def _trainable_encoder(self, device):
        """A copy of the VAE's encoder made of normal tensors: the prompt's inference-mode tensors cannot be saved
        for backward (see HOST.md); gradients flow to the renders, never into the VAE."""
        if self._encoder is None or self._encoder[2] != device:
            first = self.vae.first_stage_model
            quant = getattr(first, "quant_conv", None)  # SD's VAE has one; SD3's and Flux's do not
            quant = torch.nn.Identity() if quant is None else quant
            with torch.inference_mode(False):
                parts = torch.nn.ModuleDict({"encoder": first.encoder, "quant_conv": quant})
                clone = _plain_copy(parts).to(device)
            self._encoder = (clone["encoder"], clone["quant_conv"], device)
        return self._encoder

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1:3] != (self.resolution, self.resolution):
            raise ValueError(f"this prior takes {self.resolution}² renders, got {tuple(images.shape[1:3])}")
        encoder, quant_conv, _ = self._trainable_encoder(images.device)
        moments = quant_conv(encoder(images.permute(0, 3, 1, 2) * 2 - 1))
        mean = moments[:, : moments.shape[1] // 2]  # the posterior mean, as ComfyUI's VAE encode returns
        return self.latent_format.process_in(mean)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(self.latent_format.process_out(x0.float())).float().clamp(0, 1).to(x0.device)

    # ---- the model -----------------------------------------------------------------------------------------------
    def condition(self, prompt, negative=""):
        """Encode text with the CLIP as ComfyUI's CLIP Text Encode does (hooks and schedules included)."""
        if self.clip is None:
            raise ValueError("this MODEL prior was given CONDITIONING, not a CLIP: it cannot encode text")
        encode = lambda text: self.conditioned(  # noqa: E731
            self.clip.encode_from_tokens_scheduled(self.clip.tokenize(text)))
        return encode(prompt), encode(negative)

    def conditioned(self, conditioning):
        """CONDITIONING with the distilled guidance set, if one was given (else the model's own default: Flux-dev
        3.5, or what a FluxGuidance node upstream set)."""
        return with_guidance(conditioning, self.guidance) if self.guidance else conditioning

    def adaptable_network(self):
        net = self.model.model.diffusion_model
        for time_embedding, projections in TIME_EMBEDDINGS:
            if hasattr(net, time_embedding):
                return net, getattr(net, time_embedding), projections
        return None

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, conditioning) -> torch.Tensor:
        """ComfyUI's denoised x0 for sigma-space inputs x, one sigma per sample, through CFGGuider's preparation."""
        guider = comfy.samplers.CFGGuider(self.model)
        guider.inner_set_conds({"positive": conditioning})
        one = _OneEvaluation(sigma)
        sigmas = torch.stack([sigma.max(), torch.zeros((), device=sigma.device)]).cpu()
        guider.sample(x, torch.zeros_like(x), one, sigmas, disable_pbar=True, seed=0)
        return one.denoised.to(x.device, x.dtype)

    def predict_eps(self, x_t, t, cond, cameras=None):
        """The VP x_t as the model's own noisy input at its sigma, denoised by ComfyUI, as epsilon. Gradients flow
        only when enabled by the caller (a LoRA estimator's training)."""
        x = self.path.to_native(x_t, t)
        return self.path.eps_from_x0(x, self.denoise(x, self.path.sigma_at(t).to(x), cond), t)


NULL = "null"  # Zero123's unconditional: zeros for the image embedding, the camera terms and the reference latent


class Zero123Predictor(ComfyModelPredictor):
    """Stable Zero123 / Zero-1-to-3 (Image Only Checkpoint Loader's MODEL, CLIP_VISION, VAE) as a view-conditioned
    prior. Every rendered view is conditioned exactly as ComfyUI's StableZero123_Conditioning would condition it for
    that view's (elevation, azimuth) relative to the reference (core.cameras.to_zero123): the reference's CLIP image
    embedding with the camera terms appended (the model's cc_projection maps 772 -> 768), the reference's VAE latent
    concatenated to the input. The embedding and the latent are computed once."""

    text_prompts = False
    any_background = False  # it judges renders over its reference's background (white)

    def __init__(self, model, clip_vision, vae, reference, resolution: int = 256):
        base = model.model
        net = getattr(base, "diffusion_model", None)
        in_ch = getattr(net, "in_channels", None)
        if not isinstance(base, comfy.model_base.Stable_Zero123) or in_ch != 8:
            raise UnsupportedModelError(
                f"this MODEL is not a Zero123 model: it is {type(base).__name__} and its U-Net takes {in_ch} input "
                f"channels, where Zero123's takes 8 (the noisy latent + the reference image's latent). Load "
                f"stable_zero123.ckpt (or a Zero-1-to-3 checkpoint) with Image Only Checkpoint Loader")
        if clip_vision is None:
            raise ValueError("the Zero123 prior needs the CLIP_VISION of its checkpoint (Image Only Checkpoint "
                             "Loader's second output)")
        super().__init__(model, vae, resolution)
        want = base.cc_projection.weight.shape[1] - 4
        image = reference.composite((1.0, 1.0, 1.0))[None].float()
        pooled = clip_vision.encode_image(image).image_embeds.unsqueeze(0)
        if pooled.shape[-1] != want:
            raise ValueError(f"the CLIP_VISION gives {pooled.shape[-1]}-wide image embeddings, but this Zero123 "
                             f"model's cc_projection takes {want} (+ 4 camera terms): use the CLIP vision model "
                             f"loaded with the same checkpoint (Image Only Checkpoint Loader)")
        pixels = comfy.utils.common_upscale(image.movedim(-1, 1), resolution, resolution, "bilinear",
                                            "center").movedim(1, -1)
        self.pooled = pooled.float()
        self.reference_latent = vae.encode(pixels[:, :, :, :3]).float()
        self.reference, self.ref_camera = reference, reference.camera
        # Zero123 saw targets at the condition's distance and fov (its radius term is constant): render there
        self.fixed_camera = (reference.distance, reference.fov)

    def conditioning(self):
        """(conditional, unconditional) for PromptedPrior(conditioning=...): per-view conditioning is built in
        predict_eps from the cameras; the unconditional is Zero123's null condition."""
        return "views", NULL

    def view_conditioning(self, cameras):
        """ComfyUI conditioning for each camera: [[cond [B,1,772], {"concat_latent_image": reference latent}]]."""
        terms = zero123_camera_terms(to_zero123(cameras.to("cpu"), self.ref_camera))
        b = terms.shape[0]
        cond = torch.cat([self.pooled.expand(b, -1, -1), terms[:, None].to(self.pooled)], -1)
        return [[cond, {"concat_latent_image": self.reference_latent}]]

    def null_conditioning(self):
        return [[torch.zeros_like(self.pooled), {"concat_latent_image": torch.zeros_like(self.reference_latent)}]]

    def predict_eps(self, x_t, t, cond, cameras=None):
        if cond == NULL:
            return super().predict_eps(x_t, t, self.null_conditioning())
        if cameras is None:
            raise ValueError("the Zero123 prior needs the cameras of the renders (their pose relative to the "
                             "reference)")
        return super().predict_eps(x_t, t, self.view_conditioning(cameras))


def _check_vae(model, vae) -> None:
    """The VAE's latents must be the model's: a 4-channel SD VAE cannot feed a 16-channel SD3 / Flux model."""
    want = getattr(model.model.latent_format, "latent_channels", None)
    have = getattr(vae, "latent_channels", None)
    if want is not None and have is not None and want != have:
        raise ValueError(f"the VAE makes {have}-channel latents, but this MODEL ({type(model.model).__name__}) "
                         f"denoises {want}-channel ones: connect the model's own VAE (Flux: ae.safetensors in "
                         f"models/vae through Load VAE; SD3 / SD3.5 and SD: the checkpoint's own VAE output)")


def _check_resolution(model, vae, resolution: int) -> None:
    """The render size must become whole latent patches: VAE factor (8) x the model's patch size (2 for SD3 and
    Flux), and fit an SD3 model's position-embedding grid."""
    down = getattr(vae, "downscale_ratio", 8)
    down = down if isinstance(down, int) else 8
    net = getattr(model.model, "diffusion_model", None)
    patch = getattr(net, "patch_size", 1)
    patch = patch if isinstance(patch, int) else 1
    step = down * patch
    if resolution % step:
        raise ValueError(f"this MODEL ({type(model.model).__name__}) takes renders in whole latent patches of "
                         f"{step} pixels (VAE factor {down} x patch {patch}); {resolution} is not a multiple of "
                         f"{step}: use {max(step, resolution // step * step)} or {(resolution // step + 1) * step}")
    grid = getattr(net, "pos_embed_max_size", None)
    if isinstance(grid, int) and resolution // step > grid:
        raise ValueError(f"this MODEL's position embedding covers at most {grid * step} pixels per side; got "
                         f"{resolution}")


def _plain_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A deep copy whose parameters and buffers are ordinary (non-inference) tensors without gradients."""
    import copy
    memo = {}
    for p in list(module.parameters()) + list(module.buffers()):
        memo[id(p)] = torch.nn.Parameter(p.detach().clone(), requires_grad=False) if isinstance(
            p, torch.nn.Parameter) else p.detach().clone()
    return copy.deepcopy(module, memo)
