"""Noise for the fast path: :class:`NoiseLayout`, a batch of noise fields as a few vectors and an id map each (from
:class:`oasis_core.noise.NoiseField` s as they are, or found in dense fields by :func:`analyse_noise`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from oasis_core.noise import NoiseField, distinct_vectors


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


def analyse_noise(noise: torch.Tensor, max_vectors: int = 256) -> NoiseLayout | None:
    """Find the distinct noise vectors of each image of ``(B, z, H, W)``; ``None`` when some image holds more
    than ``max_vectors`` or a non-finite value, which sends the generator down the dense path.

    The vectors are found as the grain is (:func:`oasis_core.noise.distinct_vectors`): grouped by a hash of a few
    channels' bits, then every pixel compared exactly with its group's vector.
    """
    vectors: list[torch.Tensor] = []
    ids: list[torch.Tensor | None] = []
    for field in noise:
        found = distinct_vectors(field, max_vectors)
        if found is None or not bool(torch.isfinite(found[0]).all()):  # non-finite noise: the dense path
            return None
        vectors.append(found[0].contiguous())
        ids.append(found[1])
    return NoiseLayout(vectors, ids)
