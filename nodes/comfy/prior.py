"""The adapter that makes a ComfyUI MODEL (+ VAE + CONDITIONING) a core NoisePredictor.

Host glue, not algorithm: every denoising call goes through ComfyUI's own CFGGuider preparation (model loading and
offloading, condition processing, ControlNets, hooks, model_options wrappers), so LoRAs and patches already applied
to the MODEL take effect. ComfyUI's models denoise in sigma space (x = x0 + sigma * eps); the predictor converts:
x_t = sqrt(a) x  with  sigma = sqrt((1 - a) / a), the same eps.
"""
from __future__ import annotations

import torch

import comfy.model_base
import comfy.model_sampling
import comfy.samplers
import comfy.utils

from ...core.cameras import to_zero123, zero123_camera_terms
from ...core.priors import NoisePredictor

SUPPORTED = "Stable Diffusion 1.x / 2.x (epsilon or v-prediction) and SDXL: discrete-time models with 4-channel " \
            "image latents"


class UnsupportedModelError(ValueError):
    """A MODEL whose kind the score-distillation prior cannot drive."""


def check_model(model) -> None:
    """Refuse flow-matching, EDM-style, cascade and video models with a message naming what works."""
    base = model.model
    kind = getattr(base, "model_type", None)
    ms = model.get_model_object("model_sampling")
    fmt = base.latent_format
    problems = []
    if kind not in (comfy.model_base.ModelType.EPS, comfy.model_base.ModelType.V_PREDICTION):
        problems.append(f"its prediction type is {getattr(kind, 'name', kind)}")
    if not isinstance(ms, comfy.model_sampling.ModelSamplingDiscrete):
        problems.append(f"its sampling is {type(ms).__name__} (not a discrete DDPM schedule)")
    elif _sampling_prediction(ms) in ("LCM", "X0", "EDM"):  # e.g. Model Sampling Discrete set to lcm or x0
        problems.append(f"its model sampling predicts {_sampling_prediction(ms)}")
    if getattr(fmt, "latent_dimensions", 2) != 2 or getattr(fmt, "latent_channels", 4) != 4:
        problems.append(f"its latents are {getattr(fmt, 'latent_dimensions', '?')}-D with "
                        f"{getattr(fmt, 'latent_channels', '?')} channels (a video or non-SD latent space)")
    if problems:
        raise UnsupportedModelError(f"this MODEL ({type(base).__name__}) cannot drive score distillation: "
                                    f"{'; '.join(problems)}. Supported: {SUPPORTED}.")


def _sampling_prediction(ms) -> str | None:
    """What a discrete model sampling object predicts, from its classes (a Model Sampling Discrete node patches it)."""
    names = [c.__name__ for c in type(ms).__mro__]
    for kind in ("LCM", "X0", "EDM", "V_PREDICTION", "EPS"):  # most derived first: V_PREDICTION and X0 extend EPS
        if kind in names:
            return kind
    return None


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

    def __init__(self, model, vae, resolution: int = 512, clip=None):
        check_model(model)
        self.clip = clip
        self.text_prompts = clip is not None
        if resolution % 8:
            raise ValueError(f"the render size must be a multiple of 8 for a latent model, got {resolution}")
        self.model, self.vae, self.resolution = model, vae, resolution
        ms = model.get_model_object("model_sampling")
        self.alphas_cumprod = (1.0 / (1.0 + ms.sigmas.float().cpu() ** 2)).clone()
        self.num_timesteps = self.alphas_cumprod.shape[0]
        self.latent_format = model.model.latent_format
        self._encoder = None

    # ---- the differentiable VAE encoder ------------------------------------------------------------------------
    def _trainable_encoder(self, device):
        """A copy of the VAE's encoder made of normal tensors: the prompt's inference-mode tensors cannot be saved
        for backward (see HOST.md); gradients flow to the renders, never into the VAE."""
        if self._encoder is None or self._encoder[2] != device:
            first = self.vae.first_stage_model
            with torch.inference_mode(False):
                parts = torch.nn.ModuleDict({"encoder": first.encoder, "quant_conv": first.quant_conv})
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
        encode = lambda text: self.clip.encode_from_tokens_scheduled(self.clip.tokenize(text))  # noqa: E731
        return encode(prompt), encode(negative)

    def adaptable_network(self):
        net = self.model.model.diffusion_model
        return (net, net.time_embed) if hasattr(net, "time_embed") else None

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, conditioning) -> torch.Tensor:
        """ComfyUI's denoised x0 for sigma-space inputs x, one sigma per sample, through CFGGuider's preparation."""
        guider = comfy.samplers.CFGGuider(self.model)
        guider.inner_set_conds({"positive": conditioning})
        one = _OneEvaluation(sigma)
        sigmas = torch.stack([sigma.max(), torch.zeros((), device=sigma.device)]).cpu()
        guider.sample(x, torch.zeros_like(x), one, sigmas, disable_pbar=True, seed=0)
        return one.denoised.to(x.device, x.dtype)

    def predict_eps(self, x_t, t, cond, cameras=None):
        """Gradients flow only when enabled by the caller (a LoRA estimator's training)."""
        a = self.alphas_cumprod.to(x_t.device)[t.long()]
        x = x_t / a.sqrt().reshape(-1, 1, 1, 1)
        sigma = ((1 - a) / a).sqrt()
        return (x - self.denoise(x, sigma, cond)) / sigma.reshape(-1, 1, 1, 1)


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


def _plain_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A deep copy whose parameters and buffers are ordinary (non-inference) tensors without gradients."""
    import copy
    memo = {}
    for p in list(module.parameters()) + list(module.buffers()):
        memo[id(p)] = torch.nn.Parameter(p.detach().clone(), requires_grad=False) if isinstance(
            p, torch.nn.Parameter) else p.detach().clone()
    return copy.deepcopy(module, memo)
