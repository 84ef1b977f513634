"""The generation history: one entry per generated image, enough to make it again. No Qt, no torch."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from app.doc.recipe import NoiseRecipe, RerollRegion, labels_digest

MAX_HISTORY = 500


@dataclass(eq=False)
class HistoryEntry:
    """One generated image: the labels, seeds and regions that made it (enough to make it again) and a thumbnail."""

    labels: np.ndarray
    style_seed: int
    regions: tuple[RerollRegion, ...]
    timestamp: float = field(default_factory=time.time)
    ms: float = 0.0
    device: str = ""
    dtype: str = ""
    model_hash: str = ""
    kind: str = "generate"
    thumbnail: np.ndarray | None = None
    image: np.ndarray | None = None  # full image, kept in memory only for recent entries

    def recipe(self) -> NoiseRecipe:
        h, w = self.labels.shape
        return NoiseRecipe(h, w, self.style_seed, self.regions)

    @property
    def labels_digest(self) -> str:
        return labels_digest(self.labels)
