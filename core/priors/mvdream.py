"""MVDream's multi-view diffusion model as a noise predictor, loaded from its original single-file checkpoints.

Built on diffusers' UNet2DConditionModel rather than ComfyUI's U-Net: core must run without ComfyUI, and MVDream's
two changes to Stable Diffusion 2.1 map onto diffusers' existing parts without touching the network code —
  * the camera embedding (Linear 16 -> time-embedding, SiLU, Linear) added to the time embedding is diffusers'
    `class_embed_type="projection"` with a 16-d input, fed the flattened camera matrices as class labels;
  * self-attention across the views of one object is an attention processor on the self-attention layers that
    regroups tokens (b·v) l c -> b (v·l) c, so `set_views(1)` switches the same weights to per-view 2D attention.
Attention runs through torch's scaled_dot_product_attention (flash / memory-efficient kernels where available).

The architecture is read from the checkpoint's tensors (channels, levels, blocks, attention placement, context
width), so MVDream's SD 2.1 and SD 1.5 checkpoints and tiny test checkpoints in the same layout load through one path.
Layout: model.diffusion_model.* (with camera_embed.{0,2}), first_stage_model.* (VAE), cond_stage_model.model.*
(OpenCLIP text, SD 2.x) or cond_stage_model.transformer.* (CLIP text, SD 1.x).
"""
from __future__ import annotations

import os
import re
import warnings

import torch
import torch.nn.functional as F

from ..cameras import to_mvdream
from . import linear_beta_alphas_cumprod
from ..deps import require
from .diffusers_prior import DiffusersModules

UNET = "model.diffusion_model."
VAE = "first_stage_model."
OPENCLIP = "cond_stage_model.model."
CLIP = "cond_stage_model.transformer."
CAMERA_DIM = 16  # a flattened 4x4 camera-to-world matrix


class MVDreamCheckpointError(ValueError):
    """A file that is not an MVDream checkpoint this loader can use; the message says what was found."""


def load_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors or a torch checkpoint (.ckpt / .pt / .pth, read without running pickled code)."""
    if not os.path.isfile(path):
        raise MVDreamCheckpointError(f"no checkpoint at {path}")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(path)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets one message
        raise MVDreamCheckpointError(f"{path} is not a readable torch checkpoint ({type(e).__name__}: {e}). "
                                     f"Torch files are read without running pickled code; a file that needs more "
                                     f"can be converted to .safetensors") from e
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise MVDreamCheckpointError(f"{path} holds a {type(sd).__name__}, not a state dict")
    return sd


def _prefixes(sd) -> str:
    counts: dict[str, int] = {}
    for k in sd:
        head = ".".join(k.split(".")[:2]) if k.count(".") > 1 else k
        counts[head] = counts.get(head, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:6]
    return ", ".join(f"{k}.* ({n})" for k, n in top) or "nothing"


def _blocks(sd, name: str) -> list[int]:
    return sorted({int(m.group(1)) for k in sd if (m := re.match(rf"{name}\.(\d+)\.", k))})


def unet_config(sd: dict[str, torch.Tensor]) -> dict:
    """The diffusers UNet2DConditionModel config of an LDM U-Net state dict (keys without model.diffusion_model.),
    inferred from tensor shapes. Head counts follow the base model: 8 heads with a 768-wide context (SD 1.x),
    64 channels per head otherwise (SD 2.x, MVDream's num_head_channels)."""
    if "camera_embed.0.weight" not in sd or "camera_embed.2.weight" not in sd:
        raise MVDreamCheckpointError("the U-Net has no camera embedding (camera_embed.0 / camera_embed.2): this is "
                                     "a single-view Stable Diffusion U-Net, not MVDream")
    cam = sd["camera_embed.0.weight"]
    time_dim = sd["time_embed.0.weight"].shape[0]
    if cam.ndim != 2 or cam.shape[1] != CAMERA_DIM or cam.shape[0] != time_dim \
            or tuple(sd["camera_embed.2.weight"].shape) != (time_dim, time_dim):
        raise MVDreamCheckpointError(
            f"camera_embed has shapes {tuple(cam.shape)} and {tuple(sd['camera_embed.2.weight'].shape)}; MVDream's "
            f"takes a flattened 4x4 camera: ({time_dim}, {CAMERA_DIM}) and ({time_dim}, {time_dim})")
    conv_in = sd["input_blocks.0.0.weight"]
    levels: list[list[int]] = [[]]  # input block ids per resolution level
    for i in _blocks(sd, "input_blocks")[1:]:
        if f"input_blocks.{i}.0.op.weight" in sd:
            levels.append([])
        else:
            levels[-1].append(i)
    per_level = {len(ids) for ids in levels}
    if len(per_level) != 1:
        raise MVDreamCheckpointError(f"unequal numbers of blocks per level ({[len(ids) for ids in levels]})")
    channels = [sd[f"input_blocks.{ids[0]}.0.out_layers.3.weight"].shape[0] for ids in levels]
    attention = [f"input_blocks.{ids[0]}.1.proj_in.weight" in sd for ids in levels]
    attn_key = next((k for k in sd if k.endswith("attn2.to_k.weight")), None)
    if attn_key is None:
        raise MVDreamCheckpointError("the U-Net has no cross-attention layers (attn2.to_k)")
    context = sd[attn_key].shape[1]
    proj_in = next(k for k in sd if k.endswith("1.proj_in.weight"))
    depth = len(_blocks(sd, re.escape(proj_in[: -len("proj_in.weight")]) + "transformer_blocks"))
    heads = [8 if context == 768 else max(1, c // 64) for c in channels]
    return dict(
        sample_size=32, in_channels=conv_in.shape[1], out_channels=sd["out.2.weight"].shape[0],
        block_out_channels=channels, layers_per_block=len(levels[0]),
        down_block_types=["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention],
        up_block_types=["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)],
        mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=context, attention_head_dim=heads,
        use_linear_projection=sd[proj_in].ndim == 2, transformer_layers_per_block=depth,
        class_embed_type="projection", projection_class_embeddings_input_dim=CAMERA_DIM,
        flip_sin_to_cos=True, freq_shift=0, norm_num_groups=32, time_embedding_dim=None)


class MultiViewAttnProcessor:
    """Self-attention over all the tokens of each group of `views` consecutive batch items (MVDream's 3D
    self-attention); views = 1 is per-image attention. Delegates to diffusers' SDPA processor."""

    def __init__(self, views: int = 4):
        from diffusers.models.attention_processor import AttnProcessor2_0
        self.views, self.inner = views, AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *a, **kw):
        v = self.views
        if v == 1 or encoder_hidden_states is not None:
            return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *a, **kw)
        bv, length, c = hidden_states.shape
        if bv % v:
            raise ValueError(f"multi-view attention groups {v} views of one object: a batch of {bv} cannot be "
                             f"grouped; use a multiple of {v}, or 2D mode (views = 1)")
        out = self.inner(attn, hidden_states.reshape(bv // v, v * length, c), None, attention_mask, temb, *a, **kw)
        return out.reshape(bv, length, c)


def build_unet(sd: dict[str, torch.Tensor], views: int = 4):
    """An MVDream U-Net with the weights of an LDM-layout state dict (keys without model.diffusion_model.)."""
    import diffusers
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint
    config = unet_config(sd)
    renamed = {("label_emb.0." + k[len("camera_embed."):] if k.startswith("camera_embed.") else k): v
               for k, v in sd.items()}
    weights = convert_ldm_unet_checkpoint({UNET + k: v for k, v in renamed.items()}, config)
    with torch.inference_mode(False):
        unet = diffusers.UNet2DConditionModel(**config)
        _load_exactly(unet, weights, "U-Net")
    set_views(unet, views)
    return unet


def set_views(unet, views: int) -> None:
    """Self-attention over groups of `views` images (1 = per-view 2D attention); cross-attention is unchanged."""
    if views < 1:
        raise ValueError(f"views must be at least 1, got {views}")
    unet.distill3d_views = views
    for name, module in unet.attn_processors.items():
        if name.endswith("attn1.processor"):
            unet.get_submodule(name[: -len(".processor")]).set_processor(MultiViewAttnProcessor(views))


def _text_model_keys(module, weights: dict) -> dict:
    """transformers 4's CLIPTextModel names its tensors text_model.*, transformers 5's without that prefix; the
    converters and checkpoints use the former. Name the weights as this module does."""
    prefix = "text_model."
    wants_prefix = any(k.startswith(prefix) for k in module.state_dict())
    if wants_prefix:
        return {(k if k.startswith(prefix) else prefix + k): v for k, v in weights.items()}
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in weights.items()}


def _load_exactly(module, weights, what: str) -> None:
    missing, unexpected = module.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise MVDreamCheckpointError(f"the {what} tensors do not fit the architecture read from them: missing "
                                     f"{missing[:4]}{'...' if len(missing) > 4 else ''}, unexpected "
                                     f"{unexpected[:4]}{'...' if len(unexpected) > 4 else ''}")


def build_vae(sd: dict[str, torch.Tensor]):
    """diffusers AutoencoderKL from an LDM first-stage state dict (keys without first_stage_model.)."""
    import diffusers
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
    levels = _blocks(sd, "encoder.down")
    channels = [sd[f"encoder.down.{i}.block.0.conv2.weight"].shape[0] for i in levels]
    config = dict(in_channels=sd["encoder.conv_in.weight"].shape[1], out_channels=sd["decoder.conv_out.weight"].shape[0],
                  down_block_types=["DownEncoderBlock2D"] * len(levels),
                  up_block_types=["UpDecoderBlock2D"] * len(levels), block_out_channels=channels,
                  layers_per_block=len(_blocks(sd, "encoder.down.0.block")),
                  latent_channels=sd["decoder.conv_in.weight"].shape[1], norm_num_groups=32,
                  scaling_factor=0.18215)
    weights = convert_ldm_vae_checkpoint({VAE + k: v for k, v in sd.items()}, config)
    with torch.inference_mode(False):
        vae = diffusers.AutoencoderKL(**config)
        _load_exactly(vae, weights, "VAE")
    return vae


def build_text_encoder(sd: dict[str, torch.Tensor], open_clip: bool):
    """transformers CLIPTextModel of the checkpoint's text encoder, returning the features the U-Net was trained
    on: OpenCLIP (SD 2.x) -> the penultimate layer, then the final layer norm; CLIP (SD 1.x) -> the last layer."""
    from transformers import CLIPTextConfig, CLIPTextModel
    if open_clip:
        from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint
        width = sd["token_embedding.weight"].shape[1]
        layers = len(_blocks(sd, "transformer.resblocks"))
        config = CLIPTextConfig(vocab_size=sd["token_embedding.weight"].shape[0], hidden_size=width,
                                intermediate_size=sd["transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
                                num_attention_heads=max(1, width // 64), num_hidden_layers=layers - 1,
                                max_position_embeddings=sd["positional_embedding"].shape[0], hidden_act="gelu",
                                projection_dim=sd["text_projection"].shape[1] if "text_projection" in sd else width)
        full = {OPENCLIP + k: v for k, v in sd.items() if not k.startswith(f"transformer.resblocks.{layers - 1}.")}
        with torch.inference_mode(False):
            model = CLIPTextModel(config)
            weights = convert_open_clip_checkpoint(model, full)
            weights = {k: v for k, v in weights.items() if k != "text_projection.weight"}
            _load_exactly(model, _text_model_keys(model, weights), "OpenCLIP text encoder")
        return model
    weights = {k: v for k, v in sd.items() if k.startswith("text_model.")}
    width = weights["text_model.embeddings.token_embedding.weight"].shape[1]
    config = CLIPTextConfig(vocab_size=weights["text_model.embeddings.token_embedding.weight"].shape[0],
                            hidden_size=width,
                            intermediate_size=weights["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
                            num_attention_heads=max(1, width // 64),
                            num_hidden_layers=len(_blocks(weights, "text_model.encoder.layers")),
                            max_position_embeddings=weights["text_model.embeddings.position_embedding.weight"].shape[0],
                            hidden_act="quick_gelu")
    with torch.inference_mode(False):
        model = CLIPTextModel(config)
        _load_exactly(model, _text_model_keys(model, weights), "CLIP text encoder")
    return model


def split_checkpoint(sd: dict[str, torch.Tensor], path: str = "the checkpoint"):
    """{'unet': ..., 'vae': ..., 'openclip' | 'clip': ...} with prefixes removed; refuses files that are not
    MVDream, saying what they hold."""
    parts = {"unet": UNET, "vae": VAE, "openclip": OPENCLIP, "clip": CLIP}
    out = {name: {k[len(p):]: v for k, v in sd.items() if k.startswith(p)} for name, p in parts.items()}
    if not out["unet"]:
        raise MVDreamCheckpointError(f"{path} has no U-Net under {UNET}* (it holds {_prefixes(sd)}); MVDream's "
                                     f"checkpoints (sd-v2.1-base-4view, sd-v1.5-4view) keep the original LDM layout")
    if "camera_embed.0.weight" not in out["unet"]:
        raise MVDreamCheckpointError(f"{path} is not an MVDream checkpoint: its U-Net ({len(out['unet'])} tensors) "
                                     f"has no camera_embed.0 / camera_embed.2 (a plain Stable Diffusion U-Net?)")
    return {k: v for k, v in out.items() if v}


def _placed(module, device, dtype):
    module = module.to(device) if dtype == torch.float32 else module.to(device, dtype)
    return module.eval().requires_grad_(False)


class MVDreamPrior(DiffusersModules):
    """MVDream (sd-v2.1-base-4view and kin) as a latent-space noise predictor with cameras.

    `views` is the attention group (4 for MVDream; 1 = 2D mode); predict_eps takes batches of whole groups and
    their cameras. Text prompts need the checkpoint's text encoder and a CLIP BPE tokenizer folder (vocab.json,
    merges.txt: ComfyUI ships one); without them the prior takes conditioning tensors [1, 77, context].
    """

    space = "latent"
    shadings = ("albedo",)  # MVDream was trained on textured renders only

    def __init__(self, path: str, resolution: int = 256, views: int = 4, tokenizer_folder: str | None = None,
                 device="cpu", dtype=torch.float32):
        require("diffusers", "The MVDream Prior")
        if tokenizer_folder:
            require("transformers", "The MVDream Prior's text encoder")
        sd = load_state_dict(path)
        parts = split_checkpoint(sd, os.path.basename(path))
        del sd
        if "vae" not in parts:
            raise MVDreamCheckpointError(f"{os.path.basename(path)} has an MVDream U-Net but no VAE "
                                         f"({VAE}*): use the full checkpoint (sd-v2.1-base-4view.pt holds all parts)")
        self.device, self.dtype = torch.device(device), dtype
        self.unet = _placed(build_unet(parts["unet"], views), self.device, dtype)
        self.vae = _placed(build_vae(parts["vae"]), self.device, dtype)
        self.views = views
        self.context_dim = self.unet.config.cross_attention_dim
        vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        halvings = len(self.unet.config.block_out_channels) - 1
        self.down = vae_factor * 2 ** halvings  # render pixels per latent cell at the U-Net's coarsest level
        if resolution < self.down or resolution % self.down:
            raise ValueError(f"this MVDream model takes render sizes that are multiples of {self.down} ({vae_factor}x "
                             f"latents, {halvings} halvings in the U-Net); got {resolution}: use "
                             f"{max(self.down, round(resolution / self.down) * self.down)}")
        self.resolution = resolution
        self.alphas_cumprod = linear_beta_alphas_cumprod()  # MVDream trains with SD's scaled-linear betas
        self.num_timesteps = 1000
        self.text_encoder = self.tokenizer = None
        text = "openclip" if "openclip" in parts else "clip" if "clip" in parts else None
        self.text_prompts = bool(text and tokenizer_folder)
        if self.text_prompts:
            from transformers import CLIPTokenizer
            self.text_encoder = build_text_encoder(parts[text], open_clip=text == "openclip")
            self.text_encoder = _placed(self.text_encoder, self.device, dtype)
            kw = {"pad_token": "!"} if text == "openclip" else {}  # OpenCLIP pads with token 0
            self.tokenizer = CLIPTokenizer(os.path.join(tokenizer_folder, "vocab.json"),
                                           os.path.join(tokenizer_folder, "merges.txt"), **kw)
        self.has_text_encoder = text is not None
        self._embeds: dict[str, torch.Tensor] = {}
        self._warned: set = set()

    def set_views(self, views: int) -> None:
        set_views(self.unet, views)
        self.views = views

    # ---- text ---------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, text: str) -> torch.Tensor:
        if text not in self._embeds:
            tok = self.tokenizer(text, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
            with torch.inference_mode(False):
                self._embeds[text] = self.text_encoder(tok.input_ids.to(self.device))[0]
        return self._embeds[text]

    def condition(self, prompt: str, negative: str = ""):
        if not self.text_prompts:
            raise ValueError("this MVDream prior has no text encoder and tokenizer: give it conditioning "
                             "(CLIP Text Encode) instead of text")
        return self.embed(prompt), self.embed(negative)

    def check_conditioning(self, cond: torch.Tensor) -> torch.Tensor:
        if cond.ndim != 3 or cond.shape[-1] != self.context_dim:
            raise ValueError(f"MVDream's U-Net takes text features [1, tokens, {self.context_dim}]; got "
                             f"{tuple(cond.shape)} (a conditioning from another text encoder?)")
        return cond

    # ---- images <-> latents -------------------------------------------------------------------------------------
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Renders of another size than the prior's are resized to it (MVDream's views are square), warned once."""
        r = self.resolution
        if images.shape[1:3] != (r, r):
            key = tuple(images.shape[1:3])
            if key not in self._warned:
                self._warned.add(key)
                warnings.warn(f"MVDream takes square {r}x{r} views; {key[0]}x{key[1]} renders are resized to it",
                              stacklevel=2)
            images = F.interpolate(images.permute(0, 3, 1, 2), (r, r), mode="bilinear", align_corners=False,
                                   antialias=True).permute(0, 2, 3, 1)
        return super().encode(images)

    # ---- the model ----------------------------------------------------------------------------------------------
    def predict_eps(self, x_t, t, cond, cameras=None):
        """eps for batches of whole view groups; cameras are required (MVDream is camera-conditioned)."""
        n = x_t.shape[0]
        if cameras is None or len(cameras) != n:
            raise ValueError(f"MVDream needs one camera per view: got {0 if cameras is None else len(cameras)} "
                             f"cameras for {n} views")
        if n % self.views:
            raise ValueError(f"MVDream denoises groups of {self.views} views of one object: a batch of {n} views "
                             f"cannot be grouped; use a multiple of {self.views}")
        cond = self.check_conditioning(cond)
        if getattr(self.unet, "distill3d_views", self.views) != self.views:  # a grouped() copy shares the U-Net
            set_views(self.unet, self.views)
        cam = to_mvdream(cameras).to(self.device, self.dtype)
        ctx = cond.to(self.device, self.dtype).expand(n, *cond.shape[1:])
        t = t.to(self.device).reshape(-1).expand(n) if t.numel() == 1 else t.to(self.device)
        return self.unet(x_t.to(self.dtype), t, encoder_hidden_states=ctx, class_labels=cam).sample.float()

