"""Painted scenes (measure 5 of the model-quality work): label maps as a person paints them in the app, drawn by
code, a dozen per bundled dataset. Large flat regions, simple shapes, straight or gently curved borders: what
the models meet in use, and where their streaks, banding and flat colours show most (real label maps are busier).

``painted_scenes(dataset, height, width)`` gives ``[(name, labels)]`` in file values of the dataset's label space;
``oasis-train eval`` generates each, reports the streak measure on them against the real images' floor, and
saves a sheet (``painted.png``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from skimage import draw

from oasis_core.labels import LabelSpace


class _Painter:
    """A label map painted by class name with the app's kind of tools: fills, rectangles, polygons, ellipses and
    thick strokes, in coordinates relative to the canvas (0..1)."""

    def __init__(self, space: LabelSpace, height: int, width: int, fill: str) -> None:
        self.space, self.h, self.w = space, height, width
        self.labels = np.full((height, width), space.value_of(fill), np.uint8)

    def _put(self, rows: np.ndarray, cols: np.ndarray, name: str) -> None:
        self.labels[rows, cols] = self.space.value_of(name)

    def below(self, name: str, y: float, wave: float = 0.0, waves: float = 3.0, phase: float = 0.0) -> None:
        """Everything below a horizon at height ``y`` (a sine of amplitude ``wave`` when given)."""
        xs = np.arange(self.w) / self.w
        top = (y + wave * np.sin(2 * np.pi * waves * xs + phase)) * self.h
        mask = np.arange(self.h)[:, None] >= top[None, :]
        self.labels[mask] = self.space.value_of(name)

    def rect(self, name: str, y0: float, x0: float, y1: float, x1: float) -> None:
        r0, r1 = round(y0 * self.h), round(y1 * self.h)
        c0, c1 = round(x0 * self.w), round(x1 * self.w)
        self.labels[max(0, r0) : r1, max(0, c0) : c1] = self.space.value_of(name)

    def polygon(self, name: str, points: list[tuple[float, float]]) -> None:
        rr, cc = draw.polygon([p[0] * self.h for p in points], [p[1] * self.w for p in points], (self.h, self.w))
        self._put(rr, cc, name)

    def ellipse(self, name: str, y: float, x: float, ry: float, rx: float) -> None:
        rr, cc = draw.ellipse(y * self.h, x * self.w, ry * self.h, rx * self.w, (self.h, self.w))
        self._put(rr, cc, name)

    def stroke(self, name: str, points: list[tuple[float, float]], radius: float) -> None:
        """A brush stroke through ``points``: discs of ``radius`` (relative to the width) along the polyline."""
        r = max(1.0, radius * self.w)
        for (y0, x0), (y1, x1) in zip(points, points[1:]):
            n = max(2, int(np.hypot((y1 - y0) * self.h, (x1 - x0) * self.w) / max(1.0, r / 2)))
            for t in np.linspace(0, 1, n):
                centre = ((y0 + t * (y1 - y0)) * self.h, (x0 + t * (x1 - x0)) * self.w)
                self._put(*draw.disk(centre, r, shape=(self.h, self.w)), name)


# ------------------------------------------------------------------------------------------------ landscapes
# each scene: its background class, then the painter's operations in order (method name, class, arguments)
LANDSCAPES: list[tuple[str, str, list[tuple]]] = [
    ("sky over grass", "sky", [("below", "grass", 0.55)]),
    ("lake scene", "sky", [
        ("polygon", "mountain", [(0.62, 0.0), (0.22, 0.35), (0.62, 0.75)]),
        ("polygon", "mountain", [(0.62, 0.45), (0.3, 0.78), (0.62, 1.0)]),
        ("below", "grass", 0.6),
        ("ellipse", "water", 0.76, 0.45, 0.1, 0.3),
        ("ellipse", "tree", 0.62, 0.88, 0.12, 0.07),
        ("ellipse", "tree", 0.66, 0.1, 0.1, 0.06),
    ]),
    ("beach", "sky", [("below", "water", 0.5), ("below", "sand", 0.72, 0.03, 1.5)]),
    ("snowy peak", "sky", [
        ("polygon", "mountain", [(0.75, 0.05), (0.15, 0.5), (0.75, 0.95)]),
        ("polygon", "snow", [(0.32, 0.36), (0.15, 0.5), (0.32, 0.64)]),
        ("below", "rock", 0.72, 0.02, 2.0),
        ("below", "grass", 0.82),
    ]),
    ("forest edge", "sky", [("below", "tree", 0.35, 0.04, 5.0), ("below", "grass", 0.68)]),
    ("clouds over hills", "sky", [
        ("ellipse", "cloud", 0.18, 0.25, 0.07, 0.16),
        ("ellipse", "cloud", 0.12, 0.7, 0.06, 0.2),
        ("below", "grass", 0.5, 0.06, 1.2),
    ]),
    ("desert track", "sky", [
        ("below", "sand", 0.5),
        ("polygon", "dirt", [(1.0, 0.3), (0.5, 0.49), (0.5, 0.51), (1.0, 0.7)]),
    ]),
    ("river", "grass", [
        ("rect", "sky", 0.0, 0.0, 0.3, 1.0),
        ("below", "tree", 0.3, 0.02, 4.0),
        ("below", "grass", 0.42),
        ("stroke", "water", [(0.45, 0.2), (0.6, 0.45), (0.75, 0.4), (1.0, 0.6)], 0.05),
    ]),
    ("rocky coast", "sky", [
        ("below", "water", 0.55),
        ("polygon", "rock", [(1.0, 0.0), (0.35, 0.0), (0.45, 0.3), (0.7, 0.45), (1.0, 0.5)]),
    ]),
    ("mountain range", "sky", [
        ("polygon", "mountain", [(0.6, 0.0), (0.25, 0.2), (0.45, 0.35), (0.2, 0.6), (0.4, 0.8), (0.3, 1.0),
                                 (0.6, 1.0)]),
        ("below", "water", 0.6),
        ("below", "grass", 0.8, 0.02, 2.0),
    ]),
    ("dirt road", "sky", [
        ("below", "grass", 0.45),
        ("polygon", "dirt", [(1.0, 0.25), (0.45, 0.48), (0.45, 0.52), (1.0, 0.75)]),
        ("ellipse", "tree", 0.45, 0.15, 0.12, 0.08),
    ]),
    ("island", "water", [
        ("rect", "sky", 0.0, 0.0, 0.4, 1.0),
        ("ellipse", "sand", 0.66, 0.5, 0.12, 0.3),
        ("ellipse", "tree", 0.6, 0.5, 0.08, 0.12),
    ]),
]  # fmt: skip


def _landscapes(p: Callable[[str], _Painter]) -> list[tuple[str, np.ndarray]]:
    out = []
    for name, fill, operations in LANDSCAPES:
        q = p(fill)
        for method, cls, *args in operations:
            getattr(q, method)(cls, *args)
        out.append((name, q.labels))
    return out


# ------------------------------------------------------------------------------------------------ CamVid
def _camvid(p: Callable[[str], _Painter]) -> list[tuple[str, np.ndarray]]:
    out = []

    def street(name: str, cars: int = 0, trees: bool = False, poles: bool = False, fence: bool = False,
               people: bool = False, horizon: float = 0.45) -> None:  # fmt: skip
        q = p("sky")
        q.polygon("building", [(0.0, 0.0), (0.0, 0.38), (horizon, 0.46), (0.85, 0.0)])
        q.polygon("building", [(0.05, 1.0), (0.05, 0.62), (horizon, 0.54), (0.85, 1.0)])
        q.polygon("road", [(1.0, 0.1), (horizon, 0.48), (horizon, 0.52), (1.0, 0.9)])
        q.polygon("pavement", [(1.0, 0.0), (0.85, 0.0), (horizon, 0.46), (horizon, 0.48), (1.0, 0.1)])
        q.polygon("pavement", [(1.0, 1.0), (0.85, 1.0), (horizon, 0.54), (horizon, 0.52), (1.0, 0.9)])
        for k in range(cars):
            y, x = 0.62 + 0.1 * k, 0.3 + 0.28 * (k % 2)
            q.rect("car", y, x, y + 0.12 + 0.04 * k, x + 0.16 + 0.05 * k)
        if trees:
            q.ellipse("tree", 0.3, 0.12, 0.16, 0.1)
            q.ellipse("tree", 0.28, 0.9, 0.14, 0.09)
        if poles:
            q.rect("pole", 0.2, 0.2, 0.8, 0.215)
            q.rect("sign_symbol", 0.22, 0.18, 0.3, 0.24)
        if fence:
            q.rect("fence", 0.58, 0.0, 0.7, 0.28)
        if people:
            q.rect("pedestrian", 0.52, 0.12, 0.72, 0.16)
            q.rect("bicyclist", 0.55, 0.7, 0.72, 0.76)
        out.append((name, q.labels))

    street("empty street")
    street("street with a car", cars=1)
    street("street with cars", cars=2)
    street("tree-lined street", trees=True)
    street("street with a pole and sign", poles=True)
    street("street with a fence", fence=True)
    street("busy street", cars=2, trees=True, poles=True, people=True)
    street("low horizon", horizon=0.55)
    street("high horizon", cars=1, horizon=0.35)
    q = p("sky")  # an open road: no buildings
    q.below("tree", 0.35, 0.03, 4.0)
    q.below("pavement", 0.55)
    q.polygon("road", [(1.0, 0.05), (0.55, 0.45), (0.55, 0.55), (1.0, 0.95)])
    out.append(("open road", q.labels))
    q = p("building")  # a wall of facades with a strip of sky
    q.rect("sky", 0.0, 0.0, 0.15, 1.0)
    q.rect("pavement", 0.7, 0.0, 0.8, 1.0)
    q.rect("road", 0.8, 0.0, 1.0, 1.0)
    out.append(("building front", q.labels))
    q = p("road")  # a car park
    q.rect("sky", 0.0, 0.0, 0.3, 1.0)
    q.rect("building", 0.15, 0.0, 0.45, 1.0)
    for k in range(4):
        q.rect("car", 0.55, 0.05 + 0.24 * k, 0.72, 0.22 + 0.24 * k)
    out.append(("car park", q.labels))
    return out


# ------------------------------------------------------------------------------------------------ facades
def _facades(p: Callable[[str], _Painter]) -> list[tuple[str, np.ndarray]]:
    out = []

    def facade(name: str, rows: int, cols: int, door: bool = True, shop: bool = False, balcony: bool = False,
               cornice: bool = False, sills: bool = False) -> None:  # fmt: skip
        q = p("facade")
        q.rect("background", 0.0, 0.0, 0.06, 1.0)
        top, bottom = (0.14 if cornice else 0.1), (0.7 if shop else 0.78)
        if cornice:
            q.rect("cornice", 0.06, 0.0, 0.1, 1.0)
        for r in range(rows):
            y = top + (bottom - top) * r / rows
            for c in range(cols):
                x = 0.08 + 0.84 * c / cols
                q.rect("window", y, x + 0.02, y + 0.55 * (bottom - top) / rows, x + 0.84 / cols - 0.04)
                if sills:
                    y1 = y + 0.55 * (bottom - top) / rows
                    q.rect("sill", y1, x + 0.01, y1 + 0.015, x + 0.84 / cols - 0.03)
            if balcony and r % 2 == 1:
                q.rect("balcony", y + 0.45 * (bottom - top) / rows, 0.05, y + 0.6 * (bottom - top) / rows, 0.95)
        if shop:
            q.rect("shop", 0.74, 0.0, 1.0, 1.0)
        if door:
            q.rect("door", 0.82, 0.44, 1.0, 0.56)
        out.append((name, q.labels))

    facade("grid of windows", 4, 4)
    facade("narrow house", 5, 2)
    facade("wide block", 3, 6)
    facade("with a cornice", 4, 3, cornice=True)
    facade("with sills", 4, 4, sills=True)
    facade("with balconies", 4, 3, balcony=True)
    facade("shop front", 3, 4, door=False, shop=True)
    facade("shop and cornice", 3, 5, door=False, shop=True, cornice=True)
    facade("tall", 6, 3)
    facade("few windows", 2, 2)
    facade("everything", 4, 4, balcony=True, cornice=True, sills=True)
    facade("no door", 4, 4, door=False)
    return out


SCENES = {"landscapes": _landscapes, "camvid": _camvid, "facades": _facades}


def painted_scenes(dataset: str, space: LabelSpace, height: int, width: int) -> list[tuple[str, np.ndarray]]:
    """The painted scenes of a bundled dataset at ``height`` x ``width`` as ``[(name, labels in file values)]``;
    empty for other datasets."""
    make = SCENES.get(dataset)
    if make is None:
        return []
    return make(lambda fill: _Painter(space, height, width, fill))
