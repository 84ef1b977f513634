"""Noise fields for the generator: seeded sampling, replication, masked resampling with a strength.

Pure functions over torch tensors. Every random draw takes an explicit seed or ``torch.Generator`` (CPU), so a
scene plus its seeds reproduces the same noise bit for bit on every machine.
"""

from __future__ import annotations

import math

import torch


def _generator(seed: int | torch.Generator) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"a seed must be an int or a torch.Generator, got {type(seed).__name__}")
    return torch.Generator().manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)


def sample_vector(z_dim: int, seed: int | torch.Generator) -> torch.Tensor:
    """One standard-normal noise vector ``(z_dim,)``."""
    return torch.randn(z_dim, generator=_generator(seed))


def sample_vectors(batch: int, z_dim: int, seed: int | torch.Generator) -> torch.Tensor:
    """``(batch, z_dim)`` standard-normal vectors from one seed."""
    return torch.randn(batch, z_dim, generator=_generator(seed))


def replicate(z: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The paper's behaviour: one vector repeated over the image.

    ``(z,)`` -> ``(z, H, W)``; ``(B, z)`` -> ``(B, z, H, W)``.
    """
    return z[..., None, None].expand(*z.shape, height, width).contiguous()


def sample_field(z_dim: int, height: int, width: int, seed: int | torch.Generator) -> torch.Tensor:
    """A ``(z_dim, H, W)`` field holding one seeded vector everywhere."""
    return replicate(sample_vector(z_dim, seed), height, width)


def blend(old: torch.Tensor, new: torch.Tensor, strength: float) -> torch.Tensor:
    """``cos(s*pi/2) old + sin(s*pi/2) new``: unit variance is kept for independent unit-variance inputs."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    a = math.cos(strength * math.pi / 2)
    b = math.sin(strength * math.pi / 2)
    if strength == 1.0:
        a = 0.0
    return a * old + b * new


def resample_in_mask(noise: torch.Tensor, mask: torch.Tensor, new: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """Blend ``new`` into ``noise`` where ``mask`` is true; outside the mask the result equals ``noise`` exactly.

    noise, new: ``(z, H, W)`` or ``(B, z, H, W)``; mask: ``(H, W)`` bool (or broadcastable to the noise's last axes).
    """
    if noise.shape != new.shape:
        raise ValueError(f"noise shapes differ: {tuple(noise.shape)} vs {tuple(new.shape)}")
    mask = torch.as_tensor(mask, dtype=torch.bool, device=noise.device)
    if mask.shape[-2:] != noise.shape[-2:]:
        raise ValueError(f"mask {tuple(mask.shape)} does not match the noise size {tuple(noise.shape[-2:])}")
    return torch.where(mask, blend(noise, new, strength), noise)


def reroll(noise: torch.Tensor, mask: torch.Tensor, seed: int | torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Resample the noise inside ``mask`` with a fresh seeded vector (replicated over the region)."""
    z_dim, h, w = noise.shape[-3:]
    new = replicate(sample_vector(z_dim, seed), h, w).to(noise)
    if noise.dim() == 4:
        new = new.expand_as(noise)
    return resample_in_mask(noise, mask, new, strength)


def reroll_per_class(
    noise: torch.Tensor,
    channels: torch.Tensor,
    classes: list[int],
    seed: int | torch.Generator,
    strength: float = 1.0,
) -> torch.Tensor:
    """Give each class in ``classes`` (channel indices of ``channels`` (H, W)) its own fresh vector."""
    gen = _generator(seed)
    out = noise
    for c in classes:
        out = reroll(out, channels == c, gen, strength)
    return out
