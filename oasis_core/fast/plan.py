"""What is computed once per label map and kept: the plan (keys of (label, noise vector) pairs, per-level pattern
geometry) and the reused workspace buffers of a stream of work."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class _Stream:
    """One stream of work: its reused NHWC buffers, so that the big per-call tensors do not touch fresh memory
    every call (page faults dominate the cost of fresh allocations on CPUs, most of all in threads other than the
    main one), and its cached upsampling indices."""

    def __init__(self, device: torch.device):
        self.device = device
        self.buffers: dict[tuple, torch.Tensor] = {}
        self.up_index: dict[tuple, torch.Tensor] = {}

    def get(self, role: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        key = (role, tuple(shape), dtype)
        buf = self.buffers.get(key)
        if buf is None:
            buf = self.buffers[key] = torch.empty(shape, dtype=dtype, device=self.device)
        return buf

    @property
    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self.buffers.values())

    def clear(self) -> None:
        self.buffers.clear()
        self.up_index.clear()


@dataclass
class _Geometry:
    """The pattern groups of one level for one key map (labels + noise layout); independent of the noise values.

    Activation rows: ``[0, u_cap)`` one per key (uniform 3x3 neighbourhood), then ``pats3`` from ``u_cap``, then
    zero rows (free room for incremental updates) up to ``n3``, which is the zero row for outside the image.
    Gamma/beta rows: ``[0, n3)`` one per activation row (uniform 5x5 neighbourhood), then ``pats5`` from ``n3``.
    """

    pid: torch.Tensor  # (h*w,) gamma/beta row of every cell, in [0, n_rows)
    pid3: torch.Tensor  # (h*w,) activation row of every cell (kept for incremental updates)
    pats3: torch.Tensor  # (P, 9) key neighbourhoods of the mixed mlp_shared patterns (outside = u_cap)
    pats5: torch.Tensor  # (Q, 9) activation-row neighbourhoods of the mixed gamma/beta patterns (outside = n3)
    n3: int
    n_rows: int  # n3 + Q


@dataclass
class _Plan:
    """Everything label-dependent for one key map: the key table and the per-level geometry (built on first use,
    then kept with the cached plan).

    Keys ``[0, n_keys)`` are (label, noise vector) pairs; ``[n_keys, u_cap)`` is free room for keys that an
    incremental update adds (their table rows are computed but never looked up). ``key_noise`` is empty when every
    image has one noise vector (keys are labels), else per image the vector id of each key. ``parent``: the plan
    this one was derived from (a stroke or a reroll away), whose levels are updated instead of rebuilt."""

    n_keys: int
    u_cap: int
    key_label: torch.Tensor  # (u_cap,) label channel of each key
    key_noise: list[torch.Tensor]  # per image: (u_cap,) noise-vector id of each key; [] for label keys
    kmap: torch.Tensor  # (H, W) key of every pixel
    levels: list[_Geometry | None]
    lab: torch.Tensor  # (H*W,) label channels
    key_live: torch.Tensor | None = None  # (u_cap,) False for keys whose vector the layout no longer holds
    parent: _Plan | None = None


def _key_room(n: int) -> int:
    return n + max(16, n)


def _row_room(n: int) -> int:
    return n + max(64, n // 2)
