"""The canvas widget: the label map in class colours and the generated image, side by side, blended or split.

Optional layers: an imported photo over the labels (reference), a low-confidence overlay of the photo's
segmentation on the labels, and the discriminator's realism heat map on the image.

It renders the scene and turns mouse input into calls of ``app.doc.tools``; the scene itself stays Qt-free. Mouse
positions become continuous image coordinates, so every pane (in side-by-side view) can be painted on.

Longer than 500 lines: one widget whose drawing (panes, layers, cursor, lasso) and input (tools, pan, zoom) share
its view transform and its cached label image; splitting view and input into two widgets is the next step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from app.doc import BBox, Scene, tools
from app.doc.model_info import ModelInfo

VIEW_MODES = ("side", "blend", "split")
PAINT_TOOLS = ("brush", "eraser", "fill", "lasso", "rect")
SELECT_TOOLS = ("select", "select_brush")
TOOLS = (*PAINT_TOOLS, "picker", *SELECT_TOOLS)
MIN_ZOOM, MAX_ZOOM = 0.05, 40.0
GAP = 12  # pixels between the two panes in side-by-side view
STALE_DIM_MS = 700  # an image older than the labels is dimmed only after this long without a new one


# heat map stops: realistic (dark blue) -> fake (red)
HEAT_STOPS = np.array([[30, 40, 110], [40, 130, 230], [70, 210, 140], [245, 210, 50], [225, 40, 30]], dtype=np.float32)


def heat_colours(values01: np.ndarray) -> np.ndarray:
    """A (H, W) map in [0, 1] -> (H, W, 3) uint8 heat-map colours."""
    t = np.clip(np.nan_to_num(np.asarray(values01, dtype=np.float32)), 0, 1) * (len(HEAT_STOPS) - 1)
    i = np.minimum(t.astype(np.int64), len(HEAT_STOPS) - 2)
    f = (t - i)[..., None]
    return np.round(HEAT_STOPS[i] * (1 - f) + HEAT_STOPS[i + 1] * f).astype(np.uint8)


def uncertainty_rgba(confidence: np.ndarray) -> np.ndarray:
    """Low confidence as diagonal magenta stripes, more opaque as the confidence falls from 0.8 to 0.3; the class
    colours stay visible between the stripes: (H, W, 4) uint8."""
    conf = np.asarray(confidence, dtype=np.float32)
    h, w = conf.shape
    alpha = np.clip((0.8 - conf) / 0.5, 0, 1)
    stripes = ((np.arange(h)[:, None] + np.arange(w)[None, :]) // 2) % 3 == 0
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 2] = 255, 200
    rgba[..., 3] = np.round(alpha * 240 * stripes).astype(np.uint8)
    return rgba


def numpy_to_qimage(rgb: np.ndarray) -> QImage:
    """An (H, W, 3) uint8 array as a QImage that owns a copy of the pixels."""
    a = np.ascontiguousarray(rgb[..., :3])
    h, w = a.shape[:2]
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class Canvas(QWidget):
    """Shows a ``Scene`` and edits it with the current tool."""

    edit_started = Signal()  # a label edit group opened (the window may join it, e.g. to draw a new seed)
    stroke_finished = Signal()  # a label edit ended and changed something
    picked = Signal(int)  # eyedropper
    selection_changed = Signal()
    hover = Signal(int, int, int)  # x, y, value (-1 outside)
    view_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.scene: Scene | None = None
        self.info: ModelInfo | None = None
        self.tool = "brush"
        self.brush_size = 24.0
        self.value = 0
        self.eraser_value = 0
        self.view_mode = "side"
        self.opacity = 0.6  # of the image over the labels in blend view
        self.split = 0.5  # fraction of the width showing labels in split view
        self.swapped = False  # side view: image on the left
        self.zoom = 1.0
        self.offset = QPointF(0, 0)  # widget position of image (0, 0) in the first pane
        self._drag_pane = 0  # the pane a drag (or a polygon lasso) started in
        self.busy = False
        self.background = QColor("#19232d")
        self.placeholder = "No model loaded"
        self._label_rgb: np.ndarray | None = None
        self._label_qimage: QImage | None = None
        self._image: np.ndarray | None = None
        self._image_qimage: QImage | None = None
        self._selection_qimage: QImage | None = None
        self._image_stale = False  # the image was made from older labels
        self._image_dimmed = False  # drawn dimmed: only once it has stayed stale a while (no flash per stroke)
        self._dim_timer = QTimer(self)
        self._dim_timer.setSingleShot(True)
        self._dim_timer.setInterval(STALE_DIM_MS)
        self._dim_timer.timeout.connect(self._dim_if_still_stale)
        self.reference_opacity = 0.35  # of the photo over the labels
        self.realism_opacity = 0.6  # of the heat map over the image
        self._reference_qimage: QImage | None = None
        self._confidence_qimage: QImage | None = None
        self._realism: np.ndarray | None = None
        self._realism_qimage: QImage | None = None
        # interaction state
        self._stroke_last: QPointF | None = None
        self._stroke_open = False
        self._lasso: list[tuple[float, float]] = []
        self._lasso_polygon_mode = False
        self._press_pos: QPointF | None = None
        self._rect_start: tuple[float, float] | None = None
        self._rect_end: tuple[float, float] | None = None
        self._pan_from: QPointF | None = None
        self._space = False
        self._split_drag = False
        self._mouse: QPointF | None = None
        self._fit_pending = True
        self._spin = 0
        self._spin_timer = QTimer(self)
        self._spin_timer.setInterval(80)
        self._spin_timer.timeout.connect(self._tick)

    # ----------------------------------------------------------------- content
    def set_scene(self, scene: Scene | None, info: ModelInfo | None) -> None:
        self._end_open_stroke()
        self.scene, self.info = scene, info
        self._lasso.clear()
        self._rect_start = self._rect_end = None
        self._image = self._image_qimage = None
        self._selection_qimage = None
        self._realism = self._realism_qimage = None
        if scene is not None and info is not None:
            self._label_rgb = np.ascontiguousarray(info.colourize(scene.labels))
            self._label_qimage = self._wrap(self._label_rgb)
        else:
            self._label_rgb = self._label_qimage = None
        self._fit_pending = True
        self.fit()
        self.update()

    @staticmethod
    def _wrap(buf: np.ndarray) -> QImage:
        h, w = buf.shape[:2]
        # the QImage shares the numpy buffer: recolouring a box of the array updates the image in place
        return QImage(buf.data, w, h, 3 * w, QImage.Format.Format_RGB888)

    def refresh_labels(self, boxes: Sequence[BBox] | None = None) -> None:
        """Recolour the given boxes of the label map (all of it when None) and repaint."""
        if self.scene is None or self.info is None or self._label_rgb is None:
            return
        if self._label_rgb.shape[:2] != self.scene.shape:
            self.set_scene(self.scene, self.info)
            return
        if boxes is None:
            self._label_rgb[...] = self.info.colourize(self.scene.labels)
        else:
            for y0, x0, y1, x1 in boxes:
                self._label_rgb[y0:y1, x0:x1] = self.info.colourize(self.scene.labels[y0:y1, x0:x1])
        self.update()

    def set_image(self, image: np.ndarray | None, stale: bool = False) -> None:
        self._image = None if image is None else np.ascontiguousarray(image[..., :3])
        self._image_qimage = None if image is None else numpy_to_qimage(self._image)
        self._set_stale(stale)
        self.update()

    def _set_stale(self, stale: bool) -> None:
        """Staleness is shown (the image dimmed) only when no new image has come for ``STALE_DIM_MS``: a live
        frame after a stroke replaces the image before that, so the image never flashes dark after each stroke."""
        self._image_stale = stale
        if not stale:
            self._dim_timer.stop()
            self._image_dimmed = False
        elif not self._image_dimmed and not self._dim_timer.isActive():
            self._dim_timer.start()

    def _dim_if_still_stale(self) -> None:
        if self._image_stale and not self._image_dimmed:
            self._image_dimmed = True
            self.update()

    @property
    def image_dimmed(self) -> bool:
        return self._image_dimmed

    @property
    def image(self) -> np.ndarray | None:
        return self._image

    def set_reference(self, photo: np.ndarray | None) -> None:
        """The imported photo (canvas size) drawn over the labels with ``reference_opacity``; None removes it."""
        self._reference_qimage = None if photo is None else numpy_to_qimage(photo)
        self.update()

    @property
    def has_reference(self) -> bool:
        return self._reference_qimage is not None

    def set_confidence(self, confidence: np.ndarray | None) -> None:
        """Show low-confidence pixels of the photo's segmentation on the labels; None hides them."""
        if confidence is None:
            self._confidence_qimage = None
        else:
            rgba = uncertainty_rgba(confidence)
            h, w = confidence.shape
            self._confidence_qimage = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
        self.update()

    @property
    def shows_confidence(self) -> bool:
        return self._confidence_qimage is not None

    def set_realism(self, fake: np.ndarray | None) -> None:
        """The realism heat map (fake probability, image size) over the image; None hides it."""
        self._realism = None if fake is None else np.asarray(fake, dtype=np.float32)
        self._realism_qimage = None if fake is None else numpy_to_qimage(heat_colours(fake))
        self.update()

    @property
    def realism(self) -> np.ndarray | None:
        return self._realism

    def set_image_stale(self, stale: bool) -> None:
        if stale != self._image_stale:
            self._set_stale(stale)
            self.update()

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        if busy:
            self._spin_timer.start()
        else:
            self._spin_timer.stop()
        self.update()

    def _tick(self) -> None:
        self._spin = (self._spin + 1) % 12
        self.update()

    def refresh_selection(self) -> None:
        sel = None if self.scene is None else self.scene.selection
        if sel is None or not sel.any():
            self._selection_qimage = None
        else:
            rgba = np.zeros((*sel.shape, 4), dtype=np.uint8)
            edge = sel ^ _erode(sel)
            rgba[sel] = (61, 174, 233, 70)
            rgba[edge] = (255, 255, 255, 230)
            h, w = sel.shape
            self._selection_qimage = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
        self.update()
        self.selection_changed.emit()

    # ----------------------------------------------------------------- view geometry
    def _panes(self) -> int:
        return 2 if self.view_mode == "side" else 1

    def _pane_width(self) -> float:
        return (self.width() - GAP * (self._panes() - 1)) / self._panes()

    def _origin(self, pane: int) -> QPointF:
        return QPointF(self.offset.x() + pane * (self._pane_width() + GAP), self.offset.y())

    def _pane_at(self, pos: QPointF) -> int:
        if self._panes() == 1:
            return 0
        return 1 if pos.x() >= self._pane_width() + GAP / 2 else 0

    def to_image(self, pos: QPointF, pane: int | None = None) -> tuple[float, float]:
        """Image coordinates of a widget position, in the pane under it (or in ``pane``: a drag keeps the pane it
        started in, so moving past the map's edge into the gap or the other pane stays outside the map, where it is
        clipped, instead of jumping to the other pane's coordinates)."""
        o = self._origin(self._pane_at(pos) if pane is None else pane)
        return (pos.x() - o.x()) / self.zoom, (pos.y() - o.y()) / self.zoom

    def to_widget(self, x: float, y: float, pane: int = 0) -> QPointF:
        o = self._origin(pane)
        return QPointF(o.x() + x * self.zoom, o.y() + y * self.zoom)

    def fit(self) -> None:
        """Zoom so the whole canvas fits each pane (Ctrl+0)."""
        if self.scene is None or self.width() < 10:
            return
        h, w = self.scene.shape
        pw = self._pane_width() - 24
        ph = self.height() - 24
        self.zoom = max(MIN_ZOOM, min(MAX_ZOOM, pw / w, ph / h))
        self.offset = QPointF((self._pane_width() - w * self.zoom) / 2, (self.height() - h * self.zoom) / 2)
        self._fit_pending = False
        self.update()
        self.view_changed.emit()

    def zoom_at(self, factor: float, pos: QPointF | None = None) -> None:
        if pos is None:
            pos = QPointF(self._pane_width() / 2, self.height() / 2)
        x, y = self.to_image(pos)
        pane = self._pane_at(pos)
        self.zoom = max(MIN_ZOOM, min(MAX_ZOOM, self.zoom * factor))
        o = self._origin(pane)
        self.offset = QPointF(
            self.offset.x() + pos.x() - (o.x() + x * self.zoom), self.offset.y() + pos.y() - (o.y() + y * self.zoom)
        )
        self._fit_pending = False
        self.update()
        self.view_changed.emit()

    def set_view_mode(self, mode: str) -> None:
        if mode not in VIEW_MODES:
            raise ValueError(f"unknown view mode {mode!r}")
        self.view_mode = mode
        self.fit()

    def toggle_layer(self) -> None:
        """The toggle key: blend flips between labels and image; the other views swap the two sides."""
        if self.view_mode == "blend":
            self.opacity = 0.0 if self.opacity >= 0.5 else 1.0
        else:
            self.swapped = not self.swapped
        self.update()
        self.view_changed.emit()

    def resizeEvent(self, event) -> None:  # noqa: N802
        if self._fit_pending:
            self.fit()
        super().resizeEvent(event)

    # ----------------------------------------------------------------- painting
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), self.background)
        if self.scene is None or self._label_qimage is None:
            p.setPen(QColor(160, 170, 180))
            f = p.font()
            f.setPointSizeF(f.pointSizeF() * 1.4)
            p.setFont(f)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            p.end()
            return
        h, w = self.scene.shape
        smooth = self.zoom < 1.0
        if self.view_mode == "side":
            first, second = ("image", "labels") if self.swapped else ("labels", "image")
            for pane, what in ((0, first), (1, second)):
                self._draw_layer(p, pane, what, smooth)
        elif self.view_mode == "blend":
            self._draw_layer(p, 0, "labels", smooth)
            if self._image_qimage is not None and self.opacity > 0:
                p.setOpacity(self.opacity)
                self._draw_layer(p, 0, "image", smooth, frame=False)
                p.setOpacity(1.0)
        else:  # split: labels left of the divider, image right (swapped: the other way round)
            o = self._origin(0)
            cut = o.x() + self.split * w * self.zoom
            left, right = ("image", "labels") if self.swapped else ("labels", "image")
            p.save()
            p.setClipRect(QRectF(0, 0, cut, self.height()))
            self._draw_layer(p, 0, left, smooth)
            p.restore()
            p.save()
            p.setClipRect(QRectF(cut, 0, self.width() - cut, self.height()))
            self._draw_layer(p, 0, right, smooth)
            p.restore()
            p.setPen(QPen(QColor(255, 255, 255, 220), 2))
            p.drawLine(QPointF(cut, o.y()), QPointF(cut, o.y() + h * self.zoom))
            p.setBrush(QColor(255, 255, 255, 220))
            p.drawEllipse(QPointF(cut, o.y() + h * self.zoom / 2), 6, 6)
        for pane in range(self._panes()):
            self._draw_overlays(p, pane)
        p.end()

    def _target(self, pane: int) -> QRectF:
        o = self._origin(pane)
        h, w = self.scene.shape  # type: ignore[union-attr]
        return QRectF(o.x(), o.y(), w * self.zoom, h * self.zoom)

    def _draw_layer(self, p: QPainter, pane: int, what: str, smooth: bool, frame: bool = True) -> None:
        target = self._target(pane)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth and what == "image")
        if frame:
            p.fillRect(target.adjusted(-1, -1, 1, 1), QColor(0, 0, 0, 90))
        if what == "labels":
            p.drawImage(target, self._label_qimage)
            if self._reference_qimage is not None and self.reference_opacity > 0:
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
                p.setOpacity(self.reference_opacity)
                p.drawImage(target, self._reference_qimage)
                p.setOpacity(1.0)
            if self._confidence_qimage is not None:
                p.drawImage(target, self._confidence_qimage)
            if self._selection_qimage is not None:
                p.drawImage(target, self._selection_qimage)
            return
        if self._image_qimage is not None:
            p.drawImage(target, self._image_qimage)
            if self._realism_qimage is not None and self.realism_opacity > 0:
                p.save()
                p.setOpacity(p.opacity() * self.realism_opacity)
                p.drawImage(target, self._realism_qimage)
                p.restore()
            if self._image_dimmed:
                p.fillRect(target, QColor(0, 0, 0, 60))
        else:
            p.fillRect(target, QColor(40, 50, 60))
            p.setPen(QColor(170, 180, 190))
            p.drawText(target, Qt.AlignmentFlag.AlignCenter, "Generating…" if self.busy else "The image appears here")
        if self._selection_qimage is not None and self.view_mode != "blend":
            p.setOpacity(0.6)
            p.drawImage(target, self._selection_qimage)
            p.setOpacity(1.0)
        if self.busy and (self.view_mode != "blend" or pane == 0):
            self._draw_spinner(p, target)

    def _draw_spinner(self, p: QPainter, target: QRectF) -> None:
        c = QPointF(target.right() - 22, target.top() + 22)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 120))
        p.drawEllipse(c, 17, 17)
        for i in range(12):
            a = (i - self._spin) * math.pi / 6
            alpha = 255 - ((i - self._spin) % 12) * 18
            p.setBrush(QColor(255, 255, 255, max(40, alpha)))
            p.drawEllipse(QPointF(c.x() + 10 * math.cos(a), c.y() + 10 * math.sin(a)), 2.2, 2.2)
        p.restore()

    def _draw_overlays(self, p: QPainter, pane: int) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._lasso:
            poly = QPolygonF([self.to_widget(x, y, pane) for x, y in self._lasso])
            if self._mouse is not None and self._lasso_polygon_mode:
                x, y = self.to_image(self._mouse)
                poly.append(self.to_widget(x, y, pane))
            fill = QColor(*self._current_rgb(), 90) if self.tool == "lasso" else QColor(61, 174, 233, 60)
            p.setBrush(fill)
            p.setPen(QPen(QColor(0, 0, 0, 200), 3))
            p.drawPolygon(poly)
            p.setPen(QPen(QColor(255, 255, 255), 1.5, Qt.PenStyle.DashLine))
            p.drawPolygon(poly)
        if self._rect_start and self._rect_end:
            (ax, ay), (bx, by) = self._rect_start, self._rect_end
            r = QRectF(
                self.to_widget(math.floor(min(ax, bx)), math.floor(min(ay, by)), pane),
                self.to_widget(math.floor(max(ax, bx)) + 1, math.floor(max(ay, by)) + 1, pane),
            )
            p.setBrush(QColor(*self._current_rgb(), 110))
            p.setPen(QPen(QColor(255, 255, 255), 1.5, Qt.PenStyle.DashLine))
            p.drawRect(r)
        if self._mouse is not None and self.tool in ("brush", "eraser", "select_brush") and not self._space:
            x, y = self.to_image(self._mouse)
            c = self.to_widget(x, y, pane)
            r = max(1.0, self.brush_size * self.zoom / 2)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(0, 0, 0, 200), 3))
            p.drawEllipse(c, r, r)
            p.setPen(QPen(QColor(255, 255, 255, 230), 1.2))
            p.drawEllipse(c, r, r)

    def _current_rgb(self) -> tuple[int, int, int]:
        if self.info is not None:
            cls = self.info.class_of(self.eraser_value if self.tool == "eraser" else self.value)
            if cls is not None:
                return cls.rgb
        return (255, 255, 255)

    # ----------------------------------------------------------------- input
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._lasso:
            self._finish_lasso()
            return
        if event.key() == Qt.Key.Key_Escape and self.cancel_polygon():
            return
        super().keyPressEvent(event)

    def cancel_polygon(self) -> bool:
        """Drop a lasso or rectangle being drawn (Esc); whether there was one."""
        if not (self._lasso or self._rect_start):
            return False
        self._lasso.clear()
        self._lasso_polygon_mode = False
        self._rect_start = self._rect_end = None
        self.update()
        return True

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._pan_from = None
            self.unsetCursor()
            return
        super().keyReleaseEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_at(1.25**steps, event.position())
        event.accept()

    def _near_split(self, pos: QPointF) -> bool:
        if self.view_mode != "split" or self.scene is None:
            return False
        cut = self._origin(0).x() + self.split * self.scene.width * self.zoom
        return abs(pos.x() - cut) < 6

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.setFocus()
        pos = event.position()
        if event.button() == Qt.MouseButton.MiddleButton or (
            self._space and event.button() == Qt.MouseButton.LeftButton
        ):
            self._pan_from = pos
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() == Qt.MouseButton.LeftButton and self._near_split(pos):
            self._split_drag = True
            return
        if self.scene is None:
            return
        if event.button() == Qt.MouseButton.RightButton and self._lasso:
            self._finish_lasso()
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if not self._lasso:  # a polygon lasso keeps the pane of its first click
            self._drag_pane = self._pane_at(pos)
        self.press(self.to_image(pos, self._drag_pane), event.modifiers())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        self._mouse = pos
        if self._pan_from is not None:
            d = pos - self._pan_from
            self._pan_from = pos
            self.offset += d
            self._fit_pending = False
            self.update()
            return
        if self._split_drag and self.scene is not None:
            o = self._origin(0)
            self.split = min(1.0, max(0.0, (pos.x() - o.x()) / (self.scene.width * self.zoom)))
            self.update()
            return
        if self.scene is None:
            return
        dragging = bool(event.buttons() & Qt.MouseButton.LeftButton)
        x, y = self.to_image(pos, self._drag_pane if dragging or self._lasso else None)
        value = tools.pick(self.scene, x, y)
        self.hover.emit(math.floor(x), math.floor(y), -1 if value is None else value)
        if dragging:
            self.move((x, y))
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None and event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._pan_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor) if self._space else self.unsetCursor()
            return
        if self._split_drag:
            self._split_drag = False
            return
        if event.button() == Qt.MouseButton.LeftButton and self.scene is not None:
            self.release(self.to_image(event.position(), self._drag_pane))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._lasso and self._lasso_polygon_mode:
            self._finish_lasso()
            return
        super().mouseDoubleClickEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802
        self._mouse = None
        self.hover.emit(-1, -1, -1)  # the mouse is off the canvas: no pixel is under it
        self.update()
        super().leaveEvent(event)

    # ----------------------------------------------------------------- tool logic (image coordinates)
    def press(self, pt: tuple[float, float], modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        scene = self.scene
        if scene is None:
            return
        self._press_pos = QPointF(*pt)
        t = self.tool
        if t in ("brush", "eraser"):
            scene.begin_edit("Eraser" if t == "eraser" else "Brush")
            self._stroke_open = True
            self.edit_started.emit()
            self._stroke_last = QPointF(*pt)
            self._paint(pt, pt)
        elif t == "select_brush":
            if scene.selection is None:
                scene.selection = np.zeros(scene.shape, dtype=bool)
            self._stroke_last = QPointF(*pt)
            self._select_paint(pt, pt, add=not bool(modifiers & Qt.KeyboardModifier.AltModifier))
        elif t == "fill":
            self._one_shot_edit(lambda: tools.flood_fill(scene, pt[0], pt[1], self.value))
        elif t == "picker":
            v = tools.pick(scene, *pt)
            if v is not None:
                self.picked.emit(v)
        elif t == "rect":
            self._rect_start = self._rect_end = pt
        elif t in ("lasso", "select"):
            if self._lasso and self._lasso_polygon_mode:
                self._lasso.append(pt)  # another polygon vertex
            else:
                self._lasso = [pt]
                self._lasso_polygon_mode = False
                self._lasso_add = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        self.update()

    def move(self, pt: tuple[float, float]) -> None:
        t = self.tool
        if t in ("brush", "eraser") and self._stroke_open and self._stroke_last is not None:
            last = (self._stroke_last.x(), self._stroke_last.y())
            self._paint(last, pt)
            self._stroke_last = QPointF(*pt)
        elif t == "select_brush" and self._stroke_last is not None:
            self._select_paint((self._stroke_last.x(), self._stroke_last.y()), pt, add=True)
            self._stroke_last = QPointF(*pt)
        elif t == "rect" and self._rect_start is not None:
            self._rect_end = pt
        elif t in ("lasso", "select") and self._lasso and not self._lasso_polygon_mode:
            lx, ly = self._lasso[-1]
            if (pt[0] - lx) ** 2 + (pt[1] - ly) ** 2 >= 0.25:
                self._lasso.append(pt)
        self.update()

    def release(self, pt: tuple[float, float]) -> None:
        t = self.tool
        scene = self.scene
        if scene is None:
            return
        if t in ("brush", "eraser"):
            if self._stroke_open:
                self.move(pt)
                self._end_open_stroke()
        elif t == "select_brush":
            self._stroke_last = None
            self.refresh_selection()
        elif t == "rect" and self._rect_start is not None:
            start, self._rect_start, self._rect_end = self._rect_start, None, None
            self._one_shot_edit(lambda: tools.fill_rect(scene, start, pt, self.value))
        elif t in ("lasso", "select") and self._lasso:
            moved = self._press_pos is not None and math.hypot(pt[0] - self._press_pos.x(), pt[1] - self._press_pos.y())
            if not self._lasso_polygon_mode and len(self._lasso) <= 2 and (moved or 0) * self.zoom < 4:
                # a click, not a drag: build a polygon vertex by vertex (double-click, Enter or right-click closes)
                self._lasso_polygon_mode = True
            elif not self._lasso_polygon_mode:
                self._lasso.append(pt)
                self._finish_lasso()
        self.update()

    def _finish_lasso(self) -> None:
        pts, self._lasso = self._lasso, []
        self._lasso_polygon_mode = False
        scene = self.scene
        if scene is None or len(pts) < 3:
            self.update()
            return
        if self.tool == "lasso":
            self._one_shot_edit(lambda: tools.fill_polygon(scene, pts, self.value))
        else:
            mask = tools.select_polygon(scene.shape, pts)
            if getattr(self, "_lasso_add", False) and scene.selection is not None:
                mask |= scene.selection
            scene.selection = mask if mask.any() else None
            self.refresh_selection()
        self.update()

    def _paint(self, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        value = self.eraser_value if self.tool == "eraser" else self.value
        box = tools.paint_segment(self.scene, p0, p1, self.brush_size, value)  # type: ignore[arg-type]
        if box:
            self.refresh_labels([box])

    def _select_paint(self, p0, p1, add: bool) -> None:
        sel = self.scene.selection  # type: ignore[union-attr]
        tools.select_segment(sel, p0, p1, self.brush_size, add=add)
        # a light preview: recomputing the outline image per move is fine at canvas sizes
        self.refresh_selection()

    def _one_shot_edit(self, fn) -> None:
        scene = self.scene
        scene.begin_edit("Edit")  # type: ignore[union-attr]
        self.edit_started.emit()
        box = fn()
        changed = scene.end_edit()  # type: ignore[union-attr]
        if box:
            self.refresh_labels([box])
        if changed:
            self.stroke_finished.emit()

    def _end_open_stroke(self) -> None:
        if self._stroke_open and self.scene is not None:
            self._stroke_open = False
            self._stroke_last = None
            if self.scene.end_edit():
                self.stroke_finished.emit()

    # ----------------------------------------------------------------- scripted use (self-test, tests)
    def drag(self, points: Sequence[tuple[float, float]]) -> None:
        """Run the current tool along image-space points as a mouse drag would."""
        pts = list(points)
        self.press(pts[0])
        for pt in pts[1:]:
            self.move(pt)
        self.release(pts[-1])

    def widget_point(self, x: float, y: float, pane: int = 0) -> QPointF:
        return self.to_widget(x, y, pane)

    def visible_rect(self) -> QRect:
        return self.rect()


def _erode(mask: np.ndarray) -> np.ndarray:
    m = mask.copy()
    m[1:] &= mask[:-1]
    m[:-1] &= mask[1:]
    m[:, 1:] &= mask[:, :-1]
    m[:, :-1] &= mask[:, 1:]
    return m
