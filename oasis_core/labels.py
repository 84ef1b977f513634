"""Label spaces: what the values in a label file mean and how they map to the generator's one-hot channels.

A label *file* holds integer ids (what users paint and what datasets store). The networks see one-hot *channels*.
``LabelSpace`` owns the mapping between them, the class names and display colours, and the "don't care" channel
(OASIS convention: channel 0 when a dataset has unlabelled pixels; it gets zero weight in the losses).
"""

from __future__ import annotations

import colorsys
import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources

import numpy as np

RGB = tuple[int, int, int]


class LabelError(ValueError):
    """A label map does not fit a label space (values outside the class list, wrong shape)."""


@dataclass(frozen=True)
class LabelSpace:
    """Classes of a model.

    ``names[c]``, ``colours[c]`` and ``file_values[c]`` describe one-hot channel ``c``. ``file_values[c]`` is the id a
    label file uses for that channel, or -1 when no file value maps to it (an unused channel). ``aliases`` maps extra
    file values to channels (COCO-Stuff's 255 -> don't care). ``dont_care`` is the channel that gets zero loss weight,
    or None when every pixel is labelled.
    """

    name: str
    names: tuple[str, ...]
    colours: tuple[RGB, ...]
    file_values: tuple[int, ...]
    dont_care: int | None = None
    aliases: tuple[tuple[int, int], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        n = len(self.names)
        if n < 1:
            raise ValueError("a label space needs at least one class")
        if len(self.colours) != n or len(self.file_values) != n:
            raise ValueError(
                f"label space {self.name!r}: {n} names but {len(self.colours)} colours and "
                f"{len(self.file_values)} file values"
            )
        used = [v for v in self.file_values if v >= 0] + [v for v, _ in self.aliases]
        if len(set(used)) != len(used):
            raise ValueError(f"label space {self.name!r}: a file value maps to two channels")
        if any(not 0 <= v <= 65535 for v in used):
            raise ValueError(f"label space {self.name!r}: file values must be in 0..65535")
        if self.dont_care is not None and not 0 <= self.dont_care < n:
            raise ValueError(f"label space {self.name!r}: don't-care channel {self.dont_care} is not a channel")
        for c in self.colours:
            if len(c) != 3 or any(not 0 <= int(x) <= 255 for x in c):
                raise ValueError(f"label space {self.name!r}: colour {c} is not an RGB triple in 0..255")

    # ----------------------------------------------------------------- sizes and lookups
    @property
    def num_channels(self) -> int:
        """One-hot channels the generator takes (``semantic_nc`` in the paper's code)."""
        return len(self.names)

    @property
    def num_classes(self) -> int:
        """Real classes: channels other than the don't-care one."""
        return self.num_channels - (self.dont_care is not None)

    @property
    def dont_care_value(self) -> int | None:
        """The file value that paints the don't-care channel, if any."""
        if self.dont_care is None:
            return None
        v = self.file_values[self.dont_care]
        if v >= 0:
            return v
        for value, ch in self.aliases:
            if ch == self.dont_care:
                return value
        return None

    @cached_property
    def _lut(self) -> np.ndarray:
        top = max([v for v in self.file_values if v >= 0] + [v for v, _ in self.aliases])
        lut = np.full(max(top + 1, 256), -1, dtype=np.int64)
        for c, v in enumerate(self.file_values):
            if v >= 0:
                lut[v] = c
        for v, c in self.aliases:
            lut[v] = c
        return lut

    def valid_values(self) -> list[int]:
        """Every file value this space accepts, sorted."""
        return sorted(int(v) for v in np.flatnonzero(self._lut >= 0))

    def paintable(self) -> list[tuple[int, str, RGB]]:
        """(file value, name, colour) of every class a user can paint, in channel order (don't care included)."""
        return [(v, self.names[c], self.colours[c]) for c, v in enumerate(self.file_values) if v >= 0]

    def real_logit_channels(self) -> list[int]:
        """Discriminator output channels (c + 1) of the real, paintable classes: the fake channel, the don't-care
        channel and channels without a file value are left out (what segmentation chooses among)."""
        return [c + 1 for c, v in enumerate(self.file_values) if v >= 0 and c != self.dont_care]

    def channel_of(self, value: int) -> int:
        if 0 <= value < len(self._lut) and self._lut[value] >= 0:
            return int(self._lut[value])
        raise LabelError(f"label value {value} is not a class of {self.name!r} (valid: {self.describe_valid()})")

    def name_of(self, value: int) -> str:
        return self.names[self.channel_of(value)]

    def colour_of(self, value: int) -> RGB:
        return self.colours[self.channel_of(value)]

    def value_of(self, name: str) -> int:
        """File value of a class given its name (case-insensitive)."""
        key = name.strip().lower()
        for c, n in enumerate(self.names):
            if n.lower() == key and self.file_values[c] >= 0:
                return self.file_values[c]
        raise KeyError(f"{name!r} is not a class of {self.name!r}")

    def describe_valid(self) -> str:
        vals = self.valid_values()
        runs: list[str] = []
        start = prev = vals[0]
        for v in vals[1:] + [None]:  # type: ignore[list-item]
            if v is not None and v == prev + 1:
                prev = v
                continue
            runs.append(f"{start}" if start == prev else f"{start}..{prev}")
            if v is not None:
                start = prev = v
        return ", ".join(runs)

    # ----------------------------------------------------------------- conversions
    def to_channels(self, labels: np.ndarray, source: str | None = None) -> np.ndarray:
        """File values (H, W) -> channel indices (H, W) int64; unknown values raise ``LabelError`` naming them
        (and ``source``, what the map is, when given)."""
        labels = np.asarray(labels)
        if labels.ndim != 2:
            raise LabelError(f"a label map must be 2-D (H, W), got shape {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            if np.issubdtype(labels.dtype, np.floating) and np.all(np.mod(labels, 1) == 0):
                labels = labels.astype(np.int64)
            else:
                raise LabelError(f"label values must be integers, got dtype {labels.dtype}")
        lab = labels.astype(np.int64, copy=False)
        lut = self._lut
        inside = (lab >= 0) & (lab < len(lut))
        ch = np.full(lab.shape, -1, dtype=np.int64)
        ch[inside] = lut[lab[inside]]
        bad = ch < 0
        if bad.any():
            ids = np.unique(lab[bad])
            shown = ", ".join(str(int(i)) for i in ids[:10]) + (" ..." if len(ids) > 10 else "")
            if source is not None:
                raise LabelError(
                    f"{source} contains the ids {shown}, which are not classes of {self.name!r} "
                    f"(valid ids: {self.describe_valid()})."
                )
            raise LabelError(
                f"label values {shown} are not classes of the {self.name!r} label space "
                f"(valid values: {self.describe_valid()})"
            )
        return ch

    def to_values(self, channels: np.ndarray) -> np.ndarray:
        """Channel indices -> file values (channels without a file value become the don't-care value or 0)."""
        fill = self.dont_care_value if self.dont_care_value is not None else 0
        table = np.array([v if v >= 0 else fill for v in self.file_values], dtype=np.int64)
        return table[np.asarray(channels, dtype=np.int64)]

    def colourize(self, labels: np.ndarray) -> np.ndarray:
        """File values (H, W) -> RGB (H, W, 3) uint8 in class colours."""
        ch = self.to_channels(labels)
        return np.asarray(self.colours, dtype=np.uint8)[ch]

    @cached_property
    def value_colours(self) -> np.ndarray:
        """(largest file value + 1 (at least 256), 3) uint8, read-only: the colour of every file value (aliases
        take their channel's colour; values of no class are black). ``value_colours[labels]`` colours a valid map."""
        lut = self._lut
        table = np.zeros((len(lut), 3), dtype=np.uint8)
        ok = lut >= 0
        table[ok] = np.asarray(self.colours, dtype=np.uint8)[lut[ok]]
        table.flags.writeable = False
        return table

    def palette_values(self) -> np.ndarray:
        """A 256x3 palette indexed by file value (for indexed PNGs); unused entries are black."""
        return self.value_colours[:256].copy()

    def nearest_values(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """Map an RGB image to the nearest class colour. Returns (file values, fraction of exact matches)."""
        rgb = np.asarray(rgb, dtype=np.int32)[..., :3]
        entries = self.paintable()
        cols = np.array([c for _, _, c in entries], dtype=np.int32)
        vals = np.array([v for v, _, _ in entries], dtype=np.int64)
        flat = rgb.reshape(-1, 3)
        uniq, inverse = np.unique(flat, axis=0, return_inverse=True)
        d = ((uniq[:, None, :] - cols[None, :, :]) ** 2).sum(-1)
        best = d.argmin(1)
        exact = float((d[np.arange(len(uniq)), best] == 0)[inverse.ravel()].mean())
        return vals[best][inverse.ravel()].reshape(rgb.shape[:2]), exact

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "names": list(self.names),
            "colours": [list(c) for c in self.colours],
            "file_values": list(self.file_values),
            "dont_care": self.dont_care,
            "aliases": [list(a) for a in self.aliases],
        }

    @classmethod
    def from_dict(cls, d: dict) -> LabelSpace:
        try:
            return cls(
                name=str(d["name"]),
                names=tuple(str(n) for n in d["names"]),
                colours=tuple(tuple(int(x) for x in c) for c in d["colours"]),  # type: ignore[misc]
                file_values=tuple(int(v) for v in d["file_values"]),
                dont_care=None if d.get("dont_care") is None else int(d["dont_care"]),
                aliases=tuple((int(a), int(b)) for a, b in d.get("aliases", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid label space description: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def labels_txt(self) -> str:
        """``value name`` per line, the companion of an exported label map."""
        return "".join(f"{v} {n}\n" for v, n, _ in self.paintable())


# --------------------------------------------------------------------- palettes and built-in spaces
def distinct_colours(n: int, seed: int = 0) -> list[RGB]:
    """n well-separated colours (golden-ratio hues, alternating lightness), deterministic."""
    out: list[RGB] = []
    h = (seed * 0.1234) % 1.0
    for i in range(n):
        h = (h + 0.618033988749895) % 1.0
        light = (0.45, 0.62, 0.35)[i % 3]
        sat = (0.75, 0.55, 0.9)[(i // 3) % 3]
        r, g, b = colorsys.hls_to_rgb(h, light, sat)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return out


def _names_file(fname: str) -> list[str]:
    text = resources.files("oasis_core").joinpath("data", fname).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def ade20k() -> LabelSpace:
    names = ["other"] + _names_file("ade20k_names.txt")
    colours = [(0, 0, 0)] + distinct_colours(150, seed=1)
    return LabelSpace("ade20k", tuple(names), tuple(colours), tuple(range(151)), dont_care=0)


_CITYSCAPES = [
    ("unlabeled", (0, 0, 0)),
    ("ego vehicle", (0, 0, 0)),
    ("rectification border", (0, 0, 0)),
    ("out of roi", (0, 0, 0)),
    ("static", (20, 20, 20)),
    ("dynamic", (111, 74, 0)),
    ("ground", (81, 0, 81)),
    ("road", (128, 64, 128)),
    ("sidewalk", (244, 35, 232)),
    ("parking", (250, 170, 160)),
    ("rail track", (230, 150, 140)),
    ("building", (70, 70, 70)),
    ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)),
    ("guard rail", (180, 165, 180)),
    ("bridge", (150, 100, 100)),
    ("tunnel", (150, 120, 90)),
    ("pole", (153, 153, 153)),
    ("polegroup", (153, 153, 154)),
    ("traffic light", (250, 170, 30)),
    ("traffic sign", (220, 220, 0)),
    ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)),
    ("sky", (70, 130, 180)),
    ("person", (220, 20, 60)),
    ("rider", (255, 0, 0)),
    ("car", (0, 0, 142)),
    ("truck", (0, 0, 70)),
    ("bus", (0, 60, 100)),
    ("caravan", (0, 0, 90)),
    ("trailer", (0, 0, 110)),
    ("train", (0, 80, 100)),
    ("motorcycle", (0, 0, 230)),
    ("bicycle", (119, 11, 32)),
]


def cityscapes() -> LabelSpace:
    # labelIds 0..33 -> channel id; channel 34 exists in the official network but no label id maps to it.
    names = [n for n, _ in _CITYSCAPES] + ["(unused)"]
    colours = [c for _, c in _CITYSCAPES] + [(0, 0, 0)]
    return LabelSpace("cityscapes", tuple(names), tuple(colours), tuple(range(34)) + (-1,), dont_care=0)


def coco_stuff() -> LabelSpace:
    names = ["unlabeled"] + _names_file("coco_stuff_names.txt")
    colours = [(0, 0, 0)] + distinct_colours(182, seed=2)
    # file value v (0..181) -> channel v + 1; 255 -> channel 0 (don't care)
    return LabelSpace("coco_stuff", tuple(names), tuple(colours), (255,) + tuple(range(182)), dont_care=0, aliases=())


_CAMVID = [
    ("sky", (128, 128, 128)),
    ("building", (128, 0, 0)),
    ("pole", (192, 192, 128)),
    ("road", (128, 64, 128)),
    ("pavement", (60, 40, 222)),
    ("tree", (128, 128, 0)),
    ("sign_symbol", (192, 128, 128)),
    ("fence", (64, 64, 128)),
    ("car", (64, 0, 128)),
    ("pedestrian", (64, 64, 0)),
    ("bicyclist", (0, 128, 192)),
]


def camvid() -> LabelSpace:
    # file id 11 (void) -> channel 0 (don't care); ids 0..10 -> channels 1..11
    names = ["void"] + [n for n, _ in _CAMVID]
    colours = [(0, 0, 0)] + [c for _, c in _CAMVID]
    return LabelSpace("camvid", tuple(names), tuple(colours), (11,) + tuple(range(11)), dont_care=0)


_FACADES = [
    ("background", (0, 0, 170)),
    ("facade", (0, 0, 255)),
    ("window", (0, 85, 255)),
    ("door", (0, 170, 255)),
    ("cornice", (0, 255, 255)),
    ("sill", (85, 255, 170)),
    ("balcony", (170, 255, 85)),
    ("blind", (255, 255, 0)),
    ("deco", (255, 170, 0)),
    ("molding", (255, 85, 0)),
    ("pillar", (255, 0, 0)),
    ("shop", (170, 0, 0)),
]


def facades() -> LabelSpace:
    # ids 1..12 -> channels 1..12; channel 0 (id 0) is don't care and never occurs in the data
    names = ["unlabeled"] + [n for n, _ in _FACADES]
    colours = [(0, 0, 0)] + [c for _, c in _FACADES]
    return LabelSpace("facades", tuple(names), tuple(colours), tuple(range(13)), dont_care=0)


_LANDSCAPES = [
    ("sky", (110, 170, 235)),
    ("cloud", (225, 230, 240)),
    ("mountain", (120, 100, 90)),
    ("rock", (150, 140, 130)),
    ("snow", (250, 250, 255)),
    ("water", (30, 90, 180)),
    ("grass", (90, 170, 60)),
    ("sand", (230, 210, 150)),
    ("tree", (30, 100, 40)),
    ("dirt", (140, 95, 55)),
]


def landscapes() -> LabelSpace:
    # procedurally rendered scenes: every pixel is labelled, so there is no don't-care channel
    return LabelSpace(
        "landscapes",
        tuple(n for n, _ in _LANDSCAPES),
        tuple(c for _, c in _LANDSCAPES),
        tuple(range(len(_LANDSCAPES))),
        dont_care=None,
    )


BUILTIN = {
    "ade20k": ade20k,
    "cityscapes": cityscapes,
    "coco": coco_stuff,
    "coco_stuff": coco_stuff,
    "camvid": camvid,
    "facades": facades,
    "landscapes": landscapes,
}


def get(name: str) -> LabelSpace:
    """A built-in label space by name."""
    try:
        return BUILTIN[name.lower()]()
    except KeyError:
        raise KeyError(f"unknown label space {name!r}; known: {', '.join(sorted(BUILTIN))}") from None


def resize_nearest(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a (H, W) array to ``size`` = (height, width), sampling pixel centres."""
    h, w = arr.shape
    oh, ow = size
    if (h, w) == (oh, ow):
        return arr
    rows = np.minimum(((np.arange(oh) + 0.5) * (h / oh)).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(ow) + 0.5) * (w / ow)).astype(np.int64), w - 1)
    return arr[rows[:, None], cols[None, :]]
