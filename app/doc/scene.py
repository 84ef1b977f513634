"""The scene document: label map, noise seeds and reroll regions, generation history and undo. No Qt, no torch.

The label map holds the model's *file values* (what a label PNG stores); the noise is described by the scene's
recipe (``app.doc.recipe``), the images made so far by its history (``app.doc.history``), and a scene imported from
a photo keeps its photo layer (``app.doc.photo``).

Undo works on edit groups (one per stroke or command). Label changes are stored as the 64x64 tiles they touched
(before and after), so a stroke on a large canvas costs memory in proportion to what it changed.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from app.doc.history import MAX_HISTORY, HistoryEntry
from app.doc.photo import PhotoReference
from app.doc.recipe import MAX_SEED, NoiseRecipe, RerollRegion, readonly_copy

TILE = 64
MAX_UNDO = 200
_ids = itertools.count(1)

BBox = tuple[int, int, int, int]  # (y0, x0, y1, x1), ends exclusive


@dataclass(frozen=True, eq=False)
class _State:
    style_seed: int
    seed_locked: bool
    regions: tuple[RerollRegion, ...]


@dataclass(eq=False)
class _Edit:
    name: str
    token: int
    tiles: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    state_before: _State | None = None
    state_after: _State | None = None


class Scene:
    """A label map plus everything needed to generate from it reproducibly."""

    def __init__(self, labels: np.ndarray, style_seed: int = 0, seed_locked: bool = True) -> None:
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.size == 0:
            raise ValueError(f"a label map must be a non-empty 2-D array, got shape {labels.shape}")
        if labels.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"label maps are uint8 or uint16, got {labels.dtype}")
        self._labels = np.array(labels, copy=True)
        self.style_seed = int(style_seed) & MAX_SEED
        self.seed_locked = bool(seed_locked)
        self.regions: tuple[RerollRegion, ...] = ()
        self.selection: np.ndarray | None = None
        self.photo: PhotoReference | None = None  # set when the scene was imported from a photo
        self.history: list[HistoryEntry] = []
        self.history_index = -1
        self._undo: list[_Edit] = []
        self._redo: list[_Edit] = []
        self._group: _Edit | None = None
        self._group_depth = 0
        self._group_before: dict[tuple[int, int], np.ndarray] = {}
        self._saved_token = 0
        self._extra_dirty = False
        self.revision = 0  # bumps on every change of labels, seeds or regions (undo and redo included)

    @classmethod
    def blank(cls, height: int, width: int, value: int, dtype: np.dtype | type = np.uint8, **kw) -> Scene:
        return cls(np.full((height, width), value, dtype=dtype), **kw)

    def snapshot(self) -> Scene:
        """A detached copy of the scene as it is now, for saving in another thread (autosave): the label map is
        copied; the history entries, regions and photo arrays are shared (they are never changed in place). No undo
        stack, no selection."""
        s = Scene(self._labels, self.style_seed, self.seed_locked)
        s.regions = self.regions
        s.history = list(self.history)
        s.history_index = self.history_index
        s.photo = dataclasses.replace(self.photo) if self.photo is not None else None
        return s

    # ----------------------------------------------------------------- plain properties
    @property
    def labels(self) -> np.ndarray:
        """The label map. Read it freely; change it only through ``write``/``write_patch`` so undo sees it."""
        return self._labels

    @property
    def shape(self) -> tuple[int, int]:
        return self._labels.shape  # type: ignore[return-value]

    @property
    def height(self) -> int:
        return self._labels.shape[0]

    @property
    def width(self) -> int:
        return self._labels.shape[1]

    def noise_recipe(self) -> NoiseRecipe:
        return NoiseRecipe(self.height, self.width, self.style_seed, self.regions)

    def _state(self) -> _State:
        return _State(self.style_seed, self.seed_locked, self.regions)

    def _set_state(self, s: _State) -> None:
        # the seed lock is a setting, not part of the edit history: undo and redo leave it as the user set it
        self.style_seed, self.regions = s.style_seed, s.regions

    # ----------------------------------------------------------------- edit groups
    def begin_edit(self, name: str) -> None:
        """Open an undo group (a stroke); nested calls join the outer group."""
        if self._group_depth == 0:
            self._group = _Edit(name, next(_ids))
            self._group_before = {}
        self._group_depth += 1

    def end_edit(self) -> bool:
        """Close the group; returns True when it changed something (and went on the undo stack)."""
        if self._group_depth == 0:
            raise RuntimeError("end_edit without begin_edit")
        self._group_depth -= 1
        if self._group_depth:
            return False
        edit, self._group = self._group, None
        assert edit is not None
        for key, before in self._group_before.items():
            after = self._labels[self._tile_slice(key)]
            if not np.array_equal(before, after):
                edit.tiles[key] = (before, after.copy())
        self._group_before = {}
        if edit.state_before is not None:
            edit.state_after = self._state()
            if _same_state(edit.state_before, edit.state_after):
                edit.state_before = edit.state_after = None
        if not edit.tiles and edit.state_before is None:
            return False
        self._undo.append(edit)
        del self._undo[:-MAX_UNDO]
        self._redo.clear()
        return True

    @contextmanager
    def edit(self, name: str) -> Iterator[None]:
        self.begin_edit(name)
        try:
            yield
        finally:
            self.end_edit()

    def _tile_slice(self, key: tuple[int, int]) -> tuple[slice, slice]:
        ty, tx = key
        return slice(ty * TILE, min((ty + 1) * TILE, self.height)), slice(tx * TILE, min((tx + 1) * TILE, self.width))

    def _touch(self, bbox: BBox) -> None:
        y0, x0, y1, x1 = bbox
        for ty in range(y0 // TILE, (y1 - 1) // TILE + 1):
            for tx in range(x0 // TILE, (x1 - 1) // TILE + 1):
                if (ty, tx) not in self._group_before:
                    self._group_before[(ty, tx)] = self._labels[self._tile_slice((ty, tx))].copy()

    def _record_state(self) -> None:
        assert self._group is not None
        if self._group.state_before is None:
            self._group.state_before = self._state()

    # ----------------------------------------------------------------- label edits
    def clip_bbox(self, bbox: BBox) -> BBox | None:
        y0, x0, y1, x1 = bbox
        y0, x0 = max(0, y0), max(0, x0)
        y1, x1 = min(self.height, y1), min(self.width, x1)
        if y0 >= y1 or x0 >= x1:
            return None
        return y0, x0, y1, x1

    def write(self, bbox: BBox, mask: np.ndarray | None, value: int) -> BBox | None:
        """Set ``value`` where ``mask`` (the bbox's shape; None = all of it) is True. Returns the changed bbox."""
        y0, x0, y1, x1 = bbox
        region = self._labels[y0:y1, x0:x1]
        if mask is None:
            mask = np.ones(region.shape, dtype=bool)
        if mask.shape != region.shape:
            raise ValueError(f"mask shape {mask.shape} does not match the box {bbox}")
        change = mask & (region != value)
        if not change.any():
            return None
        ys, xs = np.nonzero(change)
        changed = (y0 + int(ys.min()), x0 + int(xs.min()), y0 + int(ys.max()) + 1, x0 + int(xs.max()) + 1)
        self._changing(changed)
        region[change] = value
        self.revision += 1
        return changed

    def write_patch(self, y0: int, x0: int, patch: np.ndarray) -> BBox | None:
        """Replace a block of the label map (e.g. a whole new map)."""
        h, w = patch.shape
        region = self._labels[y0 : y0 + h, x0 : x0 + w]
        if region.shape != patch.shape:
            raise ValueError(f"patch {patch.shape} at ({y0}, {x0}) does not fit a {self.shape} label map")
        diff = region != patch
        if not diff.any():
            return None
        ys, xs = np.nonzero(diff)
        changed = (y0 + int(ys.min()), x0 + int(xs.min()), y0 + int(ys.max()) + 1, x0 + int(xs.max()) + 1)
        self._changing(changed)
        region[...] = patch
        self.revision += 1
        return changed

    def _changing(self, bbox: BBox) -> None:
        if self._group_depth == 0:
            raise RuntimeError("label edits must happen inside begin_edit/end_edit (or `with scene.edit(...)`)")
        self._touch(bbox)

    # ----------------------------------------------------------------- seed and region edits
    def set_style_seed(self, seed: int) -> None:
        seed = int(seed) & MAX_SEED
        if seed == self.style_seed:
            return
        with self.edit("Style seed"):
            self._record_state()
            self.style_seed = seed
            self.revision += 1

    def set_seed_locked(self, locked: bool) -> None:
        # The lock is a preference for how live generation treats the seed, not an edit of the image.
        self.seed_locked = bool(locked)

    def add_region(self, region: RerollRegion) -> None:
        if region.mask.shape != self.shape:
            raise ValueError(f"reroll mask {region.mask.shape} does not match the label map {self.shape}")
        with self.edit("Reroll region"):
            self._record_state()
            self.regions = (*self.regions, region)
            self.revision += 1

    def add_regions(self, regions: tuple[RerollRegion, ...], name: str = "Reroll regions") -> None:
        """Append several reroll regions as one undo step."""
        for r in regions:
            if r.mask.shape != self.shape:
                raise ValueError(f"reroll mask {r.mask.shape} does not match the label map {self.shape}")
        if not regions:
            return
        with self.edit(name):
            self._record_state()
            self.regions = (*self.regions, *regions)
            self.revision += 1

    def clear_regions(self) -> None:
        if not self.regions:
            return
        with self.edit("Clear rerolls"):
            self._record_state()
            self.regions = ()
            self.revision += 1

    def set_recipe(self, style_seed: int, regions: tuple[RerollRegion, ...], name: str = "Restore") -> None:
        with self.edit(name):
            self._record_state()
            self.style_seed = int(style_seed) & MAX_SEED
            self.regions = tuple(regions)
            self.revision += 1

    def restore_entry(self, index: int) -> None:
        """Make history entry ``index`` the current scene (labels, seed, regions), as one undoable edit."""
        entry = self.history[index]
        if entry.labels.shape != self.shape:
            raise ValueError("that history entry has another canvas size")
        with self.edit("Go to history"):
            self.write_patch(0, 0, entry.labels)
            self.set_recipe(entry.style_seed, entry.regions, "Go to history")
        self.history_index = index

    # ----------------------------------------------------------------- undo / redo
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_name(self) -> str:
        return self._undo[-1].name if self._undo else ""

    @property
    def redo_name(self) -> str:
        return self._redo[-1].name if self._redo else ""

    def undo(self) -> list[BBox]:
        """Undo the last group; returns the label boxes that changed (for redrawing)."""
        if self._group_depth or not self._undo:
            return []
        edit = self._undo.pop()
        boxes = self._apply(edit, before=True)
        self._redo.append(edit)
        return boxes

    def redo(self) -> list[BBox]:
        if self._group_depth or not self._redo:
            return []
        edit = self._redo.pop()
        boxes = self._apply(edit, before=False)
        self._undo.append(edit)
        return boxes

    def _apply(self, edit: _Edit, before: bool) -> list[BBox]:
        boxes = []
        for key, (b, a) in edit.tiles.items():
            sl = self._tile_slice(key)
            self._labels[sl] = b if before else a
            boxes.append((sl[0].start, sl[1].start, sl[0].stop, sl[1].stop))
        state = edit.state_before if before else edit.state_after
        if state is not None:
            self._set_state(state)
        self.revision += 1
        return boxes

    # ----------------------------------------------------------------- dirty flag
    def _token(self) -> int:
        return self._undo[-1].token if self._undo else 0

    @property
    def dirty(self) -> bool:
        return self._extra_dirty or self._token() != self._saved_token

    def mark_saved(self) -> None:
        self._saved_token = self._token()
        self._extra_dirty = False

    def mark_dirty(self) -> None:
        self._extra_dirty = True

    # ----------------------------------------------------------------- history
    def add_history(self, entry: HistoryEntry, keep_images: int = 32) -> int:
        """Append a generation; keeps full images only for the newest ``keep_images`` entries. The first image of an
        untouched scene (a new canvas's automatic one) leaves it unmodified: discarding it loses nothing."""
        untouched = not self.history and not self.dirty
        entry.labels = readonly_copy(entry.labels) if entry.labels.flags.writeable else entry.labels
        if self.history and self.history[-1].labels_digest == entry.labels_digest:
            entry.labels = self.history[-1].labels  # share identical label maps
        self.history.append(entry)
        if len(self.history) > MAX_HISTORY:
            del self.history[0]
        for old in self.history[:-keep_images]:
            old.image = None
        self.history_index = len(self.history) - 1
        self._extra_dirty = self._extra_dirty or not untouched
        return self.history_index

    def current_entry(self) -> HistoryEntry | None:
        if 0 <= self.history_index < len(self.history):
            return self.history[self.history_index]
        return None

    def matches_entry(self, entry: HistoryEntry) -> bool:
        """Whether the scene now is exactly what made ``entry`` (labels, seed, regions)."""
        return (
            entry.labels.shape == self.shape
            and entry.style_seed == self.style_seed
            and entry.recipe().key() == self.noise_recipe().key()
            and np.array_equal(entry.labels, self._labels)
        )


def _same_state(a: _State, b: _State) -> bool:
    return (
        a.style_seed == b.style_seed
        and len(a.regions) == len(b.regions)
        and all(x is y for x, y in zip(a.regions, b.regions))
    )


def union_bbox(boxes: list[BBox]) -> BBox | None:
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
