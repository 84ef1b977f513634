"""What the engine's jobs give back to the GUI: plain data (numpy arrays and recipes), no torch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.doc.recipe import NoiseRecipe


@dataclass
class GenerationResult:
    """Images for one request. ``recipes[i]`` made ``images[i]``; ``labels`` is the map they were made from."""

    stamp: int
    channel: str
    labels: np.ndarray
    recipes: list[NoiseRecipe]
    images: list[np.ndarray]
    ms: float
    device: str
    dtype: str
    model_hash: str
    tag: object = None


@dataclass
class PhotoImport:
    """A photo segmented for a canvas: the photo and its maps at the canvas size (the model's label dtype)."""

    path: str
    photo: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    source_size: tuple[int, int]  # (height, width) of the file
    ms: float


@dataclass
class WorstRegions:
    """The realism map of an image and the masks of its least realistic label regions, worst first."""

    fake: np.ndarray
    masks: list[np.ndarray]
    tag: object = None
