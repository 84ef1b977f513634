"""Training data made in the test: real image and label files in a dataset layout, for the machines (a user's
clone, CI) that have no ../shared/data."""

from __future__ import annotations

from pathlib import Path

from train.data.synthetic import make_synthetic_landscapes


def make_landscapes_folder(root: Path, train: int = 6, val: int = 2, size: int = 64) -> Path:
    """A small dataset in the landscapes layout (``{train,val}/{images,labels}``), drawn here: sky over ground with
    a blob, each class in its own colour plus noise. Real files, no ../shared needed."""
    return make_synthetic_landscapes(root, train, val, size)
