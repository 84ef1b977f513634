"""The paired-dataset machinery every loader shares: file discovery, reading, validation and the paper's transforms.

A dataset is a sorted list of (image, label map) pairs matched by name. Reading a pair opens both files lazily (so
building a dataset of 20,000 pairs costs only a directory listing) and checks, naming the offending file in a
``DatasetError``:

- the file is readable (truncated, corrupt or unknown formats are errors, never skipped);
- the image is not a decompression bomb: anything above Pillow's ``Image.MAX_IMAGE_PIXELS`` (left at its default of
  about 89 megapixels) is refused, i.e. Pillow's ``DecompressionBombWarning`` is treated as an error;
- image and label map have the same size;
- the label map holds integer ids (grayscale ``L``/``I;16``/``I`` or indexed ``P`` PNG; an RGB label is refused)
  and every id is a class of the label space.

Transforms follow the paper: the image is resized with **bicubic** interpolation and the label map with **nearest**
to the training size ``(height, width)`` (aspect ratio not kept), then flipped horizontally with p = 0.5 in training.
With ``load_size`` both are resized to ``load_size`` first and a crop of ``size`` is taken at the same place in
both: at a random place when the split is "train", in the centre otherwise (so evaluation is deterministic).
Flip and crop draw from torch's global RNG (``torch.rand``/``torch.randint``), so DataLoader worker seeding and a
resumed run's saved RNG state control them; numpy's global RNG is never used.

JPEG speed-up: when the training size is at most half the photo's size, the JPEG decoder is asked for a reduced
scale (``Image.draft``, DCT-domain 1/2, 1/4 or 1/8 down-scaling, never below the target size) before the bicubic
resize. Pass ``fast_jpeg=False`` to decode at full size.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from oasis_core.imageio import ImageReadError, open_image
from oasis_core.labels import LabelError, LabelSpace, resize_nearest

SPLITS = ("train", "val")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp")
LABEL_EXTS = (".png",)


class DatasetError(ValueError):
    """Bad or missing data; the message names the offending file or folder."""


class Pair(NamedTuple):
    name: str
    image: Path
    label: Path


# --------------------------------------------------------------------------------------------- reading
def _open(path: Path) -> Image.Image:
    """Open an image lazily (header only), refusing decompression bombs; errors name the file."""
    try:
        return open_image(path, load=False)
    except ImageReadError as exc:
        raise DatasetError(str(exc)) from None


def _decode(im: Image.Image, path: Path) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DatasetError(f"{path}: refused as a possible decompression bomb ({exc})") from exc
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from exc


def open_pair(pair: Pair) -> tuple[Image.Image, Image.Image]:
    """Open both files (headers only) and check that their sizes agree."""
    image = _open(pair.image)
    label = _open(pair.label)
    if image.size != label.size:
        raise DatasetError(
            f"{pair.label}: label map is {label.size[0]}x{label.size[1]} (width x height) but its image "
            f"{pair.image} is {image.size[0]}x{image.size[1]}"
        )
    return image, label


def image_rgb(im: Image.Image, path: Path, draft_size: tuple[int, int] | None = None) -> Image.Image:
    """Decode to RGB. ``draft_size`` (width, height): let the JPEG decoder down-scale, never below that size."""
    if draft_size is not None and im.format == "JPEG":
        with contextlib.suppress(Exception):  # an optimisation only
            im.draft("RGB", draft_size)
    _decode(im, path)
    try:
        return im if im.mode == "RGB" else im.convert("RGB")
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"{path}: cannot convert image mode {im.mode} to RGB ({exc})") from exc


def label_values(im: Image.Image, path: Path) -> np.ndarray:
    """Decode a label map to its integer ids (H, W): indices for mode P, grey levels for L/I;16/I."""
    _decode(im, path)
    if im.mode in ("L", "P", "I", "I;16", "I;16L", "I;16B", "I;16N"):
        arr = np.asarray(im)
    elif im.mode == "1":
        arr = np.asarray(im, dtype=np.uint8)
    else:
        raise DatasetError(
            f"{path}: label map has mode {im.mode}; expected class ids as a grayscale or indexed (palette) PNG, "
            "not colours"
        )
    if arr.ndim != 2:
        raise DatasetError(f"{path}: label map has shape {arr.shape}, expected (height, width)")
    return arr


class ChannelMapper:
    """File ids -> channel indices with a lookup table (fast path for 8/16-bit maps); errors name the file."""

    def __init__(self, label_space: LabelSpace):
        self.label_space = label_space
        self.lut = np.full(65536, -1, dtype=np.int16)
        for v in label_space.valid_values():
            self.lut[v] = label_space.channel_of(v)

    def __call__(self, values: np.ndarray, path: Path) -> np.ndarray:
        if values.dtype in (np.uint8, np.uint16):
            ch = self.lut[values]
            if ch.size == 0 or ch.min() >= 0:
                return ch
        try:
            return self.label_space.to_channels(values).astype(np.int16)
        except LabelError as exc:
            raise DatasetError(f"{path}: {exc}") from exc


# --------------------------------------------------------------------------------------------- transforms
def _check_size(size, what: str) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise DatasetError(f"{what} must be (height, width), got {size!r}") from None
    if h < 1 or w < 1:
        raise DatasetError(f"{what} must be positive, got {size!r}")
    return h, w


_TO_UNIT = (np.arange(256, dtype=np.float64) / 127.5 - 1.0).astype(np.float32)


def image_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [-1, 1] (v / 127.5 - 1; a table look-up, no torch threads)."""
    return torch.from_numpy(np.ascontiguousarray(_TO_UNIT[arr].transpose(2, 0, 1)))


# --------------------------------------------------------------------------------------------- discovery
def _files(folder: Path, exts: Iterable[str], pattern: str = "*") -> list[Path]:
    exts = tuple(exts)
    return sorted(
        p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in exts
    )


def _by_stem(paths: list[Path], strip: str = "") -> tuple[dict[str, Path], list[str]]:
    found: dict[str, Path] = {}
    problems: list[str] = []
    for p in paths:
        stem = p.name[: -len(strip)] if strip and p.name.endswith(strip) else p.stem
        if stem in found:
            problems.append(f"{p}: two files for the same name {stem!r} (the other is {found[stem]})")
            continue
        found[stem] = p
    return found, problems


def match_pairs(
    images: dict[str, Path], labels: dict[str, Path], image_dir: Path, label_dir: Path
) -> tuple[list[Pair], list[str]]:
    """Pair images and labels by name; every unmatched file becomes a problem naming it."""
    problems = [
        f"{images[n]}: image has no label map (expected one named {n!r} in {label_dir})"
        for n in sorted(images.keys() - labels.keys())
    ]
    problems += [
        f"{labels[n]}: label map has no image (expected one named {n!r} in {image_dir})"
        for n in sorted(labels.keys() - images.keys())
    ]
    pairs = [Pair(n, images[n], labels[n]) for n in sorted(images.keys() & labels.keys())]
    return pairs, problems


def _raise_problems(problems: list[str]) -> None:
    if problems:
        more = f"\n... and {len(problems) - 10} more problems" if len(problems) > 10 else ""
        raise DatasetError("\n".join(problems[:10]) + more)


# --------------------------------------------------------------------------------------------- the dataset
class PairedDataset(Dataset):
    """Base class of every loader: subclasses say where the files are and which label space they use.

    Items are dicts ``{"image": float32 (3, H, W) in [-1, 1], "label": int64 (H, W) channel indices, "name": str}``.
    """

    #: registry name, e.g. "camvid"
    dataset_name: ClassVar[str] = ""
    #: built-in label space of the family (None: read from the dataset's folder)
    label_space_name: ClassVar[str | None] = None

    def __init__(
        self,
        root: str | Path,
        split: str,
        size: tuple[int, int],
        *,
        label_space: LabelSpace | None = None,
        load_size: tuple[int, int] | None = None,
        flip: bool | None = None,
        fast_jpeg: bool = True,
    ):
        self.root = Path(root)
        self.split = split
        self.size = _check_size(size, "size")
        self.load_size = None if load_size is None else _check_size(load_size, "load_size")
        if self.load_size is not None and (self.load_size[0] < self.size[0] or self.load_size[1] < self.size[1]):
            raise DatasetError(f"load_size {self.load_size} is smaller than the crop size {self.size}")
        self.flip = (split == "train") if flip is None else bool(flip)
        self.random_crop = split == "train"
        self.fast_jpeg = fast_jpeg
        self.label_space = label_space if label_space is not None else self.default_label_space(self.root)
        self._mapper = ChannelMapper(self.label_space)
        self.pairs = self.find_pairs(self.root, split)

    # ----------------------------------------------------------------- per-family hooks
    @classmethod
    def default_label_space(cls, root: str | Path) -> LabelSpace:
        from oasis_core.labels import get

        if cls.label_space_name is None:
            raise NotImplementedError
        return get(cls.label_space_name)

    @classmethod
    def split_dirs(cls, root: Path, split: str) -> tuple[Path, Path]:
        """(image folder, label folder) of a split."""
        raise NotImplementedError

    @classmethod
    def list_split(cls, root: Path, split: str) -> tuple[dict[str, Path], dict[str, Path], list[str]]:
        """Images and labels of a split by name, plus problems (duplicates). Default: flat folders."""
        image_dir, label_dir = cls.split_dirs(root, split)
        images, p1 = _by_stem(_files(image_dir, IMAGE_EXTS))
        labels, p2 = _by_stem(_files(label_dir, LABEL_EXTS))
        return images, labels, p1 + p2

    # ----------------------------------------------------------------- discovery
    @classmethod
    def scan(cls, root: str | Path, split: str) -> tuple[list[Pair], list[str]]:
        """All pairs of a split plus every problem found, without raising for unmatched files.

        A missing root, an unknown split name or a missing split folder still raise ``DatasetError``.
        """
        root = Path(root)
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
        if not root.is_dir():
            raise DatasetError(f"{root}: dataset root does not exist or is not a folder")
        image_dir, label_dir = cls.split_dirs(root, split)
        for d, what in ((image_dir, "image"), (label_dir, "label")):
            if not d.is_dir():
                raise DatasetError(
                    f"{d}: {what} folder of split {split!r} is missing (is {root} a {cls.dataset_name} dataset?)"
                )
        images, labels, problems = cls.list_split(root, split)
        pairs, unmatched = match_pairs(images, labels, image_dir, label_dir)
        problems = problems + unmatched
        if not pairs and not problems:
            problems.append(f"{image_dir}: split {split!r} is empty (no image/label pairs found)")
        return pairs, problems

    @classmethod
    def find_pairs(cls, root: str | Path, split: str) -> list[Pair]:
        pairs, problems = cls.scan(root, split)
        _raise_problems(problems)
        return pairs

    # ----------------------------------------------------------------- items
    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        pair = self.pairs[index]
        image, label = open_pair(pair)
        channels = self._mapper(label_values(label, pair.label), pair.label)

        th, tw = self.load_size or self.size
        draft = None
        if self.fast_jpeg and image.size[0] >= 2 * tw and image.size[1] >= 2 * th:
            draft = (tw, th)
        rgb = image_rgb(image, pair.image, draft)
        if rgb.size != (tw, th):
            rgb = rgb.resize((tw, th), Image.Resampling.BICUBIC)
        img = np.asarray(rgb)
        lab = resize_nearest(channels, (th, tw))

        h, w = self.size
        if (th, tw) != (h, w):
            if self.random_crop:
                top = int(torch.randint(0, th - h + 1, (1,)))
                left = int(torch.randint(0, tw - w + 1, (1,)))
            else:
                top, left = (th - h) // 2, (tw - w) // 2
            img = img[top : top + h, left : left + w]
            lab = lab[top : top + h, left : left + w]
        if self.flip and bool(torch.rand(()) < 0.5):
            img = img[:, ::-1]
            lab = lab[:, ::-1]
        return {
            "image": image_to_tensor(img),
            "label": torch.from_numpy(np.ascontiguousarray(lab, dtype=np.int64)),
            "name": pair.name,
        }

    def class_frequencies(self) -> np.ndarray:
        """Pixel frequency of every label-space channel in the split (float64, sums to 1; don't care counts 0),
        each label map weighing the same, as it does in training where maps are resized to one size: the class
        prior that segmentation puts back (``oasis_core.segmentation``)."""
        n = self.label_space.num_channels
        total = np.zeros(n, np.float64)
        for pair in self.pairs:
            with _open(pair.label) as im:
                channels = self._mapper(label_values(im, pair.label), pair.label)
            counts = np.bincount(channels.ravel(), minlength=n)[:n].astype(np.float64)
            if self.label_space.dont_care is not None:
                counts[self.label_space.dont_care] = 0
            if counts.sum() > 0:
                total += counts / counts.sum()
        if total.sum() == 0:
            raise DatasetError(f"{self.root}: split {self.split!r} has no labelled pixels")
        return total / total.sum()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, pairs={len(self)}, "
            f"size={self.size}, load_size={self.load_size}, flip={self.flip}, label_space={self.label_space.name!r})"
        )
