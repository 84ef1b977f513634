"""Label map PNG files in and out, and image exports. No Qt.

Reading: an indexed (palette) or grayscale PNG holds class ids directly and is checked against the model's classes;
a colour PNG is mapped to the nearest class colour (with a warning saying how many pixels were not exact). Writing:
an indexed PNG whose palette holds the class colours (ids up to 255), or a 16-bit grayscale PNG for larger ids,
plus ``NAME.labels.txt`` (for ``NAME.png``) with one ``id name`` line per class.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from app.doc.model_info import LabelMapError, ModelInfo
from oasis_core.files import atomic_write_text, atomic_writer, failure_reason
from oasis_core.imageio import ImageReadError, label_image, open_image

MAX_SIDE = 16384  # the largest canvas side (the project file's limit too)

#: every image file problem of this module: one sentence naming the file
ImageFileError = ImageReadError


def image_size(path: str | os.PathLike, max_side: int | None = MAX_SIDE) -> tuple[int, int]:
    """(height, width) of an image file (a label map; a photo with ``max_side=None``), from its header: nothing is
    decoded. Unreadable files, decompression bombs and (label maps) sides over ``max_side`` raise ImageFileError."""
    path = Path(path)
    with open_image(path, name=path.name, max_side=max_side, load=False) as im:
        return im.height, im.width


def read_label_map(path: str | os.PathLike, info: ModelInfo) -> tuple[np.ndarray, str | None]:
    """Read a label map for ``info``'s classes: (values in the model's label dtype, warning or None)."""
    path = Path(path)
    with open_image(path, name=path.name, max_side=MAX_SIDE) as im:
        mode = im.mode
        source = path.name
        if mode in ("P", "L", "I", "I;16", "I;16B", "I;16L", "1"):
            ids = np.asarray(im)
            if mode == "1":
                ids = ids.astype(np.uint8)
            try:
                return info.normalise(ids, source), None
            except LabelMapError:
                if mode != "P":
                    raise
                # an indexed PNG whose indices are not our ids may still use our colours
                rgb = np.asarray(im.convert("RGB"))
        elif mode in ("RGB", "RGBA", "LA", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
            rgb = np.asarray(im.convert("RGB"))
        else:
            raise ImageFileError(f"{path.name} has pixel mode {mode}, which is not a label map format.")
    values, exact = info.nearest_values(rgb)
    warning = None
    if exact < 1.0:
        warning = (
            f"{path.name} is a colour image: {100 * (1 - exact):.1f}% of its pixels were not exactly a class "
            "colour and were mapped to the nearest class."
        )
    else:
        warning = f"{path.name} is a colour image; its colours were mapped to the model's classes."
    return values, warning


def write_label_map(path: str | os.PathLike, labels: np.ndarray, info: ModelInfo) -> Path:
    """Save an indexed PNG with the class palette (or 16-bit ids) and its class list beside it, named after it
    (``NAME.png`` -> ``NAME.labels.txt``, so exports in one folder do not overwrite each other's). Returns the txt."""
    path = Path(path)
    _atomic_save(label_image(labels, info.palette()), path, "PNG")
    txt = labels_txt_path(path)
    try:
        atomic_write_text(txt, info.labels_txt())
    except OSError as exc:
        raise ImageFileError(f"{txt.name} cannot be written ({failure_reason(exc)}).") from exc
    return txt


def labels_txt_path(png: str | os.PathLike) -> Path:
    """The class list written beside a label-map PNG: ``NAME.labels.txt``."""
    png = Path(png)
    return png.with_name(f"{png.stem}.labels.txt")


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> None:
    """PNG or JPEG by suffix (other suffixes: PNG added)."""
    path = Path(path)
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}.get(path.suffix.lower())
    if fmt is None:
        raise ImageFileError(f"{path.name}: export as .png or .jpg.")
    im = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    _atomic_save(im, path, fmt, **({"quality": quality} if fmt == "JPEG" else {}))


def side_by_side(*images: np.ndarray, gap: int = 8, background: int = 24) -> np.ndarray:
    """Images of equal height next to each other with a gap: the exported comparison sheet."""
    h = max(im.shape[0] for im in images)
    w = sum(im.shape[1] for im in images) + gap * (len(images) + 1)
    sheet = np.full((h + 2 * gap, w, 3), background, dtype=np.uint8)
    x = gap
    for im in images:
        sheet[gap : gap + im.shape[0], x : x + im.shape[1]] = im[..., :3]
        x += im.shape[1] + gap
    return sheet


def _atomic_save(im: Image.Image, path: Path, fmt: str, **kw) -> None:
    try:
        with atomic_writer(path) as f:
            im.save(f, format=fmt, **kw)
    except OSError as exc:
        raise ImageFileError(f"{path.name} cannot be written ({failure_reason(exc)}).") from exc
