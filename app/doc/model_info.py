"""A plain description of a loaded model's classes: what the GUI needs, without torch or oasis_core.

``app.engine`` builds a ``ModelInfo`` from the model's label space; everything else in the app (palette, canvas,
label files, project files) works from it with numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

RGB = tuple[int, int, int]


class LabelMapError(ValueError):
    """A label map does not fit the model's classes."""


@dataclass(frozen=True)
class ClassInfo:
    """One class a user can paint: its label-file value, name and display colour."""

    value: int
    name: str
    rgb: RGB


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI knows about a model. ``aliases`` maps extra accepted file values to the value painted instead."""

    name: str
    model_hash: str
    classes: tuple[ClassInfo, ...]
    dont_care_value: int | None = None
    natural_size: tuple[int, int] = (256, 256)
    size_multiple: int = 32
    has_discriminator: bool = False
    path: str = ""
    device: str = "cpu"
    dtype: str = "float32"
    label_space_name: str = ""
    aliases: tuple[tuple[int, int], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError("a model needs at least one class")

    # ----------------------------------------------------------------- lookups
    @cached_property
    def _by_value(self) -> dict[int, ClassInfo]:
        return {c.value: c for c in self.classes}

    @property
    def max_value(self) -> int:
        return max([c.value for c in self.classes] + [a for a, _ in self.aliases])

    @property
    def label_dtype(self) -> np.dtype:
        """The smallest unsigned dtype that holds every class value."""
        return np.dtype(np.uint8) if self.max_value < 256 else np.dtype(np.uint16)

    def class_of(self, value: int) -> ClassInfo | None:
        return self._by_value.get(int(value))

    def value_of(self, name: str) -> int | None:
        key = name.strip().lower()
        for c in self.classes:
            if c.name.lower() == key:
                return c.value
        return None

    def is_dont_care(self, value: int) -> bool:
        return self.dont_care_value is not None and int(value) == self.dont_care_value

    @property
    def real_classes(self) -> tuple[ClassInfo, ...]:
        """Classes other than don't care, in the model's order."""
        return tuple(c for c in self.classes if not self.is_dont_care(c.value))

    def default_fill_value(self) -> int:
        """What a fresh canvas is filled with: the first real class."""
        real = self.real_classes
        return real[0].value if real else self.classes[0].value

    def eraser_value(self) -> int:
        """The eraser paints don't care when the model has it, else its first class (the background)."""
        return self.dont_care_value if self.dont_care_value is not None else self.default_fill_value()

    # ----------------------------------------------------------------- numpy helpers
    @cached_property
    def colour_lut(self) -> np.ndarray:
        """(max value + 1, 3) uint8: colour of every file value (aliases take their target's colour)."""
        lut = np.zeros((self.max_value + 1, 3), dtype=np.uint8)
        for c in self.classes:
            lut[c.value] = c.rgb
        for a, target in self.aliases:
            cls = self.class_of(target)
            if cls is not None:
                lut[a] = cls.rgb
        return lut

    @cached_property
    def valid_lut(self) -> np.ndarray:
        """(max value + 1,) int64: the value painted for each accepted file value, -1 for values not accepted."""
        lut = np.full(self.max_value + 1, -1, dtype=np.int64)
        for c in self.classes:
            lut[c.value] = c.value
        for a, target in self.aliases:
            lut[a] = target
        return lut

    def colourize(self, labels: np.ndarray) -> np.ndarray:
        """Label values (H, W) -> RGB (H, W, 3) uint8. Values must be valid (see ``normalise``)."""
        return self.colour_lut[labels]

    def describe_valid(self) -> str:
        vals = sorted(int(v) for v in np.flatnonzero(self.valid_lut >= 0))
        runs: list[str] = []
        start = prev = vals[0]
        for v in [*vals[1:], None]:
            if v is not None and v == prev + 1:
                prev = v
                continue
            runs.append(str(start) if start == prev else f"{start}..{prev}")
            if v is not None:
                start = prev = v
        return ", ".join(runs)

    def normalise(self, values: np.ndarray, source: str = "the label map") -> np.ndarray:
        """Integer ids (H, W) -> the model's values in ``label_dtype``; aliases mapped. Unknown ids raise."""
        ids = np.asarray(values).astype(np.int64, copy=False)
        lut = self.valid_lut
        inside = (ids >= 0) & (ids < len(lut))
        out = np.full(ids.shape, -1, dtype=np.int64)
        out[inside] = lut[ids[inside]]
        bad = out < 0
        if bad.any():
            found = np.unique(ids[bad])
            shown = ", ".join(str(int(i)) for i in found[:8]) + (" ..." if len(found) > 8 else "")
            raise LabelMapError(
                f"{source} contains the ids {shown}, which are not classes of the model {self.name!r} "
                f"(valid ids: {self.describe_valid()})."
            )
        return out.astype(self.label_dtype)

    def nearest_values(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """Map an RGB image to the nearest class colour: (values in ``label_dtype``, fraction of exact matches)."""
        flat = np.asarray(rgb, dtype=np.int32)[..., :3].reshape(-1, 3)
        cols = np.array([c.rgb for c in self.classes], dtype=np.int32)
        vals = np.array([c.value for c in self.classes], dtype=np.int64)
        uniq, inverse = np.unique(flat, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        dist = ((uniq[:, None, :] - cols[None, :, :]) ** 2).sum(-1)
        best = dist.argmin(1)
        exact = float((dist[np.arange(len(uniq)), best] == 0)[inverse].mean()) if len(flat) else 1.0
        out = vals[best][inverse].reshape(np.asarray(rgb).shape[:2])
        return out.astype(self.label_dtype), exact

    def palette(self) -> np.ndarray:
        """256x3 uint8 palette indexed by file value (for indexed PNGs); unused entries are black."""
        pal = np.zeros((256, 3), dtype=np.uint8)
        n = min(256, len(self.colour_lut))
        pal[:n] = self.colour_lut[:n]
        return pal

    def labels_txt(self) -> str:
        """``value name`` per line: the companion of an exported label map."""
        return "".join(f"{c.value} {c.name}\n" for c in self.classes)

    def snap_size(self, height: int, width: int) -> tuple[int, int]:
        """The nearest sizes (at least one multiple) the generator accepts."""
        m = self.size_multiple
        return max(m, round(height / m) * m), max(m, round(width / m) * m)

    def photo_canvas_size(self, height: int, width: int, scale: float = 1.0) -> tuple[int, int]:
        """The canvas for a (height, width) photo: its aspect at about the area of the model's natural size (times
        ``scale`` squared), snapped to sizes the generator accepts. Photos are painted at the model's scale."""
        nh, nw = self.natural_size
        s = scale * (nh * nw / (height * width)) ** 0.5
        return self.snap_size(height * s, width * s)
