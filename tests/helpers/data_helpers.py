"""Training data made in the test: real image and label files in a dataset layout, for the machines (a user's
clone, CI) that have no ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_landscapes_folder(root: Path, train: int = 6, val: int = 2, size: int = 64) -> Path:
    """A small dataset in the landscapes layout (``{train,val}/{images,labels}``), drawn here: sky over ground with
    a blob, each class in its own colour plus noise. Real files, no ../shared needed."""
    from oasis_core.labels import get

    space = get("landscapes")
    values = space.file_values
    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("val", val)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for i in range(n):
            lab = np.full((size, size), values[1], np.uint8)
            lab[size // 2 :] = values[int(rng.integers(2, len(values)))]
            y, x = rng.integers(8, size - 8, 2)
            lab[y - 6 : y + 6, x - 6 : x + 6] = values[int(rng.integers(2, len(values)))]
            pal = {v: np.asarray(c, np.int16) for v, c in zip(values, space.colours)}
            img = np.zeros((size, size, 3), np.int16)
            for v, c in pal.items():
                img[lab == v] = c
            img = np.clip(img + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / split / "images" / f"{i:03d}.jpg", quality=95)
            Image.fromarray(lab).save(root / split / "labels" / f"{i:03d}.png")
    return root
