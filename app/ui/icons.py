"""Tool and action icons drawn with QPainter, in the theme's text colour (no image files to ship)."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

SIZE = 64


def _canvas(draw, colour: QColor, accent: QColor) -> QIcon:
    pm = QPixmap(SIZE, SIZE)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(colour, 4.5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    draw(p, colour, accent)
    p.end()
    return QIcon(pm)


def _brush(p: QPainter, c: QColor, a: QColor) -> None:
    p.drawLine(QPointF(50, 10), QPointF(28, 36))
    path = QPainterPath(QPointF(28, 36))
    path.cubicTo(QPointF(18, 34), QPointF(12, 42), QPointF(14, 52))
    path.cubicTo(QPointF(24, 54), QPointF(32, 48), QPointF(28, 36))
    p.setBrush(QBrush(a))
    p.drawPath(path)


def _eraser(p: QPainter, c: QColor, a: QColor) -> None:
    p.save()
    p.translate(32, 32)
    p.rotate(-40)
    p.drawRoundedRect(QRectF(-22, -11, 44, 22), 4, 4)
    p.setBrush(QBrush(a))
    p.drawRoundedRect(QRectF(-22, -11, 16, 22), 4, 4)
    p.restore()
    p.drawLine(QPointF(14, 56), QPointF(54, 56))


def _fill(p: QPainter, c: QColor, a: QColor) -> None:
    p.save()
    p.translate(28, 34)
    p.rotate(-30)
    p.drawRoundedRect(QRectF(-14, -14, 28, 28), 3, 3)
    p.restore()
    drop = QPainterPath(QPointF(52, 30))
    drop.cubicTo(QPointF(44, 42), QPointF(44, 50), QPointF(52, 50))
    drop.cubicTo(QPointF(60, 50), QPointF(60, 42), QPointF(52, 30))
    p.setBrush(QBrush(a))
    p.drawPath(drop)


def _lasso(p: QPainter, c: QColor, a: QColor, dashed: bool = False) -> None:
    if dashed:
        pen = p.pen()
        pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
    else:
        p.setBrush(QBrush(QColor(a.red(), a.green(), a.blue(), 110)))
    p.drawEllipse(QRectF(8, 8, 48, 32))
    p.setBrush(Qt.BrushStyle.NoBrush)
    pen = p.pen()
    pen.setStyle(Qt.PenStyle.SolidLine)
    p.setPen(pen)
    path = QPainterPath(QPointF(22, 38))
    path.cubicTo(QPointF(14, 46), QPointF(26, 52), QPointF(18, 60))
    p.drawPath(path)


def _select(p: QPainter, c: QColor, a: QColor) -> None:
    _lasso(p, c, a, dashed=True)


def _select_brush(p: QPainter, c: QColor, a: QColor) -> None:
    pen = p.pen()
    pen.setStyle(Qt.PenStyle.DashLine)
    p.setPen(pen)
    p.drawEllipse(QRectF(6, 6, 36, 36))
    pen.setStyle(Qt.PenStyle.SolidLine)
    p.setPen(pen)
    p.drawLine(QPointF(56, 22), QPointF(36, 46))
    p.setBrush(QBrush(a))
    p.drawEllipse(QRectF(24, 42, 14, 14))


def _rect(p: QPainter, c: QColor, a: QColor) -> None:
    p.setBrush(QBrush(QColor(a.red(), a.green(), a.blue(), 140)))
    p.drawRect(QRectF(10, 16, 44, 32))


def _picker(p: QPainter, c: QColor, a: QColor) -> None:
    p.drawLine(QPointF(14, 50), QPointF(40, 24))
    p.setBrush(QBrush(c))
    p.save()
    p.translate(46, 18)
    p.rotate(45)
    p.drawRoundedRect(QRectF(-6, -10, 12, 20), 4, 4)
    p.restore()
    p.setBrush(QBrush(a))
    p.drawEllipse(QRectF(8, 48, 10, 10))


def _undo(p: QPainter, c: QColor, a: QColor, mirror: bool = False) -> None:
    if mirror:
        p.translate(SIZE, 0)
        p.scale(-1, 1)
    path = QPainterPath(QPointF(16, 28))
    path.cubicTo(QPointF(28, 14), QPointF(52, 18), QPointF(50, 40))
    path.cubicTo(QPointF(48, 50), QPointF(40, 54), QPointF(32, 54))
    p.drawPath(path)
    p.setBrush(QBrush(c))
    p.drawPolygon(QPolygonF([QPointF(8, 16), QPointF(24, 34), QPointF(8, 36)]))


def _redo(p: QPainter, c: QColor, a: QColor) -> None:
    _undo(p, c, a, mirror=True)


def _dice(p: QPainter, c: QColor, a: QColor) -> None:
    p.drawRoundedRect(QRectF(10, 10, 44, 44), 9, 9)
    p.setBrush(QBrush(a))
    p.setPen(Qt.PenStyle.NoPen)
    for x, y in ((22, 22), (42, 42), (32, 32), (42, 22), (22, 42)):
        p.drawEllipse(QPointF(x, y), 4.5, 4.5)


def _lock(p: QPainter, c: QColor, a: QColor, open_: bool = False) -> None:
    p.setBrush(QBrush(a))
    p.drawRoundedRect(QRectF(14, 30, 36, 26), 4, 4)
    p.setBrush(Qt.BrushStyle.NoBrush)
    path = QPainterPath(QPointF(22, 30))
    path.lineTo(22, 22)
    path.arcTo(QRectF(22, 10, 20, 24), 180, -180)
    if not open_:
        path.lineTo(42, 30)
    p.drawPath(path)


def _unlock(p: QPainter, c: QColor, a: QColor) -> None:
    _lock(p, c, a, open_=True)


def _generate(p: QPainter, c: QColor, a: QColor) -> None:
    p.setBrush(QBrush(a))
    star = QPolygonF()
    for i in range(8):
        r = 24 if i % 2 == 0 else 9
        ang = math.pi / 4 * i - math.pi / 2
        star.append(QPointF(32 + r * math.cos(ang), 32 + r * math.sin(ang)))
    p.drawPolygon(star)


def _reroll(p: QPainter, c: QColor, a: QColor) -> None:
    pen = p.pen()
    pen.setStyle(Qt.PenStyle.DashLine)
    p.setPen(pen)
    p.drawRect(QRectF(8, 8, 48, 48))
    pen.setStyle(Qt.PenStyle.SolidLine)
    p.setPen(pen)
    p.drawArc(QRectF(20, 20, 24, 24), 30 * 16, 280 * 16)
    p.setBrush(QBrush(a))
    p.drawPolygon(QPolygonF([QPointF(44, 14), QPointF(46, 28), QPointF(34, 24)]))


def _cancel(p: QPainter, c: QColor, a: QColor) -> None:
    p.drawEllipse(QRectF(10, 10, 44, 44))
    p.drawLine(QPointF(23, 23), QPointF(41, 41))
    p.drawLine(QPointF(41, 23), QPointF(23, 41))


def _fit(p: QPainter, c: QColor, a: QColor) -> None:
    for sx, sy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        cx, cy = 32 - sx * 20, 32 - sy * 20
        p.drawLine(QPointF(cx, cy), QPointF(cx + sx * 10, cy))
        p.drawLine(QPointF(cx, cy), QPointF(cx, cy + sy * 10))
    p.setBrush(QBrush(a))
    p.drawRect(QRectF(22, 22, 20, 20))


_DRAW = {
    "brush": _brush,
    "eraser": _eraser,
    "fill": _fill,
    "lasso": _lasso,
    "rect": _rect,
    "picker": _picker,
    "select": _select,
    "select_brush": _select_brush,
    "undo": _undo,
    "redo": _redo,
    "dice": _dice,
    "lock": _lock,
    "unlock": _unlock,
    "generate": _generate,
    "reroll": _reroll,
    "cancel": _cancel,
    "fit": _fit,
}


def icon(name: str, dark: bool = True) -> QIcon:
    colour = QColor("#dfe1e2") if dark else QColor("#2b2f33")
    accent = QColor("#3daee9") if dark else QColor("#1f6fb2")
    return _canvas(_DRAW[name], colour, accent)


def swatch(rgb: tuple[int, int, int], size: int = 20, border: bool = True) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(*rgb))
    p.setPen(QPen(QColor(0, 0, 0, 120), 1) if border else Qt.PenStyle.NoPen)
    p.drawRoundedRect(QRectF(1, 1, size - 2, size - 2), 4, 4)
    p.end()
    return QIcon(pm)
