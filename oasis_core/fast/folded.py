"""The generator's layers with their weights folded for inference: convolutions packed once for oneDNN on NHWC
tensors, and SPADE levels with BatchNorm folded into one fused gamma/beta weight (see docs/fast-path.md)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from oasis_core.nn.spade import SPADE, SPADEResBlock

# multiply-adds per band of a banded convolution (see _Conv): a few tens of milliseconds on one core (oneDNN fp32
# here: about 15 GMAC/s), and bands of at least BAND_MIN_ROWS rows, so the halo rows each band reads twice cost little
BAND_MACS = 1 << 28
BAND_MIN_ROWS = 16


class _Conv:
    """A fixed convolution in the compute dtype on NHWC tensors; packed once for oneDNN on CPUs where possible.

    With ``out`` the result is written into that (reused) buffer, so no fresh memory is touched: oneDNN adds the
    convolution into it (``accumulate=True`` keeps what it holds: the residual; otherwise it is zeroed first).

    With ``between`` (a cancel check) a large map on a CPU goes in bands of rows, ``between()`` called before each:
    one convolution of a 1536x1536 map takes about half a second on a core, a band (BAND_MACS) some 20 ms, so a
    cancelled generation stops within a band. Each band reads its neighbours' edge rows, so the result is the same.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype, device: torch.device):
        self.padding = [weight.shape[-1] // 2] * 2
        self.out_channels = weight.shape[0]
        self.macs_per_pixel = weight.shape[0] * weight.shape[1] * weight.shape[2] * weight.shape[3]
        self.device = torch.device(device)
        self.weight = weight.detach().to(device, dtype).contiguous(memory_format=torch.channels_last)
        self.bias = None if bias is None else bias.detach().to(device, dtype)
        self.packed: torch.Tensor | None = None
        if device.type == "cpu" and torch.backends.mkldnn.is_available():
            try:
                probe = torch.zeros((1, 4, 4, weight.shape[1]), dtype=dtype)
                packed = torch.ops.mkldnn._reorder_convolution_weight(
                    self.weight, self.padding, [1, 1], [1, 1], 1, list(_nchw(probe).shape)
                )
                out = torch.zeros((1, 4, 4, weight.shape[0]), dtype=dtype)
                self.packed = packed
                want = F.conv2d(_nchw(probe + 1), self.weight, self.bias, padding=self.padding)
                got = self(probe + 1, out=out)
                if not torch.allclose(_nchw(got).float(), want.float(), atol=1e-2, rtol=1e-2):
                    self.packed = None
            except (RuntimeError, AttributeError, NotImplementedError):
                self.packed = None
        if self.packed is not None:
            self.weight = None  # the packed copy is the only one kept

    def __call__(
        self,
        x: torch.Tensor,
        out: torch.Tensor | None = None,
        accumulate: bool = False,
        tanh: bool = False,
        between: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """``conv(x) (+ out if accumulate) (then tanh)`` on NHWC tensors; returns NHWC (``out`` when given)."""
        b_, h, w, _ = x.shape
        band = max(BAND_MIN_ROWS, BAND_MACS // max(1, b_ * w * self.macs_per_pixel))
        if between is None or self.device.type != "cpu" or h < 2 * band:
            return self._whole(x, out, accumulate, tanh)
        if out is None:
            out = torch.empty((b_, h, w, self.out_channels), dtype=x.dtype, device=x.device)
            accumulate = False
        p = self.padding[0]
        for r0 in range(0, h, band):
            between()
            r1 = min(h, r0 + band)
            a, b = max(0, r0 - p), min(h, r1 + p)  # the band and the rows its edge taps read
            xb = x[:, a:b] if b_ == 1 else x[:, a:b].contiguous()
            # accumulate into a copy of the band's rows, so the sum is rounded once, as in the whole convolution
            y = self._whole(xb, out[:, a:b].clone() if accumulate else None, accumulate, tanh)
            out[:, r0:r1].copy_(y[:, r0 - a : r1 - a])  # rows whose taps all lie in the band (or the zero border)
        return out

    def _whole(self, x: torch.Tensor, out: torch.Tensor | None, accumulate: bool, tanh: bool) -> torch.Tensor:
        args = (self.packed, self.bias, self.padding, [1, 1], [1, 1], 1)
        if self.packed is not None:
            if out is not None and not tanh:
                if not accumulate:
                    out.zero_()
                torch.ops.mkldnn._convolution_pointwise_.binary(
                    _nchw(out), _nchw(x), *args, "add", None, None, [], None
                )
                return out
            y = torch.ops.mkldnn._convolution_pointwise(_nchw(x), *args, "tanh" if tanh else "none", [], "")
        else:
            y = F.conv2d(_nchw(x), self.weight, self.bias, padding=self.padding)
            if tanh:
                y = torch.tanh(y)
        y = _nhwc(y)
        if out is None:
            return y
        return out.add_(y) if accumulate else out.copy_(y)


def _nchw(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) contiguous -> the same memory as an NCHW channels-last tensor."""
    return x.permute(0, 3, 1, 2)


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    """NCHW (any layout) -> (B, H, W, C) contiguous."""
    return x.permute(0, 2, 3, 1).contiguous()


# ----------------------------------------------------------------------------------------------- SPADE constants
class _Spade:
    """One SPADE's fused (BN-folded) gamma/beta weights, laid out for table look-ups, in the table dtype."""

    def __init__(self, spade: SPADE, dtype: torch.dtype, device: torch.device):
        conv_s = spade.mlp_shared[0]
        self.hidden = hid = conv_s.weight.shape[0]
        wg = spade.mlp_gamma.weight.detach().double()
        wb = spade.mlp_beta.weight.detach().double()
        bg = _bias(spade.mlp_gamma).double()
        bb = _bias(spade.mlp_beta).double()
        self.channels = wg.shape[0]
        norm = spade.first_norm
        self.instance = isinstance(norm, nn.InstanceNorm2d)
        self.eps = float(norm.eps)
        if self.instance:  # out = IN(x) * (1 + gamma) + beta
            parts = ((wg, bg + 1), (wb, bb))
        else:  # BN(x) = a x + b: out = x * [a (1 + gamma)] + [b (1 + gamma) + beta]
            a = torch.rsqrt(norm.running_var.detach().double() + norm.eps)
            b = -norm.running_mean.detach().double() * a
            parts = ((a[:, None, None, None] * wg, a * (1 + bg)), (b[:, None, None, None] * wg + wb, b * (1 + bg) + bb))
        self.dtype = dtype
        # per output (G, then B): (9 * hid, C) rows (tap, hidden) so that a pattern's 9 activation rows laid side by
        # side times it is the 3x3 convolution at that pixel; (hid, C) the sum over taps (uniform neighbourhoods)
        self.w_taps = [w.permute(2, 3, 1, 0).reshape(9 * hid, -1).to(device, dtype).contiguous() for w, _ in parts]
        self.w_sum = [w.sum(dim=(2, 3)).t().to(device, dtype).contiguous() for w, _ in parts]
        self.bias = [b.to(device, dtype) for _, b in parts]
        self._dense: _Conv | None = None

    def dense_conv(self, dtype: torch.dtype) -> _Conv:
        """The fused gamma/beta as one 3x3 convolution (dense path; built on first use)."""
        if self._dense is None:
            w = torch.cat(self.w_taps, 1).view(3, 3, self.hidden, 2 * self.channels).permute(3, 2, 0, 1)
            self._dense = _Conv(w, torch.cat(self.bias), dtype, w.device)
        return self._dense


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    return conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)


class _Level:
    """One residual block: its SPADEs (``mlp_shared`` tables concatenated) and its trunk convolutions."""

    def __init__(self, block: SPADEResBlock, z_dim: int, dtype: torch.dtype, device: torch.device):
        self.learned_shortcut = block.learned_shortcut
        spades = {"0": block.norm_0, "1": block.norm_1}
        if block.learned_shortcut:
            spades = {"s": block.norm_s, **spades}
        self.spades = {name: _Spade(sp, dtype, device) for name, sp in spades.items()}
        self.slices: dict[str, slice] = {}
        start = 0
        for name, sp in self.spades.items():
            self.slices[name] = slice(start, start + sp.hidden)
            start += sp.hidden
        self.hidden = start
        ws = torch.cat([sp.mlp_shared[0].weight.detach().float() for sp in spades.values()])  # (Hcat, z + N, 3, 3)
        taps = ws.permute(1, 2, 3, 0).reshape(ws.shape[1], 9 * start)  # (z + N, 9 * Hcat): (tap, Hcat) columns
        self.t_noise = taps[:z_dim].contiguous().to(device)  # (z, 9 * Hcat)
        self.t_label = taps[z_dim:].contiguous().to(device)  # (N, 9 * Hcat)
        self.b_shared = torch.cat([_bias(sp.mlp_shared[0]).float() for sp in spades.values()]).to(device)
        self._dense: _Conv | None = None
        self.fin = block.conv_0.in_channels
        self.fmiddle = block.conv_0.out_channels
        self.fout = block.conv_1.out_channels
        self.conv_0 = _Conv(block.conv_0.weight, block.conv_0.bias, dtype, device)
        self.conv_1 = _Conv(block.conv_1.weight, block.conv_1.bias, dtype, device)
        gw = block.grain_weight
        self.grain_weight = None if gw is None else gw.detach().to(device, dtype).contiguous()  # (fin,)
        # a 1x1 shortcut without bias (the generator's) as a (fin, fout) matrix, applied chunk by chunk inside the
        # fused norm_s pass; any other shortcut stays a convolution
        self.w_s = self.conv_s = None
        if block.learned_shortcut:
            sc = block.conv_s
            if tuple(sc.weight.shape[-2:]) == (1, 1) and sc.bias is None:
                self.w_s = sc.weight.detach()[:, :, 0, 0].t().to(device, dtype).contiguous()
            else:
                self.conv_s = _Conv(sc.weight, sc.bias, dtype, device)

    def dense_shared(self, dtype: torch.dtype) -> _Conv:
        """All ``mlp_shared`` of the block as one 3x3 convolution over ``cat(noise, onehot)`` (dense path)."""
        if self._dense is None:
            taps = torch.cat((self.t_noise, self.t_label))
            w = taps.view(taps.shape[0], 3, 3, self.hidden).permute(3, 0, 1, 2)
            self._dense = _Conv(w, self.b_shared, dtype, self.t_label.device)
        return self._dense
