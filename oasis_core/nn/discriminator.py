"""The OASIS discriminator: a U-Net of residual blocks that segments into N+1 classes (channel 0 = fake)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from oasis_core.config import DiscriminatorConfig
from oasis_core.nn.spectral import init_conv_weights, maybe_sn


class DResBlock(nn.Module):
    """Residual block that halves (down) or doubles (up) the resolution.

    Sub-module indices keep the official key names: ``conv1.0`` (first block), ``conv1.1`` (down, after lrelu),
    ``conv1.2`` (up, after lrelu and upsampling), ``conv2.1``, and ``conv_s`` for the learned shortcut.
    """

    def __init__(self, fin: int, fout: int, up: bool, first: bool, spectral_norm: bool) -> None:
        super().__init__()
        self.up, self.first = up, first
        self.learned_shortcut = fin != fout
        fmiddle = fout
        conv1 = maybe_sn(nn.Conv2d(fin, fmiddle, 3, padding=1), spectral_norm)
        if first:
            self.conv1 = nn.Sequential(conv1)
        elif up:
            self.conv1 = nn.Sequential(nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2), conv1)
        else:
            self.conv1 = nn.Sequential(nn.LeakyReLU(0.2), conv1)
        self.conv2 = nn.Sequential(nn.LeakyReLU(0.2), maybe_sn(nn.Conv2d(fmiddle, fout, 3, padding=1), spectral_norm))
        if self.learned_shortcut:
            self.conv_s = maybe_sn(nn.Conv2d(fin, fout, 1), spectral_norm)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.first:
            x = F.avg_pool2d(x, 2)
            return self.conv_s(x) if self.learned_shortcut else x
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if self.learned_shortcut:
            x = self.conv_s(x)
        if not self.up:
            x = F.avg_pool2d(x, 2)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dx = self.conv2(self.conv1(x))
        if not self.up:
            dx = F.avg_pool2d(dx, 2)
        return self.shortcut(x) + dx


class Discriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig, spectral_norm: bool = True) -> None:
        super().__init__()
        self.config = config
        ch = config.channels
        n = len(ch) - 1
        # decoder widths mirror the encoder one level below; block i>0 takes cat(skip, x)
        up = [DResBlock(ch[-1], ch[-2], up=True, first=False, spectral_norm=spectral_norm)]
        for i in range(1, n):
            fin = 2 * ch[n - i]
            fout = ch[n - i - 1] if i < n - 1 else ch[1] // 2
            up.append(DResBlock(fin, fout, up=True, first=False, spectral_norm=spectral_norm))
        # registration order = the official state-dict order (body_up, body_down, layer_up_last)
        self.body_up = nn.ModuleList(up)
        self.body_down = nn.ModuleList(
            DResBlock(ch[i], ch[i + 1], up=False, first=(i == 0), spectral_norm=spectral_norm) for i in range(n)
        )
        self.layer_up_last = nn.Conv2d(ch[1] // 2, config.output_nc, 1)

    def init_weights(self, gain: float = 0.02) -> None:
        """The paper's initialisation: xavier-normal (gain 0.02) conv weights, zero biases."""
        init_conv_weights(self, gain)

    def check_size(self, height: int, width: int) -> None:
        d = self.config.downscale
        if height % d or width % d:
            raise ValueError(f"the discriminator needs sizes that are multiples of {d}, got {height}x{width}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_size(*x.shape[-2:])
        skips = []
        for block in self.body_down:
            x = block(x)
            skips.append(x)
        x = self.body_up[0](x)
        for i in range(1, len(self.body_up)):
            x = self.body_up[i](torch.cat((skips[-i - 1], x), dim=1))
        return self.layer_up_last(x)
