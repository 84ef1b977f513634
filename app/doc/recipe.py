"""The noise recipe of a scene: a style seed and the reroll regions laid over it, in order. No Qt, no torch.

The noise the generator sees is fully described by a ``NoiseRecipe``: the style seed draws one vector per image, then
each reroll region, in order, resamples the noise inside its mask with its own seed and strength (ramping in over
its soft border). So a scene plus its recipe reproduces the same image on the same device and dtype; the engine
turns a recipe into the library's noise field (``oasis_core.noise``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

MAX_SEED = 2**31 - 1
# soft reroll borders, px: the library's limits (oasis_core.noise.MAX_FEATHER / DEFAULT_FEATHER, where the default
# is measured); the document does not import the library, tests/app/test_engine.py checks that they agree
MAX_FEATHER = 256
DEFAULT_FEATHER = 24
# the form of the soft border's ramp (oasis_core.noise.FEATHER_RAMPS): new rerolls get the smooth one; project files
# from before it have 4 equal steps ("steps") and keep them, so they open with the images they were saved with
FEATHER_RAMPS = ("smooth", "steps")
DEFAULT_RAMP = "smooth"
LEGACY_RAMP = "steps"


def readonly_copy(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


def labels_digest(labels: np.ndarray) -> str:
    h = hashlib.sha1(f"{labels.shape}{labels.dtype.str}".encode())
    h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class RerollRegion:
    """Noise inside ``mask`` (H, W bool, read-only) redrawn with ``seed`` and blended with ``strength`` in [0, 1];
    the strength ramps up over ``feather`` px from the mask's edge (a soft border, :func:`oasis_core.noise.
    feather_rings`; 0: a hard edge, as files without the field have) in the form ``ramp`` (``FEATHER_RAMPS``)."""

    mask: np.ndarray
    seed: int
    strength: float = 1.0
    feather: int = 0
    ramp: str = DEFAULT_RAMP

    @staticmethod
    def make(
        mask: np.ndarray, seed: int, strength: float = 1.0, feather: int = 0, ramp: str = DEFAULT_RAMP
    ) -> RerollRegion:
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 2:
            raise ValueError(f"a reroll mask must be 2-D, got shape {mask.shape}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"reroll strength must be in [0, 1], got {strength}")
        if not 0 <= int(feather) <= MAX_FEATHER:
            raise ValueError(f"the soft border must be 0 to {MAX_FEATHER} px, got {feather}")
        if ramp not in FEATHER_RAMPS:
            raise ValueError(f"unknown soft border ramp {ramp!r}: use one of {', '.join(FEATHER_RAMPS)}")
        return RerollRegion(readonly_copy(mask), int(seed) & MAX_SEED, float(strength), int(feather), ramp)

    def __post_init__(self) -> None:
        if not self.feather and self.ramp != DEFAULT_RAMP:  # a hard edge has no ramp: one key for the same noise
            object.__setattr__(self, "ramp", DEFAULT_RAMP)

    @property
    def key(self) -> tuple:
        """What decides this region's noise besides the field it is laid over (cache keys)."""
        return (self.digest, self.seed, self.strength, self.feather, self.ramp)

    @cached_property
    def digest(self) -> str:
        """A digest of the mask, computed once (the recipe's cache keys use it on every frame)."""
        return labels_digest(self.mask.view(np.uint8))

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True, eq=False)
class NoiseRecipe:
    """Everything that decides the noise field of one generation."""

    height: int
    width: int
    style_seed: int
    regions: tuple[RerollRegion, ...] = ()

    def key(self) -> tuple:
        regions = tuple(r.key for r in self.regions)
        return (self.height, self.width, self.style_seed, regions)

    def with_region(self, region: RerollRegion) -> NoiseRecipe:
        return replace(self, regions=(*self.regions, region))


# where fresh seeds come from: entropy from the OS (the test suite swaps in a seeded generator, so a test that
# imports a photo or rerolls a region sees the same seeds on every run)
SEED_SOURCE = np.random.default_rng()


def random_seed() -> int:
    """A fresh seed, short enough to read and type (any value up to MAX_SEED is accepted)."""
    return int(SEED_SOURCE.integers(0, 1_000_000))
