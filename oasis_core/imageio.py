"""Reading and writing images and label maps safely (size limits, clear errors, atomic writes)."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from oasis_core.files import atomic_write_bytes
from oasis_core.labels import LabelSpace

# Larger images are refused before decoding (a 6000x4000 photo is 24 MP; this allows about 8x that).
MAX_PIXELS = 200_000_000


class ImageReadError(ValueError):
    """An image or label map cannot be used; the message names the file."""


def open_image(
    source: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    max_pixels: int = MAX_PIXELS,
    max_side: int | None = None,
    formats: tuple[str, ...] | None = None,
    load: bool = True,
) -> Image.Image:
    """Open and decode an image safely: a file path or a file's bytes (``name`` then says what it is in messages).

    The size is checked from the header before anything is decoded: more than ``max_pixels`` pixels (a decompression
    bomb) or a side longer than ``max_side`` is refused, as is a format outside ``formats`` (PIL names such as
    "PNG"). Every problem raises :class:`ImageReadError` in one sentence naming the file.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "the image"
        fp: object = io.BytesIO(source)
    else:
        path = Path(source)
        label = name or str(path)
        if not path.is_file():
            raise ImageReadError(f"{label}: no such file")
        fp = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp)
            if formats is not None and img.format not in formats:
                raise ImageReadError(f"{label} is a {img.format} image, not {' or '.join(formats)}")
            w, h = img.size
            if w * h > max_pixels:
                raise ImageReadError(
                    f"{label} is {w}x{h} pixels, more than the {max_pixels:,} this tool decodes (a decompression bomb "
                    "or an unreasonably large image); downscale it first"
                )
            if max_side is not None and max(w, h) > max_side:
                raise ImageReadError(f"{label} is {w}x{h}, larger than {max_side} pixels a side")
            if load:
                img.load()
            return img
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"{label} is too large to decode safely ({exc})") from None
    except Exception as exc:  # PIL raises many kinds (OSError, SyntaxError, ValueError, zlib.error) on damaged data
        raise ImageReadError(f"{label} is not a readable image ({exc})") from None


def read_npy(path: str | os.PathLike, what: str, max_elements: int = MAX_PIXELS * 4) -> np.ndarray:
    """A ``.npy`` array, never unpickled; its header's shape and dtype are checked before the data is read, so a
    header that claims a huge shape is refused in one sentence instead of allocating. ``what`` names the array in
    messages ("a label array")."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"{path} is not a readable .npy array ({exc})") from None
    if dtype.hasobject:
        raise ImageReadError(f"{path}: {what} cannot hold Python objects (pickled data is never read)")
    n = int(np.prod(shape, dtype=object)) if shape else 1
    if n > max_elements:
        dims = "x".join(map(str, shape))
        raise ImageReadError(f"{path}: {what} of shape {dims} is larger than the {max_elements:,} values read")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ImageReadError(f"{path} is not a readable .npy array ({exc})") from None


def read_rgb(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A photo as (H, W, 3) uint8. 16-bit and 32-bit grayscale photos are scaled to 8 bits (not clipped)."""
    img = open_image(path, max_pixels=max_pixels)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.nan_to_num(np.asarray(img, dtype=np.float64))
        # 16-bit grayscale (PIL opens it as I;16 or I): 0..65535 -> 0..255; 8-bit values in a wider mode stay
        wide = img.mode.startswith("I;16") or (a.size > 0 and float(a.max()) > 255)
        grey = np.clip(a * (255.0 / 65535.0) if wide else a, 0, 255).round().astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(img.convert("RGB"))


def read_label_values(
    path: str | os.PathLike, space: LabelSpace | None = None, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray, str | None]:
    """A label map's values (H, W) int64 and a warning (or None).

    ``.npy`` files are read without pickle. PNG/other images: indexed (mode P) and grayscale pixels are the ids; a
    colour image is mapped to the nearest class colour of ``space`` (with a warning saying how many pixels were
    not exact). Values are validated against ``space`` when given.
    """
    path = Path(path)
    warning = None
    if path.suffix.lower() == ".npy":
        arr = read_npy(path, "a label array", max_elements=max_pixels)
        if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ImageReadError(f"{path}: a label array must be 2-D integer ids, got shape {arr.shape} {arr.dtype}")
        if np.issubdtype(arr.dtype, np.floating) and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise ImageReadError(f"{path}: a label array must hold whole-number ids; it has fractional or NaN values")
        values = arr.astype(np.int64)
    else:
        img = open_image(path, max_pixels=max_pixels)
        if img.mode in ("P", "L", "I", "I;16", "I;16B", "I;16L"):
            values = np.asarray(img).astype(np.int64)
        elif img.mode in ("RGB", "RGBA", "LA", "PA"):
            rgb = np.asarray(img.convert("RGB"))
            if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
                values = rgb[..., 0].astype(np.int64)  # grayscale stored as RGB
            elif space is None:
                raise ImageReadError(f"{path} is a colour image; a label map needs ids (indexed or grayscale PNG)")
            else:
                values, exact = space.nearest_values(rgb)
                warning = (
                    f"{path.name} is a colour image: mapped to the nearest class colours of {space.name!r} "
                    f"({exact:.1%} of pixels matched a class colour exactly)"
                )
        else:
            raise ImageReadError(f"{path}: unsupported image mode {img.mode} for a label map")
    if space is not None:
        try:
            space.to_channels(values)
        except ValueError as exc:
            raise ImageReadError(f"{path}: {exc}") from None
    return values, warning


def png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def encode_image(rgb: np.ndarray, path: str | os.PathLike, quality: int = 95) -> bytes:
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image type (use .png, .jpg or .webp)")
    buf = io.BytesIO()
    kw = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_rgb(path: str | os.PathLike, rgb: np.ndarray, quality: int = 95) -> None:
    atomic_write_bytes(path, encode_image(rgb, path, quality))


def indexed_image(values: np.ndarray, palette: np.ndarray) -> Image.Image:
    """Values (H, W) in 0..255 -> a mode-P image with ``palette`` ((n <= 256, 3) uint8, indexed by value)."""
    values = np.asarray(values)
    if values.min(initial=0) < 0 or values.max(initial=0) > 255:
        raise ValueError("label values above 255 cannot be stored in an indexed PNG")
    v8 = np.ascontiguousarray(values, dtype=np.uint8)
    img = Image.frombytes("P", (v8.shape[1], v8.shape[0]), v8.tobytes())
    img.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
    return img


def label_image(values: np.ndarray, palette: np.ndarray) -> Image.Image:
    """A label map as an image: indexed with ``palette`` where every value fits in 8 bits, else 16-bit grayscale."""
    values = np.asarray(values)
    if values.max(initial=0) < 256:
        return indexed_image(values, palette)
    return Image.fromarray(np.ascontiguousarray(values, dtype=np.uint16))


def indexed_label_image(values: np.ndarray, space: LabelSpace) -> Image.Image:
    """Label-file values -> mode-P image with the label space's palette (values must fit in 0..255)."""
    return indexed_image(values, space.palette_values())


def write_label_png(path: str | os.PathLike, values: np.ndarray, space: LabelSpace) -> None:
    atomic_write_bytes(path, png_bytes(indexed_label_image(values, space)))


def write_gray_png(path: str | os.PathLike, values01: np.ndarray) -> None:
    """A float map in [0, 1] as an 8-bit grayscale PNG."""
    img = Image.fromarray((np.clip(values01, 0, 1) * 255).round().astype(np.uint8))
    atomic_write_bytes(path, png_bytes(img))


def write_npy(path: str | os.PathLike, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
