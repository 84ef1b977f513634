"""Shared helpers for the app tests: tiny random-weight model files and Qt set-up (offscreen)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


def make_tiny_model(
    path: Path,
    space: str = "landscapes",
    with_discriminator: bool = False,
    natural_size: tuple[int, int] = (64, 64),
    seed: int = 0,
    name: str | None = None,
) -> Path:
    """A real model file with random weights and small widths (generates 64x64 in milliseconds)."""
    import torch

    from oasis_core import labels
    from oasis_core.checkpoint import save_checkpoint
    from oasis_core.config import DiscriminatorConfig, GeneratorConfig
    from oasis_core.nn import Discriminator, Generator

    torch.manual_seed(seed)
    ls = labels.get(space)
    g = Generator(GeneratorConfig(semantic_nc=ls.num_channels, ch=4, spade_hidden=8, z_dim=8))
    # the paper's init (gain 0.02) gives a nearly flat image; a larger gain makes labels and noise visible
    g.init_weights(gain=1.0)
    d = None
    if with_discriminator:
        d = Discriminator(DiscriminatorConfig(semantic_nc=ls.num_channels, channels=(3, 8, 8, 8, 8, 8, 8)))
        d.init_weights(gain=1.0)
    return save_checkpoint(
        path, g, d, label_space=ls, name=name or f"tiny {space}", natural_size=natural_size
    )


def image_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference per pixel over the colour channels."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=-1)
