"""The rendered dataset: scenes written into the generic folder layout (resumable, atomic files), its class list and
licences, and a sample sheet."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from oasis_core.files import atomic_write_bytes, atomic_write_text
from oasis_core.imageio import encode_image, indexed_label_image, png_bytes
from train.landscapes.frame import LABEL_SPACE
from train.landscapes.render import render_scene
from train.landscapes.textures import TextureBank, default_bank, default_textures_root


def is_val(index: int, val_fraction: float) -> bool:
    """Whether scene ``index`` belongs to the validation split (low-discrepancy, independent of the count)."""
    return ((index * 0.6180339887498949) % 1.0) < val_fraction


def classes_txt() -> str:
    return "".join(f"{v} {n} {c[0]} {c[1]} {c[2]}\n" for v, n, c in LABEL_SPACE.paintable())


def copy_licences(textures_root: Path, out_dir: Path) -> list[Path]:
    """Copy every COPYRIGHT file under ``textures_root`` into ``out_dir/LICENSES``."""
    dest = Path(out_dir) / "LICENSES"
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in sorted(Path(textures_root).rglob("COPYRIGHT*")):
        if p.is_file():
            rel = p.relative_to(textures_root)
            target = dest / "_".join(rel.parts)
            shutil.copyfile(p, target)
            out.append(target)
    (dest / "NOTICE.txt").write_text(
        "The images in this dataset were rendered by train/landscapes (OASIS Studio) from texture tiles of\n"
        "the Debian packages extremetuxracer-data and scorched3d-data, which are licensed GPL-2+.\n"
        "Their COPYRIGHT files are reproduced here; the derived images carry the same licence.\n",
        encoding="utf-8",
    )
    return out


def write_dataset(
    out_dir: str | Path,
    count: int,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    val_fraction: float = 0.1,
    textures_root: str | Path | None = None,
    progress: bool = True,
    image_format: str = "png",
    workers: int = 1,
) -> dict[str, int]:
    """Render ``count`` scenes into the generic folder layout (``train|val/images|labels``), resumably; with
    ``workers`` > 1 on that many processes (the same files).

    Scene ``i`` uses seed ``seed + i`` and goes to ``val`` when :func:`is_val` says so. Files are written under a
    temporary name and renamed, so an interrupted run leaves no partial file; scenes whose image and label both
    exist are skipped. Also writes ``classes.txt`` and copies the textures' COPYRIGHT files into ``LICENSES/``.
    Returns ``{"written": n, "skipped": m, "train": a, "val": b}``.
    """
    from tqdm import tqdm

    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    out = Path(out_dir)
    root = Path(textures_root) if textures_root is not None else default_textures_root()
    bank = TextureBank.load(root)
    for split in ("train", "val"):
        (out / split / "images").mkdir(parents=True, exist_ok=True)
        (out / split / "labels").mkdir(parents=True, exist_ok=True)
    cls_path = out / "classes.txt"
    atomic_write_text(cls_path, classes_txt())
    copy_licences(root, out)
    if workers > 1 and count > 1:
        return _write_parallel(out, count, size, seed, val_fraction, root, progress, image_format, workers)
    stats = {"written": 0, "skipped": 0, "train": 0, "val": 0}
    for i in tqdm(range(count), desc="landscapes", unit="scene", disable=not progress):
        _add(stats, _write_scene(out, i, size, seed, val_fraction, bank, image_format))
    return stats


_CHUNK = 32  # scenes per task of a parallel write


def _add(stats: dict[str, int], one: dict[str, int]) -> None:
    for k, v in one.items():
        stats[k] = stats.get(k, 0) + v


def _write_scene(
    out: Path, i: int, size: tuple[int, int], seed: int, val_fraction: float, bank: TextureBank, image_format: str
) -> dict[str, int]:
    """Scene ``i`` into its split, unless both its files exist; the counts it adds to the stats."""
    split = "val" if is_val(i, val_fraction) else "train"
    stats = {split: 1}
    stem = f"scene_{seed + i:07d}"
    img_path = out / split / "images" / f"{stem}.{image_format}"
    lab_path = out / split / "labels" / f"{stem}.png"
    have_img, have_lab = img_path.exists(), lab_path.exists()
    if have_img and have_lab:
        return stats | {"skipped": 1}
    # rendering is deterministic, so a half-written scene is completed without touching the existing file
    img, lab = render_scene(seed + i, size, bank)
    if not have_lab:
        atomic_write_bytes(lab_path, png_bytes(indexed_label_image(lab, LABEL_SPACE)))
    if not have_img:
        if image_format == "jpg":
            atomic_write_bytes(img_path, encode_image(img, img_path, quality=95))
        else:
            atomic_write_bytes(img_path, encode_image(img, img_path))
    return stats | {"written": 1}


def _write_chunk(
    out: Path, indices: list[int], size: tuple[int, int], seed: int, val_fraction: float, root: Path, fmt: str
) -> dict[str, int]:
    """A worker's task: a few scenes (the texture bank is loaded once per worker process)."""
    global _WORKER_BANK
    if _WORKER_BANK is None or _WORKER_BANK[0] != root:
        _WORKER_BANK = (root, TextureBank.load(root))
    stats: dict[str, int] = {}
    for i in indices:
        _add(stats, _write_scene(out, i, size, seed, val_fraction, _WORKER_BANK[1], fmt))
    return stats


_WORKER_BANK: tuple[Path, TextureBank] | None = None


def _write_parallel(
    out: Path,
    count: int,
    size: tuple[int, int],
    seed: int,
    val_fraction: float,
    root: Path,
    progress: bool,
    image_format: str,
    workers: int,
) -> dict[str, int]:
    """:func:`write_dataset`'s scenes on ``workers`` processes, in chunks; the same files as one process writes."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    stats = {"written": 0, "skipped": 0, "train": 0, "val": 0}
    chunks = [list(range(a, min(count, a + _CHUNK))) for a in range(0, count, _CHUNK)]
    with ProcessPoolExecutor(max_workers=workers) as pool, tqdm(
        total=count, desc="landscapes", unit="scene", disable=not progress
    ) as bar:
        futures = {pool.submit(_write_chunk, out, c, size, seed, val_fraction, root, image_format): len(c)
                   for c in chunks}  # fmt: skip
        for fut in as_completed(futures):
            _add(stats, fut.result())
            bar.update(futures[fut])
    return stats


def make_sample_sheet(
    path: str | Path,
    seeds: list[int] | range,
    size: tuple[int, int] = (256, 256),
    textures: TextureBank | None = None,
    pairs_per_row: int = 3,
    max_colours: int | None = None,
) -> Path:
    """A PNG grid of (label map in class colours | rendered image) pairs, one pair per seed. ``max_colours``
    (e.g. 256) stores it as an adaptive-palette PNG, a third of the size, for READMEs."""
    seeds = list(seeds)
    bank = textures if textures is not None else default_bank()
    H, W = size
    gap = 4
    cols = max(1, min(pairs_per_row, len(seeds)))
    rows = max(1, math.ceil(len(seeds) / cols))
    sheet = np.full((rows * (H + gap) + gap, cols * (2 * W + 3 * gap) + gap, 3), 255, np.uint8)
    for n, s in enumerate(seeds):
        img, lab = render_scene(s, size, bank)
        r, c = divmod(n, cols)
        y = gap + r * (H + gap)
        x = gap + c * (2 * W + 3 * gap)
        sheet[y : y + H, x : x + W] = LABEL_SPACE.colourize(lab)
        sheet[y : y + H, x + W + gap : x + 2 * W + gap] = img
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(sheet)
    if max_colours is not None:
        im = im.quantize(int(max_colours), dither=Image.Dither.FLOYDSTEINBERG)
    im.save(path, optimize=True)
    return path
