"""The class palette: every class of the model with its colour, a search box, recent classes and number keys."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.doc.model_info import ModelInfo
from app.ui.icons import swatch

RECENT = 8
VALUE_ROLE = Qt.ItemDataRole.UserRole


class Palette(QWidget):
    """Pick the class to paint. ``class_chosen(value)`` fires on every choice (click, search, number key)."""

    class_chosen = Signal(int)
    search_done = Signal()  # Enter picked a class or Esc cleared the search: the keyboard goes back to the canvas

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info: ModelInfo | None = None
        self.value: int | None = None
        self.recent: list[int] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(6)

        self.current = QLabel("—")
        self.current.setObjectName("paletteCurrent")
        self.current.setMinimumHeight(30)
        lay.addWidget(self.current)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search classes…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._choose_first_visible)
        self.search.installEventFilter(self)
        lay.addWidget(self.search)

        lay.addWidget(_caption("Recent"))
        self.recent_row = QHBoxLayout()
        self.recent_row.setSpacing(3)
        self.recent_row.addStretch(1)
        self._recent_buttons: list[QToolButton] = []
        lay.addLayout(self.recent_row)

        lay.addWidget(_caption("Classes"))
        self.list = QListWidget()
        self.list.setIconSize(QSize(18, 18))
        self.list.setUniformItemSizes(True)
        self.list.itemClicked.connect(lambda it: self.choose(int(it.data(VALUE_ROLE))))
        self.list.itemActivated.connect(lambda it: self.choose(int(it.data(VALUE_ROLE))))
        lay.addWidget(self.list, 1)

    def set_model(self, info: ModelInfo | None) -> None:
        self.info = info
        self.list.clear()
        self.recent = []
        self._rebuild_recent()
        if info is None:
            self.current.setText("—")
            return
        for i, c in enumerate(info.classes):
            key = f"{i + 1}" if i < 9 else ("0" if i == 9 else "")
            label = f"{c.name}" + ("   (don't care)" if info.is_dont_care(c.value) else "")
            item = QListWidgetItem(swatch(c.rgb, 18), f"{key or ' ':>2}   {label}")
            item.setData(VALUE_ROLE, c.value)
            item.setToolTip(f"{c.name}: id {c.value}, colour #{c.rgb[0]:02x}{c.rgb[1]:02x}{c.rgb[2]:02x}")
            self.list.addItem(item)
        self._filter(self.search.text())

    def choose(self, value: int) -> None:
        if self.info is None or self.info.class_of(value) is None:
            return
        self.value = value
        if value in self.recent:
            self.recent.remove(value)
        self.recent.insert(0, value)
        del self.recent[RECENT:]
        self._rebuild_recent()
        c = self.info.class_of(value)
        assert c is not None
        fg = "#000000" if (0.299 * c.rgb[0] + 0.587 * c.rgb[1] + 0.114 * c.rgb[2]) > 140 else "#ffffff"
        self.current.setText(f"  {c.name}")
        self.current.setStyleSheet(
            f"QLabel#paletteCurrent {{ background: rgb{c.rgb}; color: {fg}; border-radius: 4px; font-weight: bold; }}"
        )
        for i in range(self.list.count()):
            it = self.list.item(i)
            if int(it.data(VALUE_ROLE)) == value:
                self.list.setCurrentItem(it)
                break
        self.class_chosen.emit(value)

    def choose_number(self, n: int) -> bool:
        """Number keys: 1..9 pick the first nine classes, 0 the tenth."""
        index = 9 if n == 0 else n - 1
        if self.info is None or index >= len(self.info.classes):
            return False
        self.choose(self.info.classes[index].value)
        return True

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def visible_values(self) -> list[int]:
        return [
            int(self.list.item(i).data(VALUE_ROLE))
            for i in range(self.list.count())
            if not self.list.item(i).isHidden()
        ]

    def _filter(self, text: str) -> None:
        key = text.strip().lower()
        for i in range(self.list.count()):
            it = self.list.item(i)
            it.setHidden(bool(key) and key not in it.text().lower())

    def _choose_first_visible(self) -> None:
        vals = self.visible_values()
        if vals:
            self.choose(vals[0])
            self.search.clear()
            self.search_done.emit()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if (
            obj is self.search
            and isinstance(event, QKeyEvent)
            and event.type() == QKeyEvent.Type.ShortcutOverride
            and event.key() == Qt.Key.Key_Escape
        ):
            event.accept()  # Esc clears the search here; the window's Esc (cancel generation) must not take it
            return True
        if obj is self.search and isinstance(event, QKeyEvent) and event.type() == QKeyEvent.Type.KeyPress:
            if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                self.list.setFocus()
                return False
            if event.key() == Qt.Key.Key_Escape:
                self.search.clear()
                self.search_done.emit()
                return True
        return super().eventFilter(obj, event)

    def _rebuild_recent(self) -> None:
        # a fixed row of buttons, refilled: creating and deleting widgets per choice would leave
        # deferred-deleted buttons around until the event loop returns
        if not self._recent_buttons:
            for i in range(RECENT):
                b = QToolButton()
                b.setIconSize(QSize(22, 22))
                b.setAutoRaise(True)
                b.clicked.connect(lambda _=False, i=i: self._recent_clicked(i))
                self.recent_row.insertWidget(i, b)
                self._recent_buttons.append(b)
        for i, b in enumerate(self._recent_buttons):
            c = self.info.class_of(self.recent[i]) if self.info is not None and i < len(self.recent) else None
            b.setVisible(c is not None)
            if c is not None:
                b.setIcon(swatch(c.rgb, 22))
                b.setToolTip(c.name)

    def _recent_clicked(self, i: int) -> None:
        if i < len(self.recent):
            self.choose(self.recent[i])


def _caption(text: str) -> QLabel:
    lab = QLabel(text.upper())
    lab.setProperty("caption", True)
    lab.setStyleSheet("font-size: 8pt; letter-spacing: 1px;")
    return lab


def readable_text_colour(rgb: tuple[int, int, int]) -> QColor:
    return QColor(0, 0, 0) if (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) > 140 else QColor(255, 255, 255)
