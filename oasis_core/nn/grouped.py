"""SPADE modulation computed once per distinct neighbourhood of the segmentation input (the training fast path).

The generator's SPADE input ``seg = cat(noise, onehot)`` is piecewise constant: every pixel carries one of a few
vectors per image (a noise vector and a class). A SPADE's ``gamma`` and ``beta`` at a pixel are a function of the
vectors in its 5x5 neighbourhood only (a 3x3 ``mlp_shared`` convolution, ReLU, then the 3x3 ``mlp_gamma`` /
``mlp_beta`` convolutions, all zero-padded). Inside a region that neighbourhood is the same for every pixel, so at
the high-resolution levels (where most of the generator's multiply-adds are) a few thousand distinct 5x5
neighbourhoods stand for 100,000+ pixels. :class:`LevelGroups` finds them once per level and forward pass;
:func:`grouped_modulation` then computes each SPADE's hidden activations per distinct 3x3 neighbourhood and its
gamma / beta per distinct 5x5 neighbourhood, and gathers them back to the pixels: the same function as the dense
convolutions (up to float rounding), differentiable in the SPADE weights and the input vectors, with an order of
magnitude fewer multiply-adds. Levels where most pixels are near a boundary (the small ones) stay dense.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# a level is computed grouped when it has at most this fraction of distinct 5x5 neighbourhoods per pixel
GROUPED_MAX_FRACTION = 0.4
GROUPED_MIN_PIXELS = 32 * 32  # smaller levels: the dense convolutions are cheaper than finding the groups

_OFFSETS = [(dy, dx) for dy in range(3) for dx in range(3)]  # tap t = 3*dy + dx reads the pixel at (dy-1, dx-1)


@dataclass(frozen=True)
class SegCodes:
    """A piecewise-constant segmentation input: ``seg[b, :, y, x] = codes[b, ids[b, y, x]]``.

    ``ids`` (B, H, W) int64 in ``[0, K)``; ``codes`` (B, K, label_nc) float (noise vector then one-hot, as the
    generator concatenates them). Training builds it from the label map and the noise regions.
    """

    ids: torch.Tensor
    codes: torch.Tensor

    def __post_init__(self) -> None:
        if self.ids.dim() != 3 or self.codes.dim() != 3 or self.ids.shape[0] != self.codes.shape[0]:
            raise ValueError(f"SegCodes needs ids (B, H, W) and codes (B, K, C), got {tuple(self.ids.shape)} and "
                             f"{tuple(self.codes.shape)}")  # fmt: skip

    @property
    def num_codes(self) -> int:
        return int(self.codes.shape[1])

    def ids_at(self, size: tuple[int, int]) -> torch.Tensor:
        """The ids nearest-resized to ``size``: the same pixel choice as ``F.interpolate(seg, size)``."""
        if tuple(self.ids.shape[-2:]) == tuple(size):
            return self.ids
        return F.interpolate(self.ids[:, None].float(), size=size, mode="nearest")[:, 0].long()

    def dense(self, size: tuple[int, int] | None = None, memory_format=torch.contiguous_format) -> torch.Tensor:
        """The dense ``(B, label_nc, h, w)`` input (at ``size``, nearest-resized)."""
        ids = self.ids if size is None else self.ids_at(size)
        b = torch.arange(ids.shape[0], device=ids.device)[:, None, None]
        return self.codes[b, ids].permute(0, 3, 1, 2).contiguous(memory_format=memory_format)


def _compress(keys: list[torch.Tensor], radix: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct tuples of ``keys`` (equal-shape int64 tensors with values in ``[0, radix)``): returns
    ``(inverse, first)``: each element's tuple index and one element index per distinct tuple. Tuples are packed
    into int64 several components at a time and renumbered with ``torch.unique`` whenever the next would overflow.
    """
    flat = [k.reshape(-1) for k in keys]
    key, span = flat[0], radix
    for k in flat[1:]:
        if span * radix >= 2**62:
            _, key = torch.unique(key, return_inverse=True)
            span = int(key.max()) + 1
        key = key * radix + k
        span *= radix
    uniq, inverse = torch.unique(key, return_inverse=True)
    first = torch.empty(len(uniq), dtype=torch.long, device=key.device)
    first.scatter_(0, inverse, torch.arange(len(inverse), device=key.device))  # any occurrence (all hold the tuple)
    return inverse, first


class RowSum:
    """The backward of a row gather ``table[index]``: the gradient rows summed per table row, as a sparse
    ``(num_rows, index.numel())`` 0/1 matrix times the gradient. Each table row's sum runs over its own entries in a
    fixed order (tested on 1 and 2 threads), and on this project's CPU it is several times faster than
    ``F.embedding``'s backward (9 ms against 0.6 ms for 131,072 gathered rows of 16). Built once per level on the
    first backward and shared by every SPADE of the level."""

    def __init__(self, index: torch.Tensor, num_rows: int) -> None:
        self.index, self.num_rows = index.reshape(-1), num_rows
        self._matrix: torch.Tensor | None = None

    @property
    def matrix(self) -> torch.Tensor:
        if self._matrix is None:
            order = torch.argsort(self.index, stable=True)
            counts = torch.bincount(self.index, minlength=self.num_rows)
            crow = F.pad(counts.cumsum(0), (1, 0))
            ones = torch.ones(len(order), dtype=torch.float32, device=order.device)
            with warnings.catch_warnings():  # "sparse CSR support is in beta": the layout and matmul used are stable
                warnings.simplefilter("ignore", UserWarning)
                self._matrix = torch.sparse_csr_tensor(crow, order, ones, (self.num_rows, len(order)))
        return self._matrix


class _Gather(torch.autograd.Function):
    """``F.embedding(index, table)`` whose backward is :class:`RowSum` (no gradient to the indices)."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, index: torch.Tensor, rows: RowSum) -> torch.Tensor:
        ctx.rows, ctx.dtype = rows, table.dtype
        return F.embedding(index, table)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        g = grad.reshape(-1, grad.shape[-1]).float()
        return (ctx.rows.matrix @ g).to(ctx.dtype), None, None


def gather_rows(table: torch.Tensor, index: torch.Tensor, rows: RowSum) -> torch.Tensor:
    """``table[index]`` (rows), differentiable in ``table`` through ``rows`` (a :class:`RowSum` of ``index``)."""
    # without a gradient, and under torch.compile (which cannot trace the lazily built sparse matrix), the plain one
    if not (torch.is_grad_enabled() and table.requires_grad) or torch.compiler.is_compiling():
        return F.embedding(index, table)
    return _Gather.apply(table, index, rows)


class LevelGroups:
    """The distinct 3x3 and 5x5 neighbourhoods of one level's ids (shared by every SPADE of that level).

    ``rows3`` (U3, 9): for each distinct 3x3 neighbourhood, the rows of the per-(image, code, tap) table it sums;
    ``rows5`` (U5, 9): for each distinct 5x5 neighbourhood, the indices of its nine 3x3 neighbourhoods (``U3`` marks
    a position outside the image: zero padding of the hidden activations); ``inverse5`` (B, h, w): per pixel, its
    5x5 neighbourhood.
    """

    def __init__(self, ids: torch.Tensor, num_codes: int) -> None:
        b, h, w = ids.shape
        k1 = num_codes + 1  # code K: outside the image (zero seg vector)
        gid = F.pad(ids, (1, 1, 1, 1), value=num_codes) + torch.arange(b, device=ids.device)[:, None, None] * k1
        shifted = [gid[:, dy : dy + h, dx : dx + w] for dy, dx in _OFFSETS]
        inv3, first3 = _compress(shifted, b * k1)
        self.num3 = len(first3)
        self.rows3 = torch.stack([s.reshape(-1)[first3] * 9 + t for t, s in enumerate(shifted)], 1)
        u3 = F.pad(inv3.view(b, h, w), (1, 1, 1, 1), value=self.num3)
        shifted3 = [u3[:, dy : dy + h, dx : dx + w] for dy, dx in _OFFSETS]
        inv5, first5 = _compress(shifted3, self.num3 + 1)
        self.num5 = len(first5)
        self.rows5 = torch.stack([s.reshape(-1)[first5] for s in shifted3], 1)
        self.inverse5 = inv5.view(b, h, w)
        self.pixels = b * h * w
        # the gathers' backward sums (tables: the shared convolution's per-(image, code, tap) rows, the hidden
        # activations with the outside row, the per-neighbourhood gamma / beta)
        self.sum3 = RowSum(self.rows3, b * k1 * 9)
        self.sum5 = RowSum(self.rows5, self.num3 + 1)
        self.sum_pixels = RowSum(self.inverse5, self.num5)

    @classmethod
    def maybe(cls, ids: torch.Tensor, num_codes: int) -> LevelGroups | None:
        """Groups for this level if computing grouped pays (large level, few distinct neighbourhoods), else None."""
        if ids.shape[-2] * ids.shape[-1] < GROUPED_MIN_PIXELS:
            return None
        groups = cls(ids, num_codes)
        return groups if groups.num5 <= GROUPED_MAX_FRACTION * groups.pixels else None


def grouped_modulation(
    spade, codes: torch.Tensor, groups: LevelGroups, memory_format=torch.contiguous_format
) -> tuple[torch.Tensor, torch.Tensor]:
    """``spade.modulation(seg, size)`` for ``seg`` given by ``codes`` (B, K, label_nc) and ``groups``: gamma, beta
    ``(B, C, h, w)``."""
    shared = spade.mlp_shared[0]
    hidden = shared.weight.shape[0]
    codes = F.pad(codes, (0, 0, 0, 1))  # code K: zeros (outside the image)
    # table[(b, k, t)] = W_t @ codes[b, k]: the shared convolution's contribution of tap t
    table = torch.einsum("bkc,hcyx->bkyxh", codes.to(shared.weight.dtype), shared.weight).reshape(-1, hidden)
    # gathers whose backward sums in a fixed order (advanced indexing's index_put_ accumulates in whatever order
    # the threads run, so a run would not repeat bit for bit, nor resume exactly, on 2+ threads)
    act3 = torch.relu(gather_rows(table, groups.rows3, groups.sum3).sum(1) + shared.bias)  # (U3, hidden)
    act3 = F.pad(act3, (0, 0, 0, 1))  # row U3: outside the image (the gamma/beta convolutions' zero padding)
    g, bt = spade.mlp_gamma, spade.mlp_beta
    c = g.weight.shape[0]
    w_gb = torch.cat((g.weight, bt.weight)).permute(2, 3, 1, 0).reshape(9 * hidden, 2 * c)  # rows (tap, hidden)
    taps = gather_rows(act3, groups.rows5, groups.sum5).reshape(-1, 9 * hidden)
    gb = torch.addmm(torch.cat((g.bias, bt.bias)), taps, w_gb)  # (U5, 2C)
    # one gather per output (slices of one gathered tensor would cost a full-size zero fill each in the backward)
    out = []
    for table in (gb[:, :c].contiguous(), gb[:, c:].contiguous()):
        o = gather_rows(table, groups.inverse5, groups.sum_pixels).permute(0, 3, 1, 2)  # channels_last in memory
        out.append(o if memory_format is torch.channels_last else o.contiguous(memory_format=memory_format))
    return out[0], out[1]


class LevelSeg:
    """What the SPADEs of one generator level get from a :class:`SegCodes`: the level's groups where computing
    grouped pays, else the dense input at the level's size."""

    def __init__(self, seg: SegCodes, size: tuple[int, int], memory_format=torch.contiguous_format) -> None:
        self.codes, self.memory_format = seg.codes, memory_format
        self.groups = LevelGroups.maybe(seg.ids_at(size), seg.num_codes)
        self.seg = None if self.groups is not None else seg.dense(size, memory_format)

    def modulation(self, spade) -> tuple[torch.Tensor, torch.Tensor]:
        if self.groups is None:
            return spade.modulation(self.seg, self.seg.shape[-2:])
        return grouped_modulation(spade, self.codes, self.groups, self.memory_format)
