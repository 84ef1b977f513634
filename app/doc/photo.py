"""The photo layer of a scene imported from a photo: the photo, the segmentation the label map started from, and the
clean-up that keeps the user's own strokes. No Qt, no torch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(eq=False)
class PhotoReference:
    """An imported photo at the canvas size: the reference layer and the segmentation the label map started from.

    ``labels`` is the raw segmentation and ``confidence`` its per-pixel confidence in [0, 1]; ``applied`` is the map
    the last clean-up wrote (None before any), ``cleanup`` its level (0..100). Not part of undo: it describes where
    the scene came from, not what it is now.
    """

    photo: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    source: str = ""
    source_size: tuple[int, int] = (0, 0)  # (height, width) of the photo file
    cleanup: int = 0
    applied: np.ndarray | None = None

    def __post_init__(self) -> None:
        h, w = self.labels.shape
        if self.photo.shape != (h, w, 3) or self.confidence.shape != (h, w):
            raise ValueError(
                f"photo {self.photo.shape}, labels {self.labels.shape} and confidence {self.confidence.shape} "
                "must have the same size"
            )


def cleanup_parameters(level: int, shape: tuple[int, int]) -> tuple[int, float]:
    """The clean-up slider (0 = raw segmentation .. 100 = strongest) as (smallest region in pixels, confidence
    below which pixels are refilled from their neighbours)."""
    t = max(0, min(100, int(level))) / 100
    min_region = max(1, round(shape[0] * shape[1] * 0.02 * t * t))
    return min_region, 0.6 * t


def keep_user_edits(cleaned: np.ndarray, current: np.ndarray, photo: PhotoReference) -> np.ndarray:
    """A new clean-up result that keeps what the user painted: pixels that differ both from the raw segmentation
    and from the last clean-up are the user's and stay as they are."""
    previous = photo.applied if photo.applied is not None else photo.labels
    edited = (current != photo.labels) & (current != previous)
    out = np.array(cleaned, dtype=current.dtype, copy=True)
    out[edited] = current[edited]
    return out
