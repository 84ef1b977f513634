"""A loaded model as the GUI sees it: its label space and where it runs, without torch.

``app.engine`` builds a ``ModelInfo`` when a model loads; everything else in the app (palette, canvas, label files,
project files) works from it with numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from oasis_core.labels import LabelError, LabelSpace
from oasis_core.memory import MAX_SIDE, MemoryEstimateError, estimate, require

RGB = tuple[int, int, int]


class LabelMapError(LabelError):
    """A label map does not fit the model's classes."""


MAX_CANVAS_SIDE = MAX_SIDE  # the app's largest canvas side (the CLI's --size limit too)
APP_BYTES_PER_PIXEL = 200  # labels, their colours, the image on show, 32 history images at 3 B/px, Qt's copies


@dataclass(frozen=True)
class ClassInfo:
    """One class a user can paint: its label-file value, name and display colour."""

    value: int
    name: str
    rgb: RGB


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI knows about a model: its label space (``oasis_core.labels``, numpy only) and where and how it
    runs. Class lookups, validation and colours are the label space's."""

    name: str
    model_hash: str
    label_space: LabelSpace
    natural_size: tuple[int, int] = (256, 256)
    size_multiple: int = 32
    has_discriminator: bool = False
    path: str = ""
    device: str = "cpu"
    dtype: str = "float32"
    bytes_per_pixel: float = 0.0  # estimated peak memory of generating, per pixel (0: unknown)

    # ----------------------------------------------------------------- lookups
    @cached_property
    def classes(self) -> tuple[ClassInfo, ...]:
        """The classes a user can paint, in the model's order (don't care included)."""
        entries = self.label_space.paintable()
        return tuple(ClassInfo(int(v), str(n), (int(c[0]), int(c[1]), int(c[2]))) for v, n, c in entries)

    @cached_property
    def _by_value(self) -> dict[int, ClassInfo]:
        return {c.value: c for c in self.classes}

    @property
    def label_space_name(self) -> str:
        return self.label_space.name

    @property
    def dont_care_value(self) -> int | None:
        return self.label_space.dont_care_value

    @cached_property
    def max_value(self) -> int:
        return max(self.label_space.valid_values())

    @cached_property
    def label_dtype(self) -> np.dtype:
        """The smallest unsigned dtype that holds every class value."""
        return np.dtype(np.uint8) if self.max_value < 256 else np.dtype(np.uint16)

    def class_of(self, value: int) -> ClassInfo | None:
        return self._by_value.get(int(value))

    def value_of(self, name: str) -> int | None:
        try:
            return self.label_space.value_of(name)
        except KeyError:
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
    @property
    def colour_lut(self) -> np.ndarray:
        """The colour of every file value (aliases take their target's colour): ``LabelSpace.value_colours``."""
        return self.label_space.value_colours

    def colourize(self, labels: np.ndarray) -> np.ndarray:
        """Label values (H, W) -> RGB (H, W, 3) uint8. Values must be valid (see ``normalise``)."""
        return self.colour_lut[labels]

    def describe_valid(self) -> str:
        return self.label_space.describe_valid()

    def normalise(self, values: np.ndarray, source: str = "the label map") -> np.ndarray:
        """Integer ids (H, W) -> the model's values in ``label_dtype``; aliases mapped. Unknown ids raise."""
        ls = self.label_space
        try:
            channels = ls.to_channels(np.asarray(values), source)
        except LabelError as exc:
            raise LabelMapError(str(exc)) from None
        return ls.to_values(channels).astype(self.label_dtype)

    def same_classes(self, other: ModelInfo) -> bool:
        """Whether ``other`` paints the same classes with the same ids (the same label space)."""
        mine = [(c.value, c.name.lower()) for c in self.classes]
        return mine == [(c.value, c.name.lower()) for c in other.classes]

    def remap_from(self, old: ModelInfo, labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """``labels`` painted with ``old``'s classes, in this model's ids, class by class *by name* (a label id
        means another class in another label space). Returns (new labels, names of the old classes this model does
        not have: their pixels get the don't-care id where there is one, else the default fill)."""
        fallback = self.dont_care_value if self.dont_care_value is not None else self.default_fill_value()
        by_name = {c.name.lower(): c.value for c in self.classes}
        lut = np.full(max(int(labels.max()) if labels.size else 0, old.max_value) + 1, fallback, dtype=np.int64)
        unknown: list[str] = []
        present = set(np.unique(labels).tolist())
        for c in old.classes:
            value = by_name.get(c.name.lower())
            if value is None and old.is_dont_care(c.value) and self.dont_care_value is not None:
                value = self.dont_care_value
            if value is None:
                if c.value in present:
                    unknown.append(c.name)
                continue
            lut[c.value] = value
        return lut[labels].astype(self.label_dtype), unknown

    def nearest_values(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """Map an RGB image to the nearest class colour: (values in ``label_dtype``, fraction of exact matches)."""
        values, exact = self.label_space.nearest_values(rgb)
        return values.astype(self.label_dtype), exact

    def palette(self) -> np.ndarray:
        """256x3 uint8 palette indexed by file value (for indexed PNGs); unused entries are black."""
        return self.label_space.palette_values()

    def labels_txt(self) -> str:
        """``value name`` per line: the companion of an exported label map."""
        return self.label_space.labels_txt()

    def snap_size(self, height: int, width: int) -> tuple[int, int]:
        """The nearest sizes (at least one multiple) the generator accepts."""
        m = self.size_multiple
        return max(m, round(height / m) * m), max(m, round(width / m) * m)

    def canvas_problem(self, height: int, width: int) -> str | None:
        """Why a canvas of ``height`` x ``width`` cannot be worked on here (one sentence), or None. The app holds
        the label map, its colours, the image and recent history images (about ``APP_BYTES_PER_PIXEL``) and, on the
        CPU, generates beside them (the model's estimate): both must fit in the memory available now."""
        if not (0 < height <= MAX_CANVAS_SIDE and 0 < width <= MAX_CANVAS_SIDE):
            return (
                f"A {width}x{height} canvas is larger than the {MAX_CANVAS_SIDE} pixels a side this app works with; "
                "scale the label map down first."
            )
        pixels = height * width
        per = APP_BYTES_PER_PIXEL + (self.bytes_per_pixel if self.device.startswith("cpu") else 0.0)
        try:
            require(
                estimate(pixels, per),
                f"A {width}x{height} canvas on {self.name}",
                hint="choose a smaller canvas",
            )
        except MemoryEstimateError as exc:
            return str(exc)
        return None

    def photo_canvas_size(self, height: int, width: int, scale: float = 1.0) -> tuple[int, int]:
        """The canvas for a (height, width) photo: its aspect at about the area of the model's natural size (times
        ``scale`` squared), snapped to sizes the generator accepts. Photos are painted at the model's scale."""
        nh, nw = self.natural_size
        s = scale * (nh * nw / (height * width)) ** 0.5
        return self.snap_size(height * s, width * s)
