"""The window's dialogs: a new canvas (size and fill) and the keyboard shortcuts (read from the actions table)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.doc.model_info import ModelInfo
from app.ui.actions import help_rows


class NewCanvasDialog(QDialog):
    """Size (the model's natural sizes first, common aspects, custom) and the class to fill with."""

    def __init__(self, info: ModelInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.setWindowTitle("New canvas")
        form = QFormLayout(self)
        nh, nw = info.natural_size
        m = info.size_multiple
        sizes = [(nh, nw, "natural"), (nh * 2, nw * 2, "natural ×2")]
        for label, (a, b) in (("4:3", (3, 4)), ("3:2", (2, 3)), ("16:9", (9, 16)), ("3:4", (4, 3))):
            w = max(nw, nh)
            h = max(m, round(w * a / b / m) * m)
            sizes.append((h, w, label))
        self.sizes = sizes
        self.preset = QListWidget()
        for h, w, label in sizes:
            self.preset.addItem(f"{w} × {h}   ({label})")
        self.preset.addItem("Custom")
        self.preset.setCurrentRow(0)
        self.preset.setMaximumHeight(150)
        form.addRow("Size", self.preset)
        row = QHBoxLayout()
        self.w = QSpinBox()
        self.h = QSpinBox()
        for s, v in ((self.w, nw), (self.h, nh)):
            s.setRange(m, 4096)
            s.setSingleStep(m)
            s.setValue(v)
            s.setSuffix(" px")
            row.addWidget(s)
        form.addRow("Width × height", row)
        self.preset.currentRowChanged.connect(self._preset)
        self.fill = QComboBox()
        self.fill.addItem("Starter scene (sky and ground)", None)
        for c in info.classes:
            self.fill.addItem(c.name, c.value)
        form.addRow("Fill", self.fill)
        note = QLabel(f"Sizes are multiples of {m}; the model was trained at {nw} × {nh}.")
        note.setStyleSheet("color: palette(mid);")
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _preset(self, row: int) -> None:
        if 0 <= row < len(self.sizes):
            h, w, _ = self.sizes[row]
            self.w.setValue(w)
            self.h.setValue(h)

    def result_size(self) -> tuple[int, int, int | None]:
        h, w = self.info.snap_size(self.h.value(), self.w.value())
        return h, w, self.fill.currentData()


class HelpDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(640, 720)
        lay = QVBoxLayout(self)
        sections = help_rows()
        rows = sum(len(items) + 1 for _, items in sections)
        table = QTableWidget(rows, 2)
        table.horizontalHeader().setVisible(False)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        table.setShowGrid(False)
        r = 0
        for section, items in sections:
            head = QTableWidgetItem(section)
            f = head.font()
            f.setBold(True)
            head.setFont(f)
            table.setItem(r, 0, head)
            table.setSpan(r, 0, 1, 2)
            r += 1
            for keys, what in items:
                table.setItem(r, 0, QTableWidgetItem(keys))
                table.setItem(r, 1, QTableWidgetItem(what))
                r += 1
        table.resizeColumnToContents(0)
        table.horizontalHeader().setStretchLastSection(True)
        self.table = table
        lay.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        lay.addWidget(buttons)

    def shortcut_texts(self) -> list[str]:
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount()) if self.table.item(r, 0)]
