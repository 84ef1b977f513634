"""The window's dialogs: a new canvas (size and fill), the keyboard shortcuts (read from the actions table), the
conversion of an official checkpoint, and the progress of a long task."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressDialog,
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
        note.setProperty("caption", True)
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


class ConvertDialog(QDialog):
    """An official OASIS checkpoint: which dataset it was trained on (its discriminator is found beside it)."""

    def __init__(
        self, path: Path, datasets: list[str], guess: str, discriminator: str | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Convert an official OASIS checkpoint")
        form = QFormLayout(self)
        text = QLabel(
            f"{path.name} is an official OASIS checkpoint. OASIS Studio converts it once into its own model file "
            "(.safetensors, nothing in it is executed) and opens that."
        )
        text.setWordWrap(True)
        form.addRow(text)
        self.datasets = QComboBox()
        self.datasets.addItems(datasets)
        self.datasets.setCurrentText(guess)
        form.addRow("Dataset", self.datasets)
        found = Path(discriminator).name if discriminator else "none found (segmentation off)"
        form.addRow("Discriminator", QLabel(found))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def dataset(self) -> str:
        return self.datasets.currentText()


class ProgressDialog(QProgressDialog):
    """A window-modal progress dialog in percent with a Cancel button (``app.flows.Progress``)."""

    def __init__(self, title: str, text: str, on_cancel: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(text, "Cancel", 0, 100, parent)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.setValue(0)
        self._on_cancel = on_cancel
        self.canceled.connect(on_cancel)

    def set_percent(self, value: int) -> None:
        self.setValue(int(value))

    def close(self) -> bool:
        """Close for good: no cancel after this, and the keyboard goes back to the window."""
        self.canceled.disconnect(self._on_cancel)
        done = super().close()
        self.deleteLater()
        if self.parentWidget() is not None:
            self.parentWidget().activateWindow()
        return done
