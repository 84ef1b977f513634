"""Spectral norm: module wrapping, folding for inference, and the legacy (official) state-dict key layout.

Training modules use ``torch.nn.utils.parametrizations.spectral_norm``; its state-dict entries are
``<conv>.parametrizations.weight.original`` and ``<conv>.parametrizations.weight.0._u`` / ``._v``. The official
checkpoints use the legacy layout ``<conv>.weight_orig`` / ``weight_u`` / ``weight_v`` with the same shapes and
meaning, so the two convert 1:1. Inference modules carry plain ``<conv>.weight`` = W / sigma (folded).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrizations

_NEW = (".parametrizations.weight.original", ".parametrizations.weight.0._u", ".parametrizations.weight.0._v")
_OLD = (".weight_orig", ".weight_u", ".weight_v")


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap ``module`` in spectral norm (one power iteration per training forward) when ``enabled``."""
    return parametrizations.spectral_norm(module) if enabled else module


def init_conv_weights(module: nn.Module, gain: float) -> None:
    """Xavier-normal conv weights with ``gain`` (the spectral-norm original where wrapped), zero biases.

    Spectral-norm vectors are re-estimated for the new weights: the ones computed when the module was wrapped
    belong to the old weights, and a stale pair underestimates sigma (the first training steps then explode)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.xavier_normal_(weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
            if hasattr(m, "parametrizations"):
                refresh_power_iteration(m)


def refresh_power_iteration(conv: nn.Module, iterations: int = 30) -> None:
    """Converge the stored spectral-norm vectors ``u``, ``v`` to the current weight's top singular pair."""
    sn = conv.parametrizations.weight[0]
    with torch.no_grad():
        w = conv.parametrizations.weight.original.reshape(sn._u.shape[0], -1).float()
        u, v = sn._u.float(), sn._v.float()
        for _ in range(iterations):
            v = nn.functional.normalize(torch.mv(w.t(), u), dim=0, eps=1e-12)
            u = nn.functional.normalize(torch.mv(w, v), dim=0, eps=1e-12)
        sn._u.copy_(u)
        sn._v.copy_(v)


def init_unit_gain(module: nn.Module, seed: int) -> nn.Module:
    """Seeded "lively" weights for tests and benchmarks: conv weights ~ N(0, 1/fan_in), biases ~ N(0, 0.05^2),
    BN running means ~ N(0, 0.1^2) and variances in [0.5, 1.5). Realistic magnitudes (the paper's 0.02 gain makes
    activations tiny); works on plain and spectral-norm convolutions (the original weight is set)."""
    import math

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
                weight.copy_(torch.randn(weight.shape, generator=g) / math.sqrt(weight[0].numel()))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return module


def to_official_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """This project's parametrization keys -> the legacy layout of the official checkpoints."""
    out = {}
    for k, v in state.items():
        for new, old in zip(_NEW, _OLD):
            if k.endswith(new):
                k = k[: -len(new)] + old
                break
        out[k] = v
    return out


def from_official_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Legacy spectral-norm keys (``weight_orig``/``weight_u``/``weight_v``) -> parametrization keys."""
    out = {}
    for k, v in state.items():
        for new, old in zip(_NEW, _OLD):
            if k.endswith(old):
                k = k[: -len(old)] + new
                break
        out[k] = v
    return out


def spectral_sigma(weight: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """sigma = u . (W v) with the stored power-iteration vectors (what eval-mode spectral norm divides by)."""
    w = weight.reshape(weight.shape[0], -1)
    return torch.vdot(u, torch.mv(w, v))


def fold_spectral_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every spectral-norm triple (either layout) by the plain weight W / sigma, as eval mode computes it."""
    state = from_official_keys(state)
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if k.endswith(_NEW[0]):
            base = k[: -len(_NEW[0])]
            u, vv = state[base + _NEW[1]], state[base + _NEW[2]]
            w = v.float()
            out[base + ".weight"] = (w / spectral_sigma(w, u.float(), vv.float())).to(v.dtype)
        elif k.endswith(_NEW[1]) or k.endswith(_NEW[2]):
            continue
        else:
            out[k] = v
    return out
