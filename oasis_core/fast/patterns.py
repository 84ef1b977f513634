"""Keys and patterns: dense ids of distinct values and rows, 3x3 and 5x5 neighbourhood patterns, row buffers and
digests (see docs/fast-path.md)."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F

_TAPS = [(dy, dx) for dy in range(3) for dx in range(3)]  # tap t = dy * 3 + dx of a 3x3 kernel
_CODE_LIMIT = 1 << 62


def _compact(code: torch.Tensor, span: int | None = None) -> tuple[torch.Tensor, int]:
    """Integer codes (in ``[0, span)`` when ``span`` is given) -> dense ids ``0..n-1`` in code order, and ``n``."""
    if span is not None and span <= 4 * code.numel() + 4096:  # a counting pass instead of a sort
        present = torch.bincount(code, minlength=span) > 0
        remap = torch.cumsum(present, 0) - 1
        return remap[code], int(present.sum())
    uniq, inverse = torch.unique(code, sorted=True, return_inverse=True)
    return inverse, int(uniq.numel())


def _first_index(inverse: torch.Tensor, n: int) -> torch.Tensor:
    """For each id ``0..n-1`` in ``inverse`` the position of one element holding it."""
    pos = torch.arange(inverse.numel(), device=inverse.device)
    return torch.empty(n, dtype=torch.long, device=inverse.device).scatter_(0, inverse, pos)


def _unique_rows(rows: torch.Tensor, base: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact unique rows of a ``(M, k)`` integer matrix with values in ``[0, base)``: ``(unique_rows, inverse)``.

    Columns are packed into one int64 code while it fits, re-compacted with ``unique`` whenever it would overflow.
    """
    code = rows[:, 0].clone()
    span = base
    for j in range(1, rows.shape[1]):
        if span * base >= _CODE_LIMIT:
            code, span = _compact(code, span)
        code = code * base + rows[:, j]
        span *= base
    inverse, n = _compact(code, span)
    return rows[_first_index(inverse, n)], inverse


def _patterns(kmap: torch.Tensor, n_values: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Group the pixels of ``kmap`` (h, w) by the exact 3x3 neighbourhood of values (zero padding = ``n_values``).

    Returns ``pid`` (h*w,) and ``pats`` (P, 9): a pixel whose neighbourhood is uniform gets its own value as id
    (``0..n_values-1``); the others get ``n_values + j`` where ``pats[j]`` is their neighbourhood (taps in
    ``_TAPS`` order, values in ``[0, n_values]``).
    """
    kp = F.pad(kmap[None, None], (1, 1, 1, 1), value=n_values)[0, 0]
    return _window_patterns(kp, n_values + 1, n_values)


def _window_patterns(kp: torch.Tensor, bound: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_patterns` of the inner (h, w) cells of ``kp`` (h + 2, w + 2), whose border holds their neighbours
    (or the padding value): values in ``[0, bound)``, mixed neighbourhoods numbered from ``offset``."""
    w = kp.shape[1] - 2
    # mixed where the 3x3 max and min differ (separable: rows, then columns)
    rmax = torch.maximum(torch.maximum(kp[:, :-2], kp[:, 1:-1]), kp[:, 2:])
    rmin = torch.minimum(torch.minimum(kp[:, :-2], kp[:, 1:-1]), kp[:, 2:])
    mixed = torch.maximum(torch.maximum(rmax[:-2], rmax[1:-1]), rmax[2:]) != torch.minimum(
        torch.minimum(rmin[:-2], rmin[1:-1]), rmin[2:]
    )
    pid = kp[1:-1, 1:-1].reshape(-1).clone()
    idx = mixed.reshape(-1).nonzero().squeeze(1)
    if idx.numel() == 0:
        return pid, torch.empty((0, 9), dtype=torch.long, device=kp.device)
    base = (idx // w) * (w + 2) + (idx % w)
    offsets = torch.tensor([dy * (w + 2) + dx for dy, dx in _TAPS], device=kp.device)
    rows = kp.reshape(-1)[base[:, None] + offsets[None, :]]
    pats, inverse = _unique_rows(rows, bound)
    pid[idx] = offset + inverse
    return pid, pats


def _bucket(m: int) -> int:
    """A matmul row count rounded up to one of 8 sizes per octave (at most 12.5% more rows). oneDNN builds a kernel
    for every new shape (about a millisecond each), and every new plan brings new row counts: with buckets the
    shapes repeat and the kernels come from its cache."""
    if m <= 64:
        return 64
    e = m.bit_length() - 4
    return -(-m >> e) << e


def _row_buffer(m: int, cols: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A ``(_bucket(m), cols)`` matmul input whose rows past ``m`` are zero (never read back, but a NaN there can
    reach the other rows in oneDNN's bf16 kernels); the caller fills the first ``m``."""
    buf = torch.empty((_bucket(m), cols), dtype=dtype, device=device)
    buf[m:].zero_()
    return buf


def _matmul(bias: torch.Tensor | None, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x @ w (+ bias)`` with the row count of ``x`` padded to a :func:`_bucket` size (zero rows, never read
    back)."""
    m = x.shape[0]
    xp = _row_buffer(m, x.shape[1], x.dtype, x.device)
    xp[:m] = x
    out = torch.mm(xp, w) if bias is None else torch.addmm(bias, xp, w)
    return out[:m]


def _digest(t: torch.Tensor | np.ndarray) -> bytes:
    a = t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
    h = hashlib.blake2b(np.ascontiguousarray(a).view(np.uint8).reshape(-1), digest_size=16)
    h.update(repr((a.shape, a.dtype.str)).encode())
    return h.digest()
