"""Dataset names and the factories that build them: the one place a dataset name becomes a class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from torch.utils.data import Dataset

from oasis_core.labels import LabelSpace

from .base import DatasetError, PairedDataset
from .folder import CamVid, Facades, FolderDataset, Landscapes
from .official import ADE20K, Cityscapes, CocoStuff

if TYPE_CHECKING:
    from train.config import TrainConfig

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


def dataset_factory(cfg: TrainConfig, space: LabelSpace) -> Callable[..., Dataset]:
    """``split -> dataset`` for a training config: what a ``Run`` builds its training and validation data with
    (``flip`` as in :func:`build_dataset`)."""

    def make(split: str, flip: bool | None = None) -> Dataset:
        return build_dataset(
            cfg.dataset, cfg.data, split, cfg.size, label_space=space, load_size=cfg.load_size, flip=flip
        )

    return make
