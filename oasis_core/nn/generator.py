"""The OASIS generator with noise as an explicit input."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from oasis_core import noise as noise_ops
from oasis_core.config import GeneratorConfig
from oasis_core.nn.grouped import LevelSeg, SegCodes
from oasis_core.nn.spade import SPADEResBlock
from oasis_core.nn.spectral import init_conv_weights


class Generator(nn.Module):
    """SPADE generator without the first block; input ``cat(noise, onehot)`` (noise channels first).

    ``forward(onehot, noise)``: onehot ``(B, semantic_nc, H, W)``, noise ``(B, z_dim, H, W)`` at label resolution.
    ``forward(SegCodes)``: the same for a piecewise-constant input given as ids and per-id vectors (training): the
    SPADEs of large levels are computed once per distinct neighbourhood (:mod:`oasis_core.nn.grouped`).
    ``spectral_norm=False`` builds plain convolutions that take folded weights (inference checkpoints).
    With ``config.grain_levels``, the last blocks also take per-pixel grain, and with ``config.output_grain`` the
    output does: ``grain`` (B, config.grain_channels, H, W), or derived from the noise (:func:`oasis_core.noise.grain`)
    when not given, so the output stays a function of labels and noise.
    """

    def __init__(self, config: GeneratorConfig, spectral_norm: bool = True) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        nc = config.input_nc
        # registration order = the official state-dict order (conv_img, body, fc)
        self.conv_img = nn.Conv2d(w[-1], 3, 3, padding=1)
        first = config.first_grain_block
        self.body = nn.ModuleList(
            SPADEResBlock(w[i], w[i + 1], nc, config.spade_hidden, config.norm, spectral_norm, grain=i >= first)
            for i in range(len(w) - 1)
        )
        self.fc = nn.Conv2d(nc, w[0], 3, padding=1)
        # the output grain's amplitude per class (rows: one-hot channels) and colour channel: a statistic estimated
        # from data as BN's are (training re-estimates it, ``train.grain``), not a learned weight
        self.grain_rgb: torch.Tensor | None
        self.register_buffer("grain_rgb", torch.zeros(config.semantic_nc, 3) if config.output_grain else None)

    def init_weights(self, gain: float = 0.02) -> None:
        """The paper's initialisation: xavier-normal (gain 0.02) conv weights, zero biases."""
        init_conv_weights(self, gain)

    def check_size(self, height: int, width: int) -> None:
        d = self.config.downscale
        if height % d or width % d or height < d or width < d:
            raise ValueError(f"the generator needs sizes that are positive multiples of {d}, got {height}x{width}")

    def forward(
        self, onehot: torch.Tensor | SegCodes, noise: torch.Tensor | None = None, grain: torch.Tensor | None = None
    ) -> torch.Tensor:
        if isinstance(onehot, SegCodes):
            return self._forward_codes(onehot, grain)
        if noise is None:
            raise ValueError("the generator needs a noise field beside the one-hot labels")
        h, w = onehot.shape[-2:]
        self.check_size(h, w)
        if noise.shape[-2:] != (h, w) or noise.shape[1] != self.config.z_dim:
            raise ValueError(
                f"noise must be (B, {self.config.z_dim}, {h}, {w}) to match the labels, got {tuple(noise.shape)}"
            )
        if self.config.grain_channels and grain is None:
            grain = noise_ops.grain_of_dense(noise, self.config.grain_channels)
        seg = torch.cat((noise.to(onehot.dtype), onehot), dim=1)
        d = self.config.downscale
        amp = self.grain_amplitude(onehot)
        return self._trunk(F.interpolate(seg, size=(h // d, w // d), mode="nearest"), lambda size: seg, grain, amp)

    def grain_amplitude(self, onehot: torch.Tensor | SegCodes) -> torch.Tensor | None:
        """(B, 3, H, W) fp32: the output grain's amplitude at each pixel (its class's row of ``grain_rgb``), from the
        one-hot map or the training input's codes; None without output grain."""
        if self.grain_rgb is None:
            return None
        rgb = self.grain_rgb.float()
        if isinstance(onehot, SegCodes):  # per code, then per pixel: (B, K, 3) -> (B, 3, H, W)
            per_code = onehot.codes[..., self.config.z_dim :].float() @ rgb
            b = torch.arange(onehot.ids.shape[0], device=onehot.ids.device)[:, None, None]
            return per_code[b, onehot.ids].permute(0, 3, 1, 2)
        return torch.einsum("bchw,ck->bkhw", onehot.float(), rgb)

    def _trunk(
        self,
        seg_small: torch.Tensor,
        seg_for: Callable[[tuple[int, int]], torch.Tensor | LevelSeg],
        grain: torch.Tensor | None = None,
        amplitude: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``fc`` on the latent-grid input, then the blocks (each given ``seg_for(its size)``, and grain channel 0
        from ``config.first_grain_block`` on) and ``conv_img``; with output grain, ``amplitude`` times
        grain channels 1-3 is added before the tanh (``amplitude``: (B, 3, H, W))."""
        x = self.fc(seg_small)
        last = len(self.body) - 1
        if grain is not None:
            h, w = seg_small.shape[-2:]
            d, k = self.config.downscale, self.config.grain_channels
            if tuple(grain.shape[-3:]) != (k, h * d, w * d) or grain.shape[0] != x.shape[0]:
                raise ValueError(f"grain must be ({x.shape[0]}, {k}, {h * d}, {w * d}), got {tuple(grain.shape)}")
            grain = grain.to(x.device, torch.float32)
        for i, block in enumerate(self.body):
            if block.grain_weight is not None and grain is not None:
                x = block.add_grain(x, grain_at(grain[:, :1], x.shape[-1]))
            x = block(x, seg_for(tuple(x.shape[-2:])))
            if i < last:
                x = _upsample(x, self.config.upsample)
        y = self.conv_img(F.leaky_relu(x, 0.2))
        if amplitude is not None and grain is not None:
            y = y + (amplitude * grain[:, 1:4]).to(y.dtype)
        return torch.tanh(y)

    def _forward_codes(self, seg: SegCodes, grain: torch.Tensor | None) -> torch.Tensor:
        h, w = seg.ids.shape[-2:]
        self.check_size(h, w)
        if seg.codes.shape[-1] != self.config.input_nc:
            raise ValueError(f"codes must have {self.config.input_nc} channels (noise, then one-hot), got "
                             f"{seg.codes.shape[-1]}")  # fmt: skip
        d = self.config.downscale
        cl = self.fc.weight.is_contiguous(memory_format=torch.channels_last)  # the module's layout (training sets it)
        fmt = torch.channels_last if cl else torch.contiguous_format
        k = self.config.grain_channels
        if k and grain is None:
            z = self.config.z_dim
            grain = torch.stack([noise_ops.grain(c[:, :z], i, h, w, k).reshape(k, h, w)
                                 for c, i in zip(seg.codes, seg.ids)])  # fmt: skip
        amp = self.grain_amplitude(seg)
        return self._trunk(seg.dense((h // d, w // d), fmt), lambda size: LevelSeg(seg, size, fmt), grain, amp)


def grain_at(grain: torch.Tensor, width: int) -> torch.Tensor:
    """Full-resolution grain (B, 1, H, W) at a level ``width`` wide: the mean of each f x f cell times f, so every
    level's grain is unit-variance and made of the same pixels' grain."""
    f = grain.shape[-1] // width
    return grain if f == 1 else F.avg_pool2d(grain, f) * f


def _upsample(x: torch.Tensor, mode: str) -> torch.Tensor:
    """x2 between blocks: nearest neighbour (the paper's), or bilinear with half-pixel centres."""
    if mode == "nearest":
        return F.interpolate(x, scale_factor=2.0, mode="nearest")
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
