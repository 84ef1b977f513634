"""SPADE normalisation and the SPADE residual block of the OASIS generator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from oasis_core.nn.grouped import LevelSeg
from oasis_core.nn.spectral import maybe_sn


def make_norm(kind: str, channels: int) -> nn.Module:
    """The parameter-free normalisation inside SPADE."""
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=False)
    if kind == "syncbatch":
        return nn.SyncBatchNorm(channels, affine=False)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    raise ValueError(f"unknown norm {kind!r}")


class SPADE(nn.Module):
    """norm(x) * (1 + gamma(seg)) + beta(seg), with seg (noise + one-hot) nearest-resized to x."""

    def __init__(self, channels: int, label_nc: int, hidden: int, norm: str = "batch") -> None:
        super().__init__()
        self.first_norm = make_norm(norm, channels)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def modulation(self, seg: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(seg.shape[-2:]) != tuple(size):
            seg = F.interpolate(seg, size=size, mode="nearest")
        actv = self.mlp_shared(seg)
        return self.mlp_gamma(actv), self.mlp_beta(actv)

    def forward(self, x: torch.Tensor, seg: torch.Tensor | LevelSeg) -> torch.Tensor:
        if isinstance(seg, LevelSeg):
            gamma, beta = seg.modulation(self)
        else:
            gamma, beta = self.modulation(seg, x.shape[-2:])
        return self.first_norm(x) * (1 + gamma) + beta


class SPADEResBlock(nn.Module):
    """Residual block: two SPADE -> lrelu -> conv stages, plus a learned SPADE + 1x1 shortcut when widths differ.
    With ``grain``, ``add_grain`` adds per-pixel grain times a learned per-channel weight to the input first."""

    def __init__(
        self, fin: int, fout: int, label_nc: int, hidden: int, norm: str, spectral_norm: bool, grain: bool = False
    ) -> None:
        super().__init__()
        fmiddle = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0 = maybe_sn(nn.Conv2d(fin, fmiddle, 3, padding=1), spectral_norm)
        self.conv_1 = maybe_sn(nn.Conv2d(fmiddle, fout, 3, padding=1), spectral_norm)
        if self.learned_shortcut:
            self.conv_s = maybe_sn(nn.Conv2d(fin, fout, 1, bias=False), spectral_norm)
        # registration order = the official state-dict order (convs, then norm_0, norm_1, norm_s)
        self.norm_0 = SPADE(fin, label_nc, hidden, norm)
        self.norm_1 = SPADE(fmiddle, label_nc, hidden, norm)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, label_nc, hidden, norm)
        # per-channel strength of the per-pixel grain added to the block's input (zero: none until trained)
        self.grain_weight = nn.Parameter(torch.zeros(fin)) if grain else None

    def add_grain(self, x: torch.Tensor, grain: torch.Tensor) -> torch.Tensor:
        """``x + weight * grain``: grain (B, 1, h, w) at x's size; x's dtype and memory layout are kept."""
        fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        out = x + (self.grain_weight.view(1, -1, 1, 1) * grain).to(x.dtype)
        return out.contiguous(memory_format=fmt)

    def forward(self, x: torch.Tensor, seg: torch.Tensor | LevelSeg) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx
