"""``.oasis`` project files: one zip with the label map, seeds, reroll regions, model identity and history. No Qt.

Layout (format ``oasis-studio-project`` version 1)::

    scene.json              format, version, size, seeds, regions, model identity, history, photo reference (JSON)
    labels.png              the label map (8-bit or 16-bit grayscale ids, exact)
    masks/<digest>.png      reroll region masks (1-bit), shared by the regions and history entries that use them
    history/<digest>.png    label maps of history entries (only those that differ from labels.png)
    history/thumb_<i>.png   thumbnails of history entries
    image.png               the image of the current history entry (for display before the model regenerates it)
    thumbnail.png           a small picture of the project
    photo/photo.png         the imported photo at the scene size (RGB), only for scenes imported from a photo
    photo/labels.png        its raw segmentation (ids in the label map's dtype, exact)
    photo/applied.png       the map its last clean-up wrote (absent before any clean-up)
    photo/confidence.png    the segmentation's confidence, round(confidence * 65535) as 16-bit grayscale

The photo reference is optional: ``scene.json`` holds it under ``"photo"`` (member names, ``source``,
``source_size``, ``cleanup``) or ``null``. It adds to version 1 without changing anything already there, so files
without it are plain version-1 files and a reader that does not know the key still reads the scene correctly (it
only leaves the reference layer out); that is why it does not bump the version.

Version 2 (session 14) adds ``"ramp"`` to each region: the form of its soft border (``"smooth"``, or ``"steps"``, the
4 equal steps all earlier files have and keep). A version-1 reader would draw a smooth border in 4 steps, another
image without a word, so a file is written as version 2 only when a region (current or in the history) has a soft
border with the smooth ramp; every other file stays version 1, which older apps open as before.

Saving writes a temporary file next to the target and renames it over the target, so a crash never leaves a half
written project. Loading reads only JSON and PNG (never pickle) and checks every field and size; any problem raises
``ProjectError`` with one sentence naming the file and what is wrong.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from app.doc.history import MAX_HISTORY, HistoryEntry
from app.doc.label_io import MAX_SIDE
from app.doc.photo import PhotoReference
from app.doc.recipe import (
    FEATHER_RAMPS,
    LEGACY_RAMP,
    MAX_FEATHER,
    MAX_SEED,
    RerollRegion,
    labels_digest,
)
from app.doc.scene import Scene
from oasis_core.files import atomic_writer
from oasis_core.imageio import ImageReadError, open_image

FORMAT = "oasis-studio-project"
VERSION = 2  # the newest version this reader knows (see the module docstring)
SUFFIX = ".oasis"
MAX_MEMBER_BYTES = 512 * 1024 * 1024
THUMB = 256
CONFIDENCE_SCALE = 65535  # confidence in [0, 1] is stored as 16-bit integers
MAX_SOURCE_SIDE = 1 << 31  # a side of the photo file the reference was imported from


class ProjectError(ValueError):
    """A project file cannot be read: damaged, foreign or from a newer version."""


@dataclass
class Project:
    """What a project file holds besides the scene itself."""

    scene: Scene
    model_hash: str = ""
    model_name: str = ""
    image: np.ndarray | None = None  # the current history entry's image as saved
    saved_at: float = 0.0
    app_version: str = ""


def thumbnail(image: np.ndarray, side: int = THUMB) -> np.ndarray:
    """A small copy (longest side ``side``) of an RGB image."""
    im = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(im)


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    a = np.ascontiguousarray(array)
    if a.dtype == bool:
        im = Image.fromarray(a.astype(np.uint8) * 255).convert("1")
    else:
        im = Image.fromarray(a)  # uint8 -> L, uint16 -> I;16, (H, W, 3) uint8 -> RGB
    im.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def save_project(
    path: str | os.PathLike,
    scene: Scene,
    model_hash: str = "",
    model_name: str = "",
    image: np.ndarray | None = None,
    app_version: str = "",
) -> None:
    """Write the project atomically. ``image``: the picture shown for the current history entry (optional)."""
    path = Path(path)
    masks: dict[str, RerollRegion] = {}

    smooth_borders = []

    def region_ref(r: RerollRegion) -> dict:
        d = r.digest
        masks.setdefault(d, r)
        smooth_borders.append(bool(r.feather) and r.ramp != LEGACY_RAMP)
        return {"mask": f"masks/{d}.png", "seed": r.seed, "strength": r.strength, "feather": r.feather, "ramp": r.ramp}

    main_digest = labels_digest(scene.labels)
    history_labels: dict[str, np.ndarray] = {}
    history = []
    thumbs: list[tuple[str, np.ndarray]] = []
    for i, e in enumerate(scene.history):
        d = e.labels_digest
        if d == main_digest:
            ref = "labels.png"
        else:
            ref = f"history/{d}.png"
            history_labels.setdefault(ref, e.labels)
        item = {
            "labels": ref,
            "style_seed": e.style_seed,
            "regions": [region_ref(r) for r in e.regions],
            "timestamp": e.timestamp,
            "ms": round(float(e.ms), 3),
            "device": e.device,
            "dtype": e.dtype,
            "model_hash": e.model_hash,
            "kind": e.kind,
        }
        if e.thumbnail is not None:
            item["thumbnail"] = f"history/thumb_{i}.png"
            thumbs.append((item["thumbnail"], e.thumbnail))
        history.append(item)

    doc = {
        "format": FORMAT,
        "version": VERSION,
        "app_version": app_version,
        "saved_at": time.time(),
        "size": [scene.height, scene.width],
        "label_dtype": str(scene.labels.dtype),
        "style_seed": scene.style_seed,
        "seed_locked": scene.seed_locked,
        "regions": [region_ref(r) for r in scene.regions],
        "model": {"hash": model_hash, "name": model_name},
        "history": history,
        "history_index": scene.history_index,
        "image": "image.png" if image is not None else None,
    }
    doc["version"] = 2 if any(smooth_borders) else 1  # what a version-1 reader would draw wrong, and only that
    photo_members: list[tuple[str, np.ndarray]] = []
    if scene.photo is not None:
        doc["photo"], photo_members = _photo_members(scene)

    with atomic_writer(path) as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("scene.json", json.dumps(doc, indent=1))
        # PNG is already compressed: store it
        z.writestr("labels.png", _png(scene.labels), compress_type=zipfile.ZIP_STORED)
        for d, r in masks.items():
            z.writestr(f"masks/{d}.png", _png(r.mask), compress_type=zipfile.ZIP_STORED)
        for ref, lab in history_labels.items():
            z.writestr(ref, _png(lab), compress_type=zipfile.ZIP_STORED)
        for ref, th in thumbs:
            z.writestr(ref, _png(th), compress_type=zipfile.ZIP_STORED)
        if image is not None:
            z.writestr("image.png", _png(image), compress_type=zipfile.ZIP_STORED)
            z.writestr("thumbnail.png", _png(thumbnail(image)), compress_type=zipfile.ZIP_STORED)
        for ref, a in photo_members:
            z.writestr(ref, _png(a), compress_type=zipfile.ZIP_STORED)


def _photo_members(scene: Scene) -> tuple[dict, list[tuple[str, np.ndarray]]]:
    """The scene's photo reference as its scene.json entry and the (member, array) pairs written beside it."""
    photo = scene.photo
    assert photo is not None
    if photo.labels.shape != scene.shape:
        raise ValueError(f"the photo reference is {photo.labels.shape} but the scene is {scene.shape}")
    dtype = scene.labels.dtype

    def as_label_dtype(a: np.ndarray, what: str) -> np.ndarray:
        if a.dtype != dtype and a.size and int(a.max()) > np.iinfo(dtype).max:
            raise ValueError(f"the photo's {what} holds ids that do not fit the label map's {dtype}")
        return a.astype(dtype, copy=False)

    confidence = np.rint(np.clip(photo.confidence, 0.0, 1.0) * CONFIDENCE_SCALE).astype(np.uint16)
    members = [
        ("photo/photo.png", photo.photo),
        ("photo/labels.png", as_label_dtype(photo.labels, "segmentation")),
        ("photo/confidence.png", confidence),
    ]
    if photo.applied is not None:
        members.append(("photo/applied.png", as_label_dtype(photo.applied, "cleaned map")))
    entry = {
        "photo": "photo/photo.png",
        "labels": "photo/labels.png",
        "confidence": "photo/confidence.png",
        "applied": "photo/applied.png" if photo.applied is not None else None,
        "source": photo.source,
        "source_size": [int(photo.source_size[0]), int(photo.source_size[1])],
        "cleanup": int(photo.cleanup),
    }
    return entry, members


# --------------------------------------------------------------------- loading
class _Reader:
    def __init__(self, z: zipfile.ZipFile, name: str) -> None:
        self.z = z
        self.name = name
        self.members = {i.filename: i for i in z.infolist()}

    def fail(self, what: str) -> ProjectError:
        return ProjectError(f"{self.name} is not a usable OASIS Studio project: {what}.")

    def read(self, member: str) -> bytes:
        info = self.members.get(member)
        if info is None:
            raise self.fail(f"it has no {member!r}")
        if info.file_size > MAX_MEMBER_BYTES:
            raise self.fail(f"{member!r} is unreasonably large ({info.file_size} bytes)")
        try:
            # streamed with a cap: a member that inflates beyond its declared size stops at the cap, not in memory
            chunks, total = [], 0
            with self.z.open(member) as f:
                while chunk := f.read(1 << 20):
                    total += len(chunk)
                    if total > info.file_size:
                        raise self.fail(f"{member!r} holds more data than it declares")
                    chunks.append(chunk)
            return b"".join(chunks)
        except ProjectError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:  # CRC errors, truncation
            raise self.fail(f"{member!r} is damaged ({exc})") from exc
        except Exception as exc:  # zlib.error and friends
            raise self.fail(f"{member!r} is damaged ({exc})") from exc

    def image(
        self, member: str, size: tuple[int, int] | None, kinds: tuple[str, ...], max_side: int = MAX_SIDE
    ) -> np.ndarray:
        data = self.read(member)
        try:
            with open_image(data, name=repr(member), max_side=max_side, formats=("PNG",)) as im:
                w, h = im.size
                if size is not None and (h, w) != size:
                    raise self.fail(f"{member!r} is {w}x{h} but the scene is {size[1]}x{size[0]}")
                if im.mode not in kinds:
                    raise self.fail(f"{member!r} has pixel mode {im.mode}, expected one of {', '.join(kinds)}")
                return np.asarray(im)
        except ImageReadError as exc:
            raise self.fail(str(exc)) from None


def _get(d: dict, key: str, kind: type | tuple, fail, where: str = "scene.json"):
    if not isinstance(d, dict) or key not in d:
        raise fail(f"{where} has no {key!r}")
    v = d[key]
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if not isinstance(v, kind) or (isinstance(v, bool) and kind is not bool):
        raise fail(f"{where} field {key!r} has the wrong type ({type(v).__name__})")
    return v


def load_project(path: str | os.PathLike) -> Project:
    """Read a project; raises ``ProjectError`` (one sentence) for anything damaged, foreign or newer."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ProjectError(f"{name} does not exist or is not a file.")
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ProjectError(f"{name} is not an OASIS Studio project (it is not a zip file: {exc}).") from exc
    with z:
        r = _Reader(z, name)
        raw = r.read("scene.json")
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise r.fail(f"scene.json is not valid JSON ({exc})") from exc
        except RecursionError:
            raise r.fail("scene.json is nested too deeply to be a scene") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise r.fail("scene.json does not declare the format 'oasis-studio-project' (a foreign zip file?)")
        version = _get(doc, "version", int, r.fail)
        if version > VERSION:
            raise ProjectError(
                f"{name} was written by a newer OASIS Studio (project version {version}; this one reads up to "
                f"{VERSION}). Update the app to open it."
            )
        if version < 1:
            raise r.fail(f"project version {version} is not valid")
        size = _get(doc, "size", list, r.fail)
        if len(size) != 2 or not all(isinstance(s, int) and 0 < s <= MAX_SIDE for s in size):
            raise r.fail(f"scene size {size} is not a valid height and width")
        shape = (size[0], size[1])
        dtype = _get(doc, "label_dtype", str, r.fail)
        if dtype not in ("uint8", "uint16"):
            raise r.fail(f"label dtype {dtype!r} is not uint8 or uint16")
        modes = ("L", "P") if dtype == "uint8" else ("I;16", "I", "I;16B")

        def labels_png(member: str) -> np.ndarray:
            a = r.image(member, shape, modes)
            if dtype == "uint16" and (a.min() < 0 or a.max() > 65535):
                raise r.fail(f"{member!r} holds values outside 0..65535")
            return a.astype(dtype)

        labels = labels_png("labels.png")
        seed = _get(doc, "style_seed", int, r.fail)
        if not 0 <= seed <= MAX_SEED:
            raise r.fail(f"style seed {seed} is outside 0..{MAX_SEED}")
        locked = _get(doc, "seed_locked", bool, r.fail)

        mask_cache: dict[str, RerollRegion] = {}

        def region(d: dict, where: str) -> RerollRegion:
            ref = _get(d, "mask", str, r.fail, where)
            s = _get(d, "seed", int, r.fail, where)
            strength = _get(d, "strength", float, r.fail, where)
            feather = _get(d, "feather", int, r.fail, where) if "feather" in d else 0  # files before soft borders
            ramp = _get(d, "ramp", str, r.fail, where) if "ramp" in d else LEGACY_RAMP  # files before the smooth one
            if not 0.0 <= strength <= 1.0 or not 0 <= s <= MAX_SEED or not 0 <= feather <= MAX_FEATHER:
                raise r.fail(f"{where} has a seed, strength or soft border out of range")
            if ramp not in FEATHER_RAMPS:
                raise r.fail(f"{where} has an unknown soft border ramp {ramp!r} (known: {', '.join(FEATHER_RAMPS)})")
            key = ref
            if key not in mask_cache:
                m = r.image(ref, shape, ("1", "L")) > 0
                mask_cache[key] = RerollRegion.make(m, 0, 1.0)
            base = mask_cache[key]
            return RerollRegion(base.mask, s, strength, feather, ramp)

        regions = tuple(region(d, f"region {i}") for i, d in enumerate(_get(doc, "regions", list, r.fail)))
        scene = Scene(labels, style_seed=seed, seed_locked=locked)
        scene.regions = regions

        hist_labels: dict[str, np.ndarray] = {"labels.png": scene.labels.copy()}
        entries = _get(doc, "history", list, r.fail)
        index = _get(doc, "history_index", int, r.fail)
        if not -1 <= index < len(entries):
            raise r.fail(f"history index {index} does not point at one of the {len(entries)} entries")
        # the app keeps at most MAX_HISTORY entries: a longer history (an older version, an edited file) keeps the
        # newest ones, and always the current one; the rest is not even decoded
        start = max(0, len(entries) - MAX_HISTORY)
        if 0 <= index < start:
            start = index
        for i, h in enumerate(entries[start : start + MAX_HISTORY], start=start):
            where = f"history entry {i}"
            ref = _get(h, "labels", str, r.fail, where)
            if ref not in hist_labels:
                hist_labels[ref] = labels_png(ref)
            thumb = None
            if h.get("thumbnail") is not None:
                t = _get(h, "thumbnail", str, r.fail, where)
                try:  # a preview only: one larger than any the app writes is dropped, not decoded
                    thumb = r.image(t, None, ("RGB",), max_side=THUMB)
                except ProjectError:
                    if r.members.get(t) is None:
                        raise
                    thumb = None
            hseed = _get(h, "style_seed", int, r.fail, where)
            if not 0 <= hseed <= MAX_SEED:
                raise r.fail(f"{where} has a style seed out of range")
            entry = HistoryEntry(
                labels=hist_labels[ref],
                style_seed=hseed,
                regions=tuple(
                    region(d, f"{where} region {k}") for k, d in enumerate(_get(h, "regions", list, r.fail, where))
                ),
                timestamp=_get(h, "timestamp", float, r.fail, where),
                ms=_get(h, "ms", float, r.fail, where),
                device=str(h.get("device", "")),
                dtype=str(h.get("dtype", "")),
                model_hash=str(h.get("model_hash", "")),
                kind=str(h.get("kind", "generate")),
                thumbnail=thumb,
            )
            scene.history.append(entry)
            entry.labels.flags.writeable = False
        index = index - start if index >= 0 else -1
        scene.history_index = index

        image = None
        if doc.get("image") is not None:
            image = r.image(_get(doc, "image", str, r.fail), shape, ("RGB",))
            if index >= 0:
                scene.history[index].image = image
        if doc.get("photo") is not None:
            scene.photo = _read_photo(r, doc["photo"], shape, labels_png)
        model = doc.get("model") or {}
        if not isinstance(model, dict):
            raise r.fail("the model identity is not an object")
        scene.mark_saved()
        return Project(
            scene=scene,
            model_hash=str(model.get("hash", "")),
            model_name=str(model.get("name", "")),
            image=image,
            saved_at=float(doc.get("saved_at", 0.0)) if isinstance(doc.get("saved_at"), (int, float)) else 0.0,
            app_version=str(doc.get("app_version", "")),
        )


def _read_photo(
    r: _Reader, d: object, shape: tuple[int, int], labels_png: Callable[[str], np.ndarray]
) -> PhotoReference:
    """The photo reference described by scene.json's "photo" entry, every member checked against the scene size."""
    where = "the photo reference in scene.json"
    if not isinstance(d, dict):
        raise r.fail(f"{where} is not an object")
    photo = r.image(_get(d, "photo", str, r.fail, where), shape, ("RGB",))
    labels = labels_png(_get(d, "labels", str, r.fail, where))
    ref = _get(d, "confidence", str, r.fail, where)
    stored = r.image(ref, shape, ("I;16", "I", "I;16B"))
    if stored.min() < 0 or stored.max() > CONFIDENCE_SCALE:
        raise r.fail(f"{ref!r} holds confidence values outside 0..{CONFIDENCE_SCALE} (0..1)")
    confidence = stored.astype(np.float32) / np.float32(CONFIDENCE_SCALE)
    applied = None
    if d.get("applied") is not None:
        applied = labels_png(_get(d, "applied", str, r.fail, where))
    source = _get(d, "source", str, r.fail, where)
    size = _get(d, "source_size", list, r.fail, where)
    if len(size) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < MAX_SOURCE_SIDE for v in size
    ):
        raise r.fail(f"{where} has a source size {size} that is not a height and width")
    cleanup = _get(d, "cleanup", int, r.fail, where)
    if not 0 <= cleanup <= 100:
        raise r.fail(f"{where} has a clean-up level {cleanup} outside 0..100")
    return PhotoReference(
        photo=photo,
        labels=labels,
        confidence=confidence,
        source=source,
        source_size=(size[0], size[1]),
        cleanup=cleanup,
        applied=applied,
    )
