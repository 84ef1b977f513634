"""Noise for the fast path: :class:`NoiseLayout`, a batch of noise fields as a few vectors and an id map each (from
:class:`oasis_core.noise.NoiseField` s as they are, or found in dense fields by :func:`analyse_noise`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from oasis_core.fast.patterns import _compact, _first_index
from oasis_core.noise import NoiseField


@dataclass
class NoiseLayout:
    """A noise batch ``(B, z, H, W)`` as a few vectors per image plus, per image, a map of vector ids.

    ``vectors[b]`` is ``(K_b, z)``; ``ids[b]`` is ``(H*W,)`` int64 in ``[0, K_b)``, or ``None`` when ``K_b == 1``.
    """

    vectors: list[torch.Tensor]
    ids: list[torch.Tensor | None]

    @property
    def batch(self) -> int:
        return len(self.vectors)

    def to(self, device: torch.device) -> NoiseLayout:
        """The same layout with its tensors on ``device`` (itself when they are there already)."""
        tensors = [*self.vectors, *(i for i in self.ids if i is not None)]
        if all(t.device == device for t in tensors):
            return self
        ids = [None if i is None else i.to(device) for i in self.ids]
        return NoiseLayout([v.to(device) for v in self.vectors], ids)

    @classmethod
    def of_fields(cls, fields: list[NoiseField]) -> NoiseLayout:
        """The batch of compact noise fields (:class:`oasis_core.noise.NoiseField`), as they are."""
        return cls([f.vectors for f in fields], [None if f.ids is None else f.ids.reshape(-1) for f in fields])

    @classmethod
    def replicated(cls, vectors: torch.Tensor) -> NoiseLayout:
        """One vector per image ``(B, z)``, replicated over the image (the paper's noise)."""
        return cls([v[None] for v in vectors.float()], [None] * vectors.shape[0])


def _distinct(code: torch.Tensor, limit: int = 16) -> tuple[torch.Tensor, int]:
    """Dense ids of the distinct values of ``code`` (1-D int64): by repeated max while there are few, else sort."""
    ids = torch.empty_like(code)
    rest = code.clone()
    low = torch.iinfo(torch.long).min
    for j in range(limit):
        top = rest.max()
        if int(top) == low:
            return ids, j
        hit = rest == top
        ids.masked_fill_(hit, j)
        rest.masked_fill_(hit, low)
    if int(rest.max()) == low:
        return ids, limit
    return _compact(code)


def _same_vectors(vec: torch.Tensor, ids: torch.Tensor, field: torch.Tensor, block: int = 8) -> bool:
    """Exactly ``field[:, p] == vec[:, ids[p]]`` for every pixel (NaN never matches), a few channels at a time."""
    for c in range(0, field.shape[0], block):
        want = vec[c : c + block].index_select(1, ids)
        if float(want.sub_(field[c : c + block]).abs_().amax()) != 0.0:
            return False
    return True


def analyse_noise(noise: torch.Tensor, max_vectors: int = 256) -> NoiseLayout | None:
    """Find the distinct noise vectors of each image of ``(B, z, H, W)``; ``None`` when some image holds more
    than ``max_vectors`` (or the exact check fails), which sends the generator down the dense path.

    Grouping uses a hash of the bit patterns of a few channels; every pixel is then compared exactly, all channels,
    with the vector of its group.
    """
    b_, zd, h, w = noise.shape
    vectors: list[torch.Tensor] = []
    ids: list[torch.Tensor | None] = []
    n_hash = min(zd, 8)
    for b in range(b_):
        zb = noise[b].reshape(zd, h * w)
        if torch.equal(zb.amin(dim=1), zb.amax(dim=1)):  # one vector everywhere (NaN never compares equal)
            vectors.append(zb[:, :1].t().float().contiguous())
            ids.append(None)
            continue
        bits = zb[:n_hash].float().contiguous().view(torch.int32)
        code = torch.zeros(h * w, dtype=torch.long, device=noise.device)
        for c in range(n_hash):  # wrapping int64 arithmetic: any collision is caught by the exact check
            code.mul_(0x9E3779B97F4A7C1).add_(bits[c])
        inverse, k = _distinct(code)
        if k > max_vectors:
            return None
        vec = zb[:, _first_index(inverse, k)]  # (z, K)
        if not _same_vectors(vec, inverse, zb):
            return None
        vectors.append(vec.t().float().contiguous())
        ids.append(inverse)
    return NoiseLayout(vectors, ids)
