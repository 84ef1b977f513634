"""Shared helpers for the "from a photo" tests: the real photo folders, random-weight models of their label spaces,
the bundled CamVid model, an independent flood fill, and segmentation scores."""

from __future__ import annotations

import struct
import zlib
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
BUNDLED_CAMVID = REPO / "resources" / "models" / "camvid.safetensors"

# natural sizes with the datasets' aspect ratios (CamVid photos are 480x360, facades 256x256)
NATURAL_SIZE = {"camvid": (192, 256), "facades": (256, 256), "landscapes": (256, 256)}
DONT_CARE = {"camvid": 11, "facades": 0}


def val_pairs(dataset: str, count: int | None = None) -> list[tuple[Path, Path]]:
    """(photo, label map) pairs of a validation split in ../shared/data, sorted; the test skips when absent."""
    root = DATA / dataset / "val"
    if not (root / "images").is_dir():
        pytest.skip(f"the {dataset} validation photos are not at {root / 'images'} (../shared/data is absent)")
    pairs = []
    for image in sorted((root / "images").glob("*.jpg")):
        label = root / "labels" / f"{image.stem}.png"
        if label.is_file():
            pairs.append((image, label))
    if not pairs:
        pytest.skip(f"{root} holds no photo/label pairs")
    return pairs[:count] if count else pairs


def read_photo(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def read_ids(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).astype(np.int64)


def make_photo_model(path: Path, dataset: str, seed: int = 0, class_frequencies: list[float] | None = None) -> Path:
    """A real model file for a dataset's label space with random weights; ``class_frequencies`` adds a training
    class prior (as ``oasis-train export`` writes it)."""
    import torch

    from oasis_core import labels
    from oasis_core.checkpoint import save_checkpoint
    from oasis_core.config import DiscriminatorConfig, GeneratorConfig
    from oasis_core.nn import Discriminator, Generator

    torch.manual_seed(seed)
    space = labels.get(dataset)
    g = Generator(GeneratorConfig(semantic_nc=space.num_channels, ch=4, spade_hidden=8, z_dim=8))
    g.init_weights(gain=1.0)
    d = Discriminator(
        DiscriminatorConfig(semantic_nc=space.num_channels, channels=(3, 8, 8, 16, 16, 16, 16)), spectral_norm=False
    )
    # unit-gain random weights, then the last layer scaled so the logits spread over a few units: confidence and
    # the fake probability vary instead of saturating at 0 or 1
    with torch.no_grad():
        for m in d.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0.0, m.weight[0].numel() ** -0.5)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.05)
        # a smooth random picture as the probe; centring each class's logit on it keeps every class in play
        coarse = torch.rand(4, 3, 6, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1
        probe = torch.nn.functional.interpolate(coarse, size=(192, 256), mode="bicubic", align_corners=False)
        d.eval()
        out = d(probe)
        scale = 2.0 / float(out.std())
        d.layer_up_last.weight.mul_(scale)
        d.layer_up_last.bias.mul_(scale).sub_(out.mean(dim=(0, 2, 3)) * scale)
    extra = None
    if class_frequencies is not None:
        extra = {"segmentation_prior": {"class_frequencies": class_frequencies, "strength": 0.5}}
    return save_checkpoint(
        path, g, d, label_space=space, name=f"random {dataset}", natural_size=NATURAL_SIZE[dataset], extra=extra
    )


def flood_fill_sizes(labels: np.ndarray) -> list[int]:
    """Sizes of the 4-connected equal-value regions, by a plain breadth-first flood fill (an independent check)."""
    h, w = labels.shape
    seen = np.zeros((h, w), dtype=bool)
    rows = labels.tolist()
    sizes = []
    for y in range(h):
        for x in range(w):
            if seen[y, x]:
                continue
            value, size = rows[y][x], 0
            seen[y, x] = True
            queue = deque([(y, x)])
            while queue:
                cy, cx = queue.popleft()
                size += 1
                for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                    if 0 <= ny < h and 0 <= nx < w and not seen[ny, nx] and rows[ny][nx] == value:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
            sizes.append(size)
    return sizes


class Scores:
    """Pixel accuracy and mean IoU accumulated over images (pixels whose truth is ``ignore`` do not count)."""

    def __init__(self, num_values: int, ignore: int | None) -> None:
        self.confusion = np.zeros((num_values, num_values), dtype=np.int64)
        self.ignore = ignore

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        keep = np.ones(truth.shape, dtype=bool) if self.ignore is None else truth != self.ignore
        n = len(self.confusion)
        idx = truth[keep].astype(np.int64) * n + predicted[keep].astype(np.int64)
        self.confusion += np.bincount(idx, minlength=n * n).reshape(n, n)

    @property
    def pixel_accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(1, self.confusion.sum()))

    @property
    def mean_iou(self) -> float:
        inter = np.diag(self.confusion).astype(np.float64)
        union = self.confusion.sum(0) + self.confusion.sum(1) - inter
        present = self.confusion.sum(1) > 0  # classes that occur in the truth
        return float((inter[present] / np.maximum(union[present], 1)).mean())


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A PNG of a few hundred bytes whose header announces width x height pixels (a decompression bomb)."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    pixels = zlib.compress(bytes(2 * (1 + 3 * width)))  # two blank rows; the decoder would want all of them
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def large_photo(path: Path, source: Path, size: tuple[int, int] = (4000, 6000)) -> Path:
    """A (height, width) JPEG made by enlarging a real photo (a 24-megapixel camera frame by default)."""
    with Image.open(source) as im:
        im.convert("RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR).save(path, quality=85)
    return path
