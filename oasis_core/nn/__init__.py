"""OASIS networks: generator, discriminator and their building blocks."""

from oasis_core.nn.discriminator import Discriminator
from oasis_core.nn.generator import Generator
from oasis_core.nn.spectral import fold_spectral_norm, from_official_keys, to_official_keys

__all__ = ["Discriminator", "Generator", "fold_spectral_norm", "from_official_keys", "to_official_keys"]
