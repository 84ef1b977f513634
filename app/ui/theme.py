"""The look: qdarkstyle's dark or light stylesheet with a few touches of our own, and the canvas background."""

from __future__ import annotations

from PySide6.QtGui import QColor


def canvas_background(dark: bool) -> QColor:
    """The colour around the canvas."""
    return QColor("#141b22") if dark else QColor("#dfe3e8")


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
    """
    return base + extra
