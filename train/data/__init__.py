"""Datasets for training: one module a dataset family, a registry by name.

    ds = build_dataset("camvid", "../shared/data/camvid", "train", (256, 256))
    item = ds[0]   # {"image": float32 (3, H, W) in [-1, 1], "label": int64 (H, W) channel ids, "name": str}

Registry names (``DATASETS``): ``ade20k``, ``cityscapes``, ``coco_stuff`` (alias ``coco``), ``camvid``, ``facades``,
``landscapes`` and ``folder`` (users' own data, aliases ``generic``/``custom``; layout and ``classes.txt`` format in
``train.data.folder``). Splits are "train" and "val" for every dataset. Transforms, randomness and the checks done on
every file are described in ``train.data.base``; every data problem raises ``DatasetError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from oasis_core.labels import LabelSpace

from .base import SPLITS, DatasetError, Pair, PairedDataset
from .check import check_dataset, format_check_report
from .folder import CamVid, Facades, FolderDataset, Landscapes, parse_classes, read_classes
from .official import ADE20K, Cityscapes, CocoStuff

DATASETS: dict[str, type[PairedDataset]] = {
    "ade20k": ADE20K,
    "cityscapes": Cityscapes,
    "coco_stuff": CocoStuff,
    "camvid": CamVid,
    "facades": Facades,
    "landscapes": Landscapes,
    "folder": FolderDataset,
}
ALIASES = {"coco": "coco_stuff", "cocostuff": "coco_stuff", "generic": "folder", "custom": "folder"}


def dataset_class(name: str) -> type[PairedDataset]:
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    try:
        return DATASETS[key]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def default_label_space(name: str, root: str | Path) -> LabelSpace:
    """The label space a dataset uses unless told otherwise (built-in, or ``<root>/classes.txt`` for "folder")."""
    return dataset_class(name).default_label_space(Path(root))


def build_dataset(
    name: str,
    root: str | Path,
    split: str,
    size: tuple[int, int],
    *,
    label_space: LabelSpace | None = None,
    load_size: tuple[int, int] | None = None,
    flip: bool | None = None,
) -> Dataset:
    """A dataset by registry name. ``size`` and ``load_size`` are (height, width); ``flip=None`` flips in "train"."""
    return dataset_class(name)(root, split, size, label_space=label_space, load_size=load_size, flip=flip)


__all__ = [
    "ADE20K",
    "ALIASES",
    "DATASETS",
    "SPLITS",
    "CamVid",
    "Cityscapes",
    "CocoStuff",
    "DatasetError",
    "Facades",
    "FolderDataset",
    "Landscapes",
    "Pair",
    "PairedDataset",
    "build_dataset",
    "check_dataset",
    "dataset_class",
    "default_label_space",
    "format_check_report",
    "parse_classes",
    "read_classes",
]
