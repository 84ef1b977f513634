"""The look: qdarkstyle's dark or light stylesheet with a few touches of our own, and the canvas background."""

from __future__ import annotations

from PySide6.QtGui import QColor


def canvas_background(dark: bool) -> QColor:
    """The colour around the canvas."""
    return QColor("#141b22") if dark else QColor("#dfe3e8")


# secondary text (captions, hints, timings): WCAG AA contrast (>= 4.5:1) on each theme's panel background
CAPTION_COLOUR = {True: "#a3afbc", False: "#46515e"}


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two colours."""

    def lum(hex_colour: str) -> float:
        c = QColor(hex_colour)
        chans = [x / 255 for x in (c.red(), c.green(), c.blue())]
        lin = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in chans]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def stylesheet(dark: bool) -> str:
    """qdarkstyle (dark or light) plus a few touches of our own."""
    import qdarkstyle

    palette = qdarkstyle.DarkPalette if dark else qdarkstyle.LightPalette
    base = qdarkstyle.load_stylesheet(qt_api="pyside6", palette=palette)
    accent = "#3daee9" if dark else "#1f6fb2"
    extra = f"""
    QPushButton#generateButton {{ font-weight: bold; background-color: {accent}; color: white; border-radius: 4px; }}
    QPushButton#generateButton:hover {{ background-color: #5cc0f0; }}
    QPushButton#generateButton:disabled {{ background-color: #455364; color: #9da9b5; }}
    QGroupBox {{ font-weight: bold; padding-top: 14px; }}
    QToolBar {{ spacing: 4px; }}
    QDockWidget::title {{ padding: 4px; }}
    QLabel[caption="true"] {{ color: {CAPTION_COLOUR[dark]}; background: transparent; }}
    """
    return base + extra
