"""Low-rank adapters on a frozen denoising network, attached by forward hooks: ProlificDreamer's VSD estimator.

The network stays shared with the prior that scores the renders: the adapters act only inside `active(...)`, so
the same U-Net gives the pretrained epsilon outside and the adapted epsilon_phi inside, without copying weights or
reloading a patched model. As in ProlificDreamer, the low-rank updates sit on the attention projections (B starts
at zero, so the adapted network starts as the prior) and the camera enters through the time embedding (a small
zero-initialized MLP of the flattened camera-to-world matrix, as its class embedding does).
Works on any torch denoiser with named attention projections and a time-embedding module: diffusers' U-Net (to_q,
to_k, to_v, to_out.0; `time_embedding`), ComfyUI's (the same names; `time_embed`), and ComfyUI's transformers, which
name theirs (NoisePredictor.adaptable_network): SD3's MMDiT (attn.qkv, attn.proj; `t_embedder`) and Flux (the
double blocks' img_attn / txt_attn qkv and proj; `time_in`).
"""
from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")


def adapter_of(predictor, rank: int = 4) -> tuple[nn.Module, "LoRA"]:
    """(the predictor's network, frozen in place, and a new LoRA on it) from its adaptable_network(): (network,
    time-embedding module) or (network, time-embedding module, projection names). None when it has no network."""
    found = predictor.adaptable_network()
    if found is None:
        return None
    net, time_embedding, *targets = found
    freeze(net)
    return net, LoRA(net, time_embedding, rank=rank, targets=targets[0] if targets else ATTENTION_PROJECTIONS)


def freeze(net: nn.Module) -> int:
    """Make `net` frozen plain tensors, in place: parameters stop requiring gradients (else every backward through
    the U-Net would compute, and an optimizer might apply, gradients for all its weights), and inference-mode
    parameters and buffers (a model loaded inside ComfyUI's prompt) become normal tensors of the same values:
    autograd cannot save inference tensors, and the adapters' gradients flow back through every later layer.
    Returns how many tensors were replaced (0 once done)."""
    n = 0
    with torch.inference_mode(False):
        for mod in net.modules():
            for name, p in list(mod.named_parameters(recurse=False)):
                if p.is_inference():
                    mod._parameters[name] = nn.Parameter(p.detach().clone(), requires_grad=False)
                    n += 1
                elif p.requires_grad:
                    p.requires_grad_(False)
            for name, b in list(mod.named_buffers(recurse=False)):
                if b is not None and b.is_inference():
                    mod._buffers[name] = b.clone()
                    n += 1
    return n


class LoRA(nn.Module):
    """Rank-r adapters on `net`'s attention projections plus a camera embedding added to its time embedding."""

    def __init__(self, net: nn.Module, time_embedding: nn.Module, rank: int = 4, targets=ATTENTION_PROJECTIONS,
                 camera_dim: int = 16):
        super().__init__()
        linears = [(name, m) for name, m in net.named_modules()
                   if isinstance(m, nn.Linear) and any(name == t or name.endswith("." + t) for t in targets)]
        if not linears:
            raise ValueError(f"no attention projections ({', '.join(targets)}) in {type(net).__name__}: "
                             f"this network cannot take a LoRA estimator")
        self.rank, self.scale = rank, 1.0
        self.down = nn.ParameterList()
        self.up = nn.ParameterList()
        dev = next(net.parameters()).device
        for _, m in linears:
            a = torch.empty(rank, m.in_features, device=dev)
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            self.down.append(nn.Parameter(a))
            self.up.append(nn.Parameter(torch.zeros(m.out_features, rank, device=dev)))
        dim = _output_features(time_embedding)
        self.camera = nn.Sequential(nn.Linear(camera_dim, dim), nn.SiLU(), nn.Linear(dim, dim)).to(dev)
        nn.init.zeros_(self.camera[2].weight)
        nn.init.zeros_(self.camera[2].bias)
        self._net, self._c2w = (net,), None  # a tuple, so the U-Net is not a submodule (nor its weights ours)
        self._handles = [m.register_forward_hook(self._adapter_hook(i)) for i, (_, m) in enumerate(linears)]
        self._handles.append(time_embedding.register_forward_hook(self._camera_hook))
        self.targets = [name for name, _ in linears]
        names = {id(m): n for n, m in net.named_modules()}
        self.time_embedding_out = names.get(id([m for m in time_embedding.modules() if isinstance(m, nn.Linear)][-1]))

    def _adapter_hook(self, i):
        def hook(module, inputs, out):
            if self._c2w is None:
                return out
            x = inputs[0]
            delta = (x.to(self.down[i].dtype) @ self.down[i].t()) @ self.up[i].t()
            return out + (self.scale * delta).to(out.dtype)
        return hook

    def _camera_hook(self, module, inputs, out):
        if self._c2w is None:
            return out
        c = self._c2w.reshape(self._c2w.shape[0], -1).to(self.camera[0].weight)
        if out.shape[0] % c.shape[0]:
            raise ValueError(f"the adapted network was called with a batch of {out.shape[0]} for "
                             f"{c.shape[0]} cameras")
        emb = self.camera(c).repeat(out.shape[0] // c.shape[0], 1)
        return out + emb.to(out.dtype)

    @contextlib.contextmanager
    def active(self, c2w: torch.Tensor):
        """Inside: `net` is the adapted network for these cameras (one per sample). Outside: the prior."""
        self._c2w = c2w
        try:
            yield self
        finally:
            self._c2w = None

    def detach_hooks(self):
        """Leave the shared network exactly as found (called when the run ends)."""
        for h in self._handles:
            h.remove()
        self._handles = []


def comfy_lora_tensors(lora: LoRA, c2w: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The adapters as a LoRA file ComfyUI's LoraLoader applies (kohya key names, which ComfyUI maps for both its
    own U-Net names and diffusers' names): per projection `lora_unet_<name>.lora_down.weight` [r,in],
    `.lora_up.weight` [out,r] and `.alpha` = r (so its scale alpha/r is the adapters' 1). A LoRA file holds no
    camera network: with `c2w` [N,4,4] given, the camera embedding averaged over those cameras is baked into the
    time embedding's output bias (a `.diff_b` patch), the view-independent part of what the adapter learned."""
    out = {}
    for i, name in enumerate(lora.targets):
        key = "lora_unet_" + name.replace(".", "_")
        out[key + ".lora_down.weight"] = lora.down[i].detach().float().cpu().contiguous()
        out[key + ".lora_up.weight"] = (lora.up[i] * lora.scale).detach().float().cpu().contiguous()
        out[key + ".alpha"] = torch.tensor(float(lora.rank))
    if c2w is not None and lora.time_embedding_out is not None:
        with torch.no_grad():
            emb = lora.camera(c2w.reshape(c2w.shape[0], -1).to(lora.camera[0].weight)).mean(0)
        out["lora_unet_" + lora.time_embedding_out.replace(".", "_") + ".diff_b"] = emb.float().cpu().contiguous()
    return out


def _output_features(module: nn.Module) -> int:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"cannot tell the time-embedding width of {type(module).__name__}")
    return linears[-1].out_features
