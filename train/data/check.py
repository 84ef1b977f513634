"""Validate a whole dataset and gather its statistics (``oasis-train check``).

``check_dataset`` opens every file of every split, checks it like the loaders do (readable, not a decompression
bomb, image and label map of the same size, label ids inside the class list) and, instead of stopping at the first
problem, collects every problem as a message naming the file. It returns a plain dict::

    {
      "dataset": "camvid", "root": "/data/camvid", "label_space": "camvid",
      "num_channels": 12, "dont_care": 0,               # channel index or None
      "splits": {
        "train": {
          "pairs": 367,                                 # image/label pairs found
          "ok": 367,                                    # pairs that passed every check
          "image_sizes": {(360, 480): 367},             # (height, width) -> number of pairs
          "pixels": [...],                              # per channel: labelled pixels (valid pairs only)
          "pixel_share": [...],                         # per channel: pixels / all pixels of the split
          "images_with_class": [...],                   # per channel: pairs whose label map contains it
          "errors": ["<file>: <problem>", ...],
        },
        "val": {...},
      },
      "total": {... the same over all checked splits ...},
      "errors": [...every problem...],
      "ok": True,                                       # no problem at all
    }

A missing root, an unknown dataset name or an unreadable ``classes.txt`` raise ``DatasetError``; a missing or empty
split folder is reported as an error of that split.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from oasis_core.files import atomic_write_text
from oasis_core.labels import LabelSpace

from .base import ChannelMapper, DatasetError, _decode, label_values, open_pair
from .registry import dataset_class, default_label_space


def _empty_split(c: int) -> dict:
    return {
        "pairs": 0,
        "ok": 0,
        "image_sizes": Counter(),
        "pixels": np.zeros(c, dtype=np.int64),
        "images_with_class": np.zeros(c, dtype=np.int64),
        "errors": [],
    }


def _finish(s: dict) -> dict:
    pixels = s["pixels"]
    total = int(pixels.sum())
    s["pixel_share"] = [float(p) / total if total else 0.0 for p in pixels]
    s["pixels"] = [int(p) for p in pixels]
    s["images_with_class"] = [int(n) for n in s["images_with_class"]]
    s["image_sizes"] = dict(sorted(s["image_sizes"].items(), key=lambda kv: (-kv[1], kv[0])))
    return s


def check_dataset(
    name: str,
    root: str | Path,
    label_space: LabelSpace | None = None,
    splits: tuple[str, ...] = ("train", "val"),
    progress: bool = True,
) -> dict:
    """Validate every pair of every split of a dataset and return its statistics (see the module docstring)."""
    cls = dataset_class(name)
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root does not exist or is not a folder")
    ls = label_space if label_space is not None else default_label_space(name, root)
    mapper = ChannelMapper(ls)
    c = ls.num_channels

    out_splits: dict[str, dict] = {}
    for split in splits:
        s = _empty_split(c)
        out_splits[split] = s
        try:
            pairs, problems = cls.scan(root, split)
        except DatasetError as exc:
            s["errors"].append(str(exc))
            continue
        s["errors"].extend(problems)
        s["pairs"] = len(pairs)
        for pair in tqdm(pairs, desc=f"{cls.dataset_name} {split}", unit="pair", disable=not progress, file=sys.stderr):
            try:
                image, label = open_pair(pair)
                size = (image.size[1], image.size[0])
                _decode(image, pair.image)
                channels = mapper(label_values(label, pair.label), pair.label)
            except DatasetError as exc:
                s["errors"].append(str(exc))
                continue
            counts = np.bincount(channels.ravel().astype(np.intp), minlength=c)
            s["pixels"] += counts
            s["images_with_class"] += counts > 0
            s["image_sizes"][size] += 1
            s["ok"] += 1

    total = _empty_split(c)
    for s in out_splits.values():
        total["pairs"] += s["pairs"]
        total["ok"] += s["ok"]
        total["image_sizes"].update(s["image_sizes"])
        total["pixels"] += s["pixels"]
        total["images_with_class"] += s["images_with_class"]
        total["errors"].extend(s["errors"])
    for s in out_splits.values():
        _finish(s)
    _finish(total)
    return {
        "dataset": cls.dataset_name,
        "root": str(root),
        "label_space": ls.name,
        "num_channels": c,
        "dont_care": ls.dont_care,
        "splits": out_splits,
        "total": total,
        "errors": list(total["errors"]),
        "ok": not total["errors"],
    }


def _sizes(sizes: dict) -> str:
    items = list(sizes.items())
    text = ", ".join(f"{h}x{w} ({n})" for (h, w), n in items[:4])
    if len(items) > 4:
        text += f", ... {len(items)} sizes in all"
    return text or "-"


def format_check_report(stats: dict, label_space: LabelSpace, max_errors: int = 20) -> str:
    """A printable report of ``check_dataset``'s statistics: splits, sizes, a class table and the problems."""
    ls = label_space
    splits = stats["splits"]
    lines = []
    dc = "none" if ls.dont_care is None else f"channel {ls.dont_care} ({ls.names[ls.dont_care]})"
    lines.append(
        f"dataset {stats['dataset']} at {stats['root']}: label space {ls.name!r}, {ls.num_channels} channels, "
        f"don't care: {dc}"
    )
    lines.append("")
    lines.append(f"{'split':<8} {'pairs':>7} {'ok':>7}  image sizes (height x width: pairs)")
    for name, s in list(splits.items()) + [("all", stats["total"])]:
        lines.append(f"{name:<8} {s['pairs']:>7} {s['ok']:>7}  {_sizes(s['image_sizes'])}")
    lines.append("")

    cols = list(splits.items()) + [("all", stats["total"])]
    name_w = max(8, min(28, max(len(n) for n in ls.names) + 2))
    head = f"{'ch':>4} {'value':>6}  {'class':<{name_w}}"
    for name, _ in cols:
        head += f" {name + ' %':>10} {name + ' imgs':>10}"
    lines.append(head)
    lines.append("-" * len(head))
    for ch in range(ls.num_channels):
        v = ls.file_values[ch]
        cname = ls.names[ch] + ("*" if ch == ls.dont_care else "")
        row = f"{ch:>4} {v if v >= 0 else '-':>6}  {cname[:name_w]:<{name_w}}"
        for _, s in cols:
            row += f" {100.0 * s['pixel_share'][ch]:>10.3f} {s['images_with_class'][ch]:>10}"
        lines.append(row)
    if ls.dont_care is not None:
        lines.append("(* don't care: zero weight in the losses)")

    notes = []
    if "train" in splits and splits["train"]["ok"]:
        absent = [
            ls.names[ch]
            for ch in range(ls.num_channels)
            if ch != ls.dont_care and ls.file_values[ch] >= 0 and splits["train"]["images_with_class"][ch] == 0
        ]
        if absent:
            notes.append(f"classes never seen in train ({len(absent)}): {', '.join(absent)}")
    if notes:
        lines.append("")
        lines.extend(notes)

    errors = stats["errors"]
    lines.append("")
    if errors:
        lines.append(f"PROBLEMS ({len(errors)}):")
        lines.extend(f"  {e}" for e in errors[:max_errors])
        if len(errors) > max_errors:
            lines.append(f"  ... and {len(errors) - max_errors} more")
    else:
        lines.append("no problems found")
    return "\n".join(lines)


CHECK_CACHE = "data_check.json"


def check_before_training(
    name: str, root: str | Path, label_space: LabelSpace, cache_dir: str | Path, progress: bool = True
) -> int:
    """Validate every training pair before the first step, so that a bad file stops the run at once with one
    sentence instead of at step N inside a data-loader worker. The result is cached in ``cache_dir`` by the file
    list, sizes and modification times: a resumed run over unchanged data skips the pass. Returns the pairs checked
    (0 when the cache was valid); raises ``DatasetError``."""
    cls = dataset_class(name)
    pairs, problems = cls.scan(root, "train")
    digest = hashlib.sha256(label_space.name.encode())
    for pair in pairs:
        for p in (pair.image, pair.label):
            st = p.stat()
            digest.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    key = digest.hexdigest()
    cache = Path(cache_dir) / CHECK_CACHE
    try:
        if json.loads(cache.read_text(encoding="utf-8")).get("key") == key and not problems:
            return 0
    except (OSError, ValueError, AttributeError):
        pass
    if problems:
        more = f" ({len(problems) - 1} more: run `oasis-train check`)" if len(problems) > 1 else ""
        raise DatasetError(f"the training data has problems: {problems[0]}{more}")
    report = check_dataset(name, root, label_space, splits=("train",), progress=progress)
    errors = report["errors"]
    if errors:
        more = f" ({len(errors) - 1} more: run `oasis-train check`)" if len(errors) > 1 else ""
        raise DatasetError(f"the training data has problems: {errors[0]}{more}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, json.dumps({"key": key, "pairs": len(pairs)}))
    return len(pairs)
