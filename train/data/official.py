"""The three datasets of the paper, in the folder layouts the official loaders read.

- ADE20K (``ADEChallengeData2016``): ``images/{training,validation}/*.jpg`` and
  ``annotations/{training,validation}/*.png``; label value v -> channel v (0 = other, don't care).
- Cityscapes: ``leftImg8bit/{train,val}/<city>/<name>_leftImg8bit.png`` and
  ``gtFine/{train,val}/<city>/<name>_gtFine_labelIds.png`` (the other gtFine files are ignored); raw labelIds
  0..33 -> channel id (0 unlabeled = don't care; channel 34 unused). Item names drop the ``_leftImg8bit`` suffix.
- COCO-Stuff (SPADE layout): ``{train,val}_img/*.jpg`` and ``{train,val}_label/*.png`` (``*_inst`` ignored);
  value v (0..181) -> channel v + 1, 255 -> channel 0 (don't care).

Splits are called "train" and "val" for every dataset.
"""

from __future__ import annotations

from pathlib import Path

from .base import PairedDataset, _by_stem, _files


class ADE20K(PairedDataset):
    dataset_name = "ade20k"
    label_space_name = "ade20k"
    _SPLIT = {"train": "training", "val": "validation"}

    @classmethod
    def split_dirs(cls, root: Path, split: str) -> tuple[Path, Path]:
        s = cls._SPLIT[split]
        return root / "images" / s, root / "annotations" / s


class Cityscapes(PairedDataset):
    dataset_name = "cityscapes"
    label_space_name = "cityscapes"
    IMAGE_SUFFIX = "_leftImg8bit.png"
    LABEL_SUFFIX = "_gtFine_labelIds.png"

    @classmethod
    def split_dirs(cls, root: Path, split: str) -> tuple[Path, Path]:
        return root / "leftImg8bit" / split, root / "gtFine" / split

    @classmethod
    def list_split(cls, root: Path, split: str):
        image_dir, label_dir = cls.split_dirs(root, split)
        images, p1 = _by_stem(_files(image_dir, (".png",), f"*/*{cls.IMAGE_SUFFIX}"), cls.IMAGE_SUFFIX)
        labels, p2 = _by_stem(_files(label_dir, (".png",), f"*/*{cls.LABEL_SUFFIX}"), cls.LABEL_SUFFIX)
        return images, labels, p1 + p2


class CocoStuff(PairedDataset):
    dataset_name = "coco_stuff"
    label_space_name = "coco_stuff"

    @classmethod
    def split_dirs(cls, root: Path, split: str) -> tuple[Path, Path]:
        return root / f"{split}_img", root / f"{split}_label"


__all__ = ["ADE20K", "Cityscapes", "CocoStuff"]
