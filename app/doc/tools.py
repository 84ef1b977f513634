"""Painting tools as functions over a ``Scene``: rasterisers (numpy) and the edits built on them. No Qt.

Coordinates are continuous image coordinates ``(x, y)``: pixel ``(row i, column j)`` covers ``[j, j+1) x [i, i+1)``
and its centre is ``(j + 0.5, i + 0.5)``. A shape covers the pixels whose centres it contains. Every function that
edits the scene must run inside an edit group (``scene.edit(...)`` or begin/end around a stroke).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from app.doc.scene import BBox, Scene

Point = tuple[float, float]
MAX_BRUSH = 512


# --------------------------------------------------------------------- rasterisers
def _clip(shape: tuple[int, int], y0: int, x0: int, y1: int, x1: int) -> BBox | None:
    h, w = shape
    y0, x0, y1, x1 = max(0, y0), max(0, x0), min(h, y1), min(w, x1)
    if y0 >= y1 or x0 >= x1:
        return None
    return y0, x0, y1, x1


def capsule_mask(shape: tuple[int, int], p0: Point, p1: Point, size: float) -> tuple[BBox, np.ndarray] | None:
    """Pixels within ``size / 2`` of the segment p0-p1 (a round brush dragged along a line), plus the pixels
    under the two end points so that even a 1-pixel brush always paints."""
    r = max(0.5, float(size) / 2.0)
    (ax, ay), (bx, by) = p0, p1
    bbox = _clip(
        shape,
        math.floor(min(ay, by) - r),
        math.floor(min(ax, bx) - r),
        math.ceil(max(ay, by) + r) + 1,
        math.ceil(max(ax, bx) + r) + 1,
    )
    if bbox is None:
        return None
    y0, x0, y1, x1 = bbox
    py = (np.arange(y0, y1, dtype=np.float64) + 0.5)[:, None]
    px = (np.arange(x0, x1, dtype=np.float64) + 0.5)[None, :]
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 > 0:
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
    else:
        t = np.zeros((1, 1))
    d2 = (px - (ax + t * dx)) ** 2 + (py - (ay + t * dy)) ** 2
    mask = d2 <= r * r
    for x, y in (p0, p1):
        j, i = math.floor(x) - x0, math.floor(y) - y0
        if 0 <= i < mask.shape[0] and 0 <= j < mask.shape[1]:
            mask[i, j] = True
    if not mask.any():
        return None
    return bbox, mask


def polygon_mask(shape: tuple[int, int], points: Sequence[Point]) -> tuple[BBox, np.ndarray] | None:
    """Pixels whose centres lie inside the closed polygon (even-odd rule). Works for free lassos of many points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return None
    bbox = _clip(
        shape,
        math.floor(pts[:, 1].min()),
        math.floor(pts[:, 0].min()),
        math.ceil(pts[:, 1].max()) + 1,
        math.ceil(pts[:, 0].max()) + 1,
    )
    if bbox is None:
        return None
    y0, x0, y1, x1 = bbox
    width = x1 - x0
    a, b = pts, np.roll(pts, -1, axis=0)
    ya, yb = a[:, 1], b[:, 1]
    keep = ya != yb  # horizontal edges never cross a row of centres in the half-open test
    a, b, ya, yb = a[keep], b[keep], ya[keep], yb[keep]
    mask = np.zeros((y1 - y0, width), dtype=bool)
    if len(a) == 0:
        return None
    slope = (b[:, 0] - a[:, 0]) / (yb - ya)
    rows_per_chunk = max(1, 2_000_000 // max(1, len(a)))
    for r0 in range(y0, y1, rows_per_chunk):
        r1 = min(y1, r0 + rows_per_chunk)
        ys = (np.arange(r0, r1, dtype=np.float64) + 0.5)[:, None]
        cross = ((ya <= ys) & (yb > ys)) | ((yb <= ys) & (ya > ys))
        rows, edges = np.nonzero(cross)
        if len(rows) == 0:
            continue
        xi = a[edges, 0] + (ys[rows, 0] - ya[edges]) * slope[edges]
        # pixel j is right of the crossing when its centre j + 0.5 > xi
        col = np.clip(np.ceil(xi - 0.5).astype(np.int64) - x0, 0, width)
        toggles = np.zeros((r1 - r0, width + 1), dtype=np.int32)
        np.add.at(toggles, (rows, col), 1)
        mask[r0 - y0 : r1 - y0] = (np.cumsum(toggles, axis=1)[:, :width] & 1).astype(bool)
    if not mask.any():
        return None
    return bbox, mask


def rect_bbox(shape: tuple[int, int], p0: Point, p1: Point) -> BBox | None:
    """The pixels between two corner points, both corner pixels included."""
    (ax, ay), (bx, by) = p0, p1
    return _clip(
        shape,
        math.floor(min(ay, by)),
        math.floor(min(ax, bx)),
        math.floor(max(ay, by)) + 1,
        math.floor(max(ax, bx)) + 1,
    )


def flood_mask(labels: np.ndarray, x: int, y: int) -> tuple[BBox, np.ndarray] | None:
    """The 4-connected region of equal values around pixel (x, y) (scanline fill, rows handled with numpy)."""
    h, w = labels.shape
    if not (0 <= x < w and 0 <= y < h):
        return None
    same = labels == labels[y, x]
    mask = np.zeros((h, w), dtype=bool)
    stack = [(y, x)]
    while stack:
        cy, cx = stack.pop()
        if mask[cy, cx] or not same[cy, cx]:
            continue
        row = same[cy]
        left_gaps = np.flatnonzero(~row[:cx])
        lo = int(left_gaps[-1]) + 1 if len(left_gaps) else 0
        right_gaps = np.flatnonzero(~row[cx:])
        hi = cx + int(right_gaps[0]) if len(right_gaps) else w
        mask[cy, lo:hi] = True
        for ny in (cy - 1, cy + 1):
            if 0 <= ny < h:
                open_ = same[ny, lo:hi] & ~mask[ny, lo:hi]
                if open_.any():
                    starts = np.flatnonzero(open_ & ~np.concatenate(([False], open_[:-1])))
                    stack.extend((ny, lo + int(s)) for s in starts)
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    bbox = (int(ys[0]), int(xs[0]), int(ys[-1]) + 1, int(xs[-1]) + 1)
    return bbox, mask[bbox[0] : bbox[2], bbox[1] : bbox[3]]


def full_mask(shape: tuple[int, int], part: tuple[BBox, np.ndarray] | None) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    if part is not None:
        (y0, x0, y1, x1), m = part
        out[y0:y1, x0:x1] = m
    return out


# --------------------------------------------------------------------- edits on a scene
def paint_segment(scene: Scene, p0: Point, p1: Point, size: float, value: int) -> BBox | None:
    """One piece of a brush (or eraser) stroke: a round brush of diameter ``size`` from p0 to p1."""
    part = capsule_mask(scene.shape, p0, p1, min(float(size), MAX_BRUSH))
    if part is None:
        return None
    return scene.write(part[0], part[1], value)


def paint_stroke(scene: Scene, points: Sequence[Point], size: float, value: int, name: str = "Brush") -> list[BBox]:
    """A whole stroke as one undo group (what a mouse drag does piece by piece)."""
    boxes = []
    with scene.edit(name):
        pts = list(points)
        for p0, p1 in zip(pts, pts[1:] or pts):
            b = paint_segment(scene, p0, p1, size, value)
            if b:
                boxes.append(b)
    return boxes


def fill_polygon(scene: Scene, points: Sequence[Point], value: int) -> BBox | None:
    part = polygon_mask(scene.shape, points)
    if part is None:
        return None
    with scene.edit("Lasso fill"):
        return scene.write(part[0], part[1], value)


def fill_rect(scene: Scene, p0: Point, p1: Point, value: int) -> BBox | None:
    bbox = rect_bbox(scene.shape, p0, p1)
    if bbox is None:
        return None
    with scene.edit("Rectangle"):
        return scene.write(bbox, None, value)


def flood_fill(scene: Scene, x: float, y: float, value: int) -> BBox | None:
    part = flood_mask(scene.labels, math.floor(x), math.floor(y))
    if part is None:
        return None
    with scene.edit("Fill"):
        return scene.write(part[0], part[1], value)


def pick(scene: Scene, x: float, y: float) -> int | None:
    """The eyedropper: the value under (x, y), or None outside the canvas."""
    j, i = math.floor(x), math.floor(y)
    if 0 <= i < scene.height and 0 <= j < scene.width:
        return int(scene.labels[i, j])
    return None


# --------------------------------------------------------------------- selections (reroll masks)
def select_polygon(shape: tuple[int, int], points: Sequence[Point]) -> np.ndarray:
    return full_mask(shape, polygon_mask(shape, points))


def select_rect(shape: tuple[int, int], p0: Point, p1: Point) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    bbox = rect_bbox(shape, p0, p1)
    if bbox is not None:
        y0, x0, y1, x1 = bbox
        out[y0:y1, x0:x1] = True
    return out


def select_segment(selection: np.ndarray, p0: Point, p1: Point, size: float, add: bool = True) -> BBox | None:
    """Brush a selection mask in place (the reroll brush)."""
    part = capsule_mask(selection.shape, p0, p1, min(float(size), MAX_BRUSH))
    if part is None:
        return None
    (y0, x0, y1, x1), m = part
    if add:
        selection[y0:y1, x0:x1] |= m
    else:
        selection[y0:y1, x0:x1] &= ~m
    return part[0]


def select_class(labels: np.ndarray, value: int) -> np.ndarray:
    return labels == value


def mask_bbox(mask: np.ndarray) -> BBox | None:
    ys = np.flatnonzero(mask.any(axis=1))
    if len(ys) == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return int(ys[0]), int(xs[0]), int(ys[-1]) + 1, int(xs[-1]) + 1
