"""Datasets for training: one module a dataset family, a registry by name.

    ds = build_dataset("camvid", "../shared/data/camvid", "train", (256, 256))
    item = ds[0]   # {"image": float32 (3, H, W) in [-1, 1], "label": int64 (H, W) channel ids, "name": str}

Registry names (``DATASETS``): ``ade20k``, ``cityscapes``, ``coco_stuff`` (alias ``coco``), ``camvid``, ``facades``,
``landscapes`` and ``folder`` (users' own data, aliases ``generic``/``custom``; layout and ``classes.txt`` format in
``train.data.folder``). Splits are "train" and "val" for every dataset. Transforms, randomness and the checks done on
every file are described in ``train.data.base``; every data problem raises ``DatasetError`` naming the file.
"""

from __future__ import annotations

from .base import SPLITS, DatasetError, Pair, PairedDataset
from .check import check_dataset, format_check_report
from .folder import CamVid, Facades, FolderDataset, Landscapes, parse_classes, read_classes
from .official import ADE20K, Cityscapes, CocoStuff
from .registry import ALIASES, DATASETS, build_dataset, dataset_class, dataset_factory, default_label_space

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
    "dataset_factory",
    "default_label_space",
    "format_check_report",
    "parse_classes",
    "read_classes",
]
