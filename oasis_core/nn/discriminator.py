"""The OASIS discriminator: a U-Net of residual blocks that segments into N+1 classes (channel 0 = fake)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from oasis_core.config import DiscriminatorConfig
from oasis_core.nn.spectral import init_conv_weights, maybe_sn


def _taps_4(w: torch.Tensor, dim: int) -> torch.Tensor:
    """A 3-tap kernel axis (a, b, c) -> the 4 taps (c, b+c, a+b, a) of the stride-2 transposed convolution."""
    a, b, c = w.unbind(dim)
    return torch.stack((c, b + c, a + b, a), dim)


def upsample_conv3x3(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(nearest_upsample_2x(x))`` for a 3x3 convolution with padding 1, computed from the low-resolution input.

    An output pixel of a 3x3 convolution over a 2x nearest-upsampled image sees a 2x2 window of the small image,
    each small pixel weighted by the sum of the 3x3 taps that land on its copies: that is a stride-2 transposed
    convolution with a 4x4 kernel whose taps per axis are (c, b+c, a+b, a) of the 3x3 kernel's (a, b, c). Same
    result with 4/9 of the multiply-adds and without the upsampled copy; gradients reach ``conv``'s weight (and its
    spectral norm) through the tap sums.
    """
    w = conv.weight  # (O, I, 3, 3); under spectral norm this access runs the power iteration, as conv(x) would
    k = _taps_4(_taps_4(w, 2), 3)  # (O, I, 4, 4)
    return F.conv_transpose2d(x, k.transpose(0, 1), conv.bias, stride=2, padding=1)


def _taps_box(w: torch.Tensor, dim: int) -> torch.Tensor:
    """A 3-tap kernel axis (a, b, c) -> the 4 taps (a, a+b, b+c, c) / 2 of a 3x3 convolution then 2x average pooling."""
    a, b, c = w.unbind(dim)
    return torch.stack((a, a + b, b + c, c), dim) / 2


def conv3x3_avgpool(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``avg_pool2d(conv(x), 2)`` for a 3x3 convolution with padding 1 (even sizes): one stride-2 convolution whose
    4x4 kernel is the 3x3 kernel box-filtered over the pooling window. Same result with 4/9 of the multiply-adds
    and without the full-resolution output."""
    k = _taps_box(_taps_box(conv.weight, 2), 3)  # (O, I, 4, 4)
    return F.conv2d(x, k, conv.bias, stride=2, padding=1)


class DResBlock(nn.Module):
    """Residual block that halves (down) or doubles (up) the resolution.

    Sub-module indices keep the official key names: ``conv1.0`` (first block), ``conv1.1`` (down, after lrelu),
    ``conv1.2`` (up, after lrelu and upsampling), ``conv2.1``, and ``conv_s`` for the learned shortcut.

    ``fast_resample`` (the default) computes each resampling step together with its neighbouring convolution, at
    the low resolution: upsample-then-3x3 as a stride-2 transposed convolution (:func:`upsample_conv3x3`),
    3x3-then-average-pool as a stride-2 convolution (:func:`conv3x3_avgpool`), and the 1x1 shortcuts on the
    low-resolution side (a 1x1 convolution commutes with nearest upsampling and with average pooling). Same
    function; ``False`` runs the literal layer order.
    """

    fast_resample = True

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
        if self.first or (self.fast_resample and not self.up):
            x = F.avg_pool2d(x, 2)
            return self.conv_s(x) if self.learned_shortcut else x
        if self.up and self.fast_resample:
            x = self.conv_s(x) if self.learned_shortcut else x
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if self.learned_shortcut:
            x = self.conv_s(x)
        if not self.up:
            x = F.avg_pool2d(x, 2)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast_resample:
            dx = self.conv2(self.conv1(x))
            return self.shortcut(x) + (dx if self.up else F.avg_pool2d(dx, 2))
        if self.up:
            return self.shortcut(x) + self.conv2(upsample_conv3x3(self.conv1[0](x), self.conv1[2]))
        dx = conv3x3_avgpool(self.conv2[0](self.conv1(x)), self.conv2[1])
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
