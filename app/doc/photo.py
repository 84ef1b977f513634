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

    ``mapped_edits``: set when the segmentation was made by another model and mapped into this one's classes by
    name (it is then ``stale``, to be made again by the model now open): where the user had painted over it, found
    before the mapping (which can make a stroke equal to the mapped segmentation beneath it). Not saved: a saved
    project holds the mapped maps, which are valid ones.
    """

    photo: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    source: str = ""
    source_size: tuple[int, int] = (0, 0)  # (height, width) of the photo file
    cleanup: int = 0
    applied: np.ndarray | None = None
    mapped_edits: np.ndarray | None = None

    def __post_init__(self) -> None:
        h, w = self.labels.shape
        if self.photo.shape != (h, w, 3) or self.confidence.shape != (h, w):
            raise ValueError(
                f"photo {self.photo.shape}, labels {self.labels.shape} and confidence {self.confidence.shape} "
                "must have the same size"
            )
        if self.mapped_edits is not None and self.mapped_edits.shape != (h, w):
            raise ValueError(f"mapped_edits {self.mapped_edits.shape} must be the labels' size {(h, w)}")

    @property
    def stale(self) -> bool:
        """Another model's segmentation mapped by class name: the model now open is to make its own."""
        return self.mapped_edits is not None

    def user_edits(self, current: np.ndarray) -> np.ndarray:
        """Where the label map ``current`` holds the user's strokes: pixels that differ both from the raw
        segmentation and from the last clean-up, and those found before a mapping from another model's classes."""
        previous = self.applied if self.applied is not None else self.labels
        edited = (current != self.labels) & (current != previous)
        return edited | self.mapped_edits if self.mapped_edits is not None else edited


def cleanup_parameters(level: int, shape: tuple[int, int]) -> tuple[int, float]:
    """The clean-up slider (0 = raw segmentation .. 100 = strongest) as (smallest region in pixels, confidence
    below which pixels are refilled from their neighbours)."""
    t = max(0, min(100, int(level))) / 100
    min_region = max(1, round(shape[0] * shape[1] * 0.02 * t * t))
    return min_region, 0.6 * t


def keep_user_edits(cleaned: np.ndarray, current: np.ndarray, photo: PhotoReference) -> np.ndarray:
    """A new clean-up or segmentation that keeps what the user painted (:meth:`PhotoReference.user_edits`): those
    pixels stay as they are."""
    edited = photo.user_edits(current)
    out = np.array(cleaned, dtype=current.dtype, copy=True)
    out[edited] = current[edited]
    return out
