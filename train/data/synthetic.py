"""A small dataset drawn in code, in the landscapes layout: for the machines that have no ``../shared/data`` (a
user's clone, CI, a GPU machine with nothing beside the working tree) and the checks that need real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_synthetic_landscapes(root: str | Path, train: int = 6, val: int = 2, size: int = 64, seed: int = 0) -> Path:
    """``{train,val}/{images,labels}`` under ``root``: sky over ground with a square blob, each class in its
    own colour plus noise (JPEG images, indexed label PNGs in the landscapes label values). Returns ``root``."""
    from oasis_core.labels import get

    root = Path(root)
    space = get("landscapes")
    values = space.file_values
    pal = {v: np.asarray(c, np.int16) for v, c in zip(values, space.colours)}
    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("val", val)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for i in range(n):
            lab = np.full((size, size), values[1], np.uint8)
            lab[size // 2 :] = values[int(rng.integers(2, len(values)))]
            y, x = rng.integers(8, size - 8, 2)
            lab[y - 6 : y + 6, x - 6 : x + 6] = values[int(rng.integers(2, len(values)))]
            img = np.zeros((size, size, 3), np.int16)
            for v, c in pal.items():
                img[lab == v] = c
            img = np.clip(img + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / split / "images" / f"{i:03d}.jpg", quality=95)
            Image.fromarray(lab).save(root / split / "labels" / f"{i:03d}.png")
    return root
