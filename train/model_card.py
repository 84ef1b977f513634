"""Sample sheets for model cards: rows of label map | noise draw A | noise draw B | reroll of a region."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from oasis_core.files import atomic_write_bytes
from oasis_core.imageio import open_image, png_bytes
from oasis_core.labels import resize_nearest
from oasis_core.synthesizer import Synthesizer


def sample_sheet(
    model: str | Path, label_files: list[Path], out: str | Path, seeds: tuple[int, int] = (1, 2), reroll_seed: int = 99
) -> Path:
    """Label maps from files (their values are the model's label-file values) at the model's natural size.

    Columns: label map in class colours, two noise draws, and draw A with the centre quarter rerolled.
    """
    syn = Synthesizer.load(model, dtype="fp32")
    h, w = syn.natural_size
    rows = []
    for path in label_files:
        with open_image(path) as im:
            values = np.asarray(im).astype(np.int64)
        values = resize_nearest(values, (h, w))
        a = syn.sample_noise(h, w, seeds[0])
        b = syn.sample_noise(h, w, seeds[1])
        mask = np.zeros((h, w), dtype=bool)
        mask[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
        rerolled = syn.reroll(a, mask, reroll_seed)
        imgs = syn.generate(values, [a, b, rerolled])
        rows.append(np.concatenate([syn.label_space.colourize(values), *imgs], axis=1))
    sheet = Image.fromarray(np.concatenate(rows, axis=0))
    atomic_write_bytes(out, png_bytes(sheet, optimize=True))
    return Path(out)
