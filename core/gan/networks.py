"""The small networks of EG3D's generator in plain torch, with its parameter names (so a snapshot's state dict
loads as is) and its arithmetic (parity: tests against EG3D's own modules' outputs, tests/data/
eg3d_networks_reference.safetensors): equalized-learning-rate linear layers, the mapping network (z and the camera
conditioning c to w, with truncation), and the triplane decoder (mean of the three planes' features -> density,
colour)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LRELU_GAIN = math.sqrt(2)
#: EG3D's bias_act activations: (function, default gain)
ACTIVATIONS = {
    "linear": (lambda x: x, 1.0),
    "relu": (F.relu, LRELU_GAIN),
    "lrelu": (lambda x: F.leaky_relu(x, 0.2), LRELU_GAIN),
    "tanh": (torch.tanh, 1.0),
    "sigmoid": (torch.sigmoid, 1.0),
    "elu": (F.elu, 1.0),
    "selu": (F.selu, 1.0),
    "softplus": (F.softplus, 1.0),
    "swish": (lambda x: torch.sigmoid(x) * x, LRELU_GAIN),
}


class FullyConnected(torch.nn.Module):
    """A linear layer whose weights are stored at unit scale and scaled at run time by lr_multiplier / sqrt(in)
    (StyleGAN's equalized learning rate); an activation other than 'linear' follows with its default gain, as
    EG3D's bias_act applies it (lrelu: slope 0.2, times sqrt(2); relu and swish: times sqrt(2); the others: 1)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        x = x.matmul(w.t())
        if b is not None:
            x = x + b.reshape(1, -1)
        act, gain = ACTIVATIONS[self.activation]
        x = act(x)
        return x * gain if gain != 1 else x


def normalize_2nd_moment(x, dim: int = 1, eps: float = 1e-8):
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class MappingNetwork(torch.nn.Module):
    """z [N,z_dim] and camera conditioning c [N,c_dim] -> w [N,num_ws,w_dim]: both normalized (c after its linear
    embedding to embed_features), concatenated, through num_layers layers (layer_features wide in between, w_dim
    out; learning rate x lr_multiplier); truncation pulls w towards the tracked average w_avg. EG3D's
    MappingNetwork's arguments, with its defaults: embed_features and layer_features None mean w_dim (no
    embedding when c_dim is 0); num_ws None: one w per sample, not broadcast; w_avg_beta None: no w_avg (and so
    no truncation)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None, activation: str = "lrelu",
                 lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.998):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, c_dim, w_dim, num_ws, num_layers
        self.w_avg_beta = w_avg_beta
        embed = 0 if c_dim == 0 else (w_dim if embed_features is None else int(embed_features))
        layer = w_dim if layer_features is None else int(layer_features)
        if c_dim > 0:
            self.embed = FullyConnected(c_dim, embed)
        features = [z_dim + embed] + [layer] * (num_layers - 1) + [w_dim]
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnected(features[i], features[i + 1], activation=activation,
                                                   lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z, c, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                update_emas: bool = False):
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"the camera conditioning c must be [N,{self.c_dim}], got "
                                 f"{None if c is None else tuple(c.shape)}")
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, 1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if not hasattr(self, "w_avg"):
                raise ValueError("truncation needs the tracked average w, and this mapping network keeps none "
                                 "(w_avg_beta None)")
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


class TriplaneDecoder(torch.nn.Module):
    """EG3D's OSG decoder: the three planes' features averaged, one softplus hidden layer of 64, out a raw density
    and colour features squashed by a slightly widened sigmoid (-0.001 .. 1.001)."""

    def __init__(self, n_features: int, out_features: int, lr_multiplier: float = 1.0, hidden: int = 64):
        super().__init__()
        self.net = torch.nn.Sequential(FullyConnected(n_features, hidden, lr_multiplier=lr_multiplier),
                                       torch.nn.Softplus(),
                                       FullyConnected(hidden, 1 + out_features, lr_multiplier=lr_multiplier))

    def forward(self, features, directions=None):
        x = features.mean(1)
        n, m, ch = x.shape
        x = self.net(x.reshape(n * m, ch)).view(n, m, -1)
        return {"rgb": torch.sigmoid(x[..., 1:]) * (1 + 2 * 0.001) - 0.001, "sigma": x[..., 0:1]}
