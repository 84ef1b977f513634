"""Side panels: generation (live/manual, seed and lock), reroll, variants grid and generation history."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.doc import DEFAULT_FEATHER, MAX_SEED, HistoryEntry
from app.ui.canvas import heat_colours, numpy_to_qimage
from app.ui.icons import icon


def thumb_icon(image: np.ndarray, side: int = 96) -> QIcon:
    qimg = numpy_to_qimage(image)
    pm = QPixmap.fromImage(qimg).scaled(
        side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    return QIcon(pm)


class LabelledSlider(QWidget):
    """A horizontal slider with its value written beside it (``text(value)``), for the panels' form rows. The
    panels keep ``slider`` and ``label`` as their own attributes, so callers reach the ``QSlider`` directly."""

    def __init__(
        self, low: int, high: int, value: int, tip: str, text=lambda v: f"{v}%", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(low, high)
        self.slider.setValue(value)
        self.slider.setToolTip(tip)
        self.label = QLabel(text(value))
        self.label.setMinimumWidth(38)
        self._text = text
        self.slider.valueChanged.connect(self.show_value)
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)

    def show_value(self, v: int) -> None:
        self.label.setText(self._text(v))


class GeneratePanel(QGroupBox):
    """Live/manual generation, the style seed with its lock, busy state and timing."""

    generate_clicked = Signal()
    cancel_clicked = Signal()
    live_toggled = Signal(bool)
    seed_edited = Signal(int)
    lock_toggled = Signal(bool)
    new_style_clicked = Signal()

    def __init__(self, dark: bool = True, parent: QWidget | None = None) -> None:
        super().__init__("Generate", parent)
        lay = QVBoxLayout(self)
        lay.setSpacing(8)

        row = QHBoxLayout()
        self.generate_button = QPushButton(icon("generate", dark), "  Generate")
        self.generate_button.setToolTip("Generate the image now (Ctrl+Return)")
        self.generate_button.setMinimumHeight(34)
        self.generate_button.setObjectName("generateButton")
        self.generate_button.clicked.connect(self.generate_clicked)
        self.cancel_button = QToolButton()
        self.cancel_button.setIcon(icon("cancel", dark))
        self.cancel_button.setToolTip("Cancel the running generation (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        row.addWidget(self.generate_button, 1)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)

        self.live = QCheckBox("Live: regenerate after each stroke")
        self.live.setChecked(True)
        self.live.toggled.connect(self.live_toggled)
        lay.addWidget(self.live)

        seed_row = QHBoxLayout()
        seed_row.addWidget(QLabel("Style seed"))
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setKeyboardTracking(False)
        self.seed.setToolTip("The global noise seed: the same labels and seed give the same image")
        self.seed.valueChanged.connect(self._seed_changed)
        seed_row.addWidget(self.seed, 1)
        self.lock = QToolButton()
        self.lock.setCheckable(True)
        self.lock.setChecked(True)
        self.lock.setToolTip(
            "Locked: edits change the layout, not the style.\nUnlocked: every stroke draws a new style seed."
        )
        self.lock.toggled.connect(self._lock_changed)
        self._dark = dark
        self._lock_changed(True, emit=False)
        seed_row.addWidget(self.lock)
        self.dice = QToolButton()
        self.dice.setIcon(icon("dice", dark))
        self.dice.setToolTip("New style: draw a random seed (N)")
        self.dice.clicked.connect(self.new_style_clicked)
        seed_row.addWidget(self.dice)
        lay.addLayout(seed_row)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(6)
        lay.addWidget(self.progress)
        self.timing = QLabel("No image yet")
        self.timing.setProperty("caption", True)
        lay.addWidget(self.timing)
        self._updating = False

    def _seed_changed(self, v: int) -> None:
        if not self._updating:
            self.seed_edited.emit(int(v))

    def _lock_changed(self, locked: bool, emit: bool = True) -> None:
        self.lock.setIcon(icon("lock" if locked else "unlock", self._dark))
        if emit and not self._updating:
            self.lock_toggled.emit(bool(locked))

    def show_state(self, seed: int, locked: bool) -> None:
        self._updating = True
        try:
            self.seed.setValue(seed)
            self.lock.setChecked(locked)
            self.lock.setIcon(icon("lock" if locked else "unlock", self._dark))
        finally:
            self._updating = False

    def set_busy(self, busy: bool, done: int = 0, total: int = 0) -> None:
        self.cancel_button.setEnabled(busy)
        if busy and total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        elif busy:
            self.progress.setRange(0, 0)  # indeterminate
        else:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)


class RerollPanel(QGroupBox):
    """Resample the noise inside the selection with a strength, or clear rerolls."""

    reroll_clicked = Signal()
    clear_selection_clicked = Signal()
    reset_clicked = Signal()

    def __init__(self, dark: bool = True, parent: QWidget | None = None) -> None:
        super().__init__("Reroll a region", parent)
        lay = QVBoxLayout(self)
        lay.setSpacing(8)
        hint = QLabel(
            "Select with the lasso select (S) or the selection brush (M), then reroll: the rest keeps its noise."
        )
        hint.setWordWrap(True)
        hint.setProperty("caption", True)
        lay.addWidget(hint)
        form = QFormLayout()
        strength = LabelledSlider(0, 100, 100, "Subtle variation (left) to a completely new draw (right)")
        self.strength, self.strength_label = strength.slider, strength.label
        form.addRow("Strength", strength)
        feather = LabelledSlider(
            0,
            64,
            DEFAULT_FEATHER,
            "Soft edge: the new noise fades in over this many pixels from the selection's edge, so the rerolled "
            "region blends into the rest (0: a hard edge)",
            lambda v: f"{v} px",
        )
        self.feather, self.feather_label = feather.slider, feather.label
        form.addRow("Soft edge", feather)
        lay.addLayout(form)
        row = QHBoxLayout()
        self.reroll_button = QPushButton(icon("reroll", dark), " Reroll selection")
        self.reroll_button.setToolTip("Resample the noise inside the selection (R)")
        self.reroll_button.clicked.connect(self.reroll_clicked)
        row.addWidget(self.reroll_button, 1)
        lay.addLayout(row)
        row2 = QHBoxLayout()
        self.clear_button = QPushButton("Deselect")
        self.clear_button.setToolTip("Clear the selection (Ctrl+D)")
        self.clear_button.clicked.connect(self.clear_selection_clicked)
        self.reset_button = QPushButton("Reset rerolls")
        self.reset_button.setToolTip("Remove every rerolled region: the whole image uses the style seed again")
        self.reset_button.clicked.connect(self.reset_clicked)
        row2.addWidget(self.clear_button)
        row2.addWidget(self.reset_button)
        lay.addLayout(row2)
        self.regions_label = QLabel("No rerolled regions")
        self.regions_label.setProperty("caption", True)
        lay.addWidget(self.regions_label)

    @property
    def strength_value(self) -> float:
        return self.strength.value() / 100.0

    @property
    def feather_value(self) -> int:
        return int(self.feather.value())

    def show_state(self, has_selection: bool, regions: int) -> None:
        self.reroll_button.setEnabled(has_selection)
        self.clear_button.setEnabled(has_selection)
        self.reset_button.setEnabled(regions > 0)
        self.regions_label.setText(
            "No rerolled regions" if regions == 0 else f"{regions} rerolled region{'s' if regions > 1 else ''}"
        )


class VariantsPanel(QWidget):
    """Generate N variants (new style seeds, or new noise only inside the selection) and keep one."""

    generate_clicked = Signal(int, bool)  # count, selection only
    variant_chosen = Signal(int)

    def __init__(self, dark: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(8)
        row = QHBoxLayout()
        self.count = QSpinBox()
        self.count.setRange(2, 16)
        self.count.setValue(4)
        self.count.setToolTip("How many variants")
        self.scope = QComboBox()
        self.scope.addItems(["Whole image", "Selection only"])
        self.scope.setToolTip("New style seeds for the whole image, or new noise only inside the selection")
        self.button = QPushButton(icon("generate", dark), " Variants")
        self.button.setToolTip("Generate a grid of variants (V)")
        self.button.clicked.connect(lambda: self.generate_clicked.emit(self.count.value(), self.selection_only))
        row.addWidget(self.count)
        row.addWidget(self.scope, 1)
        lay.addLayout(row)
        lay.addWidget(self.button)
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(92, 92))
        self.grid.setGridSize(QSize(100, 112))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setMinimumHeight(124)
        self.grid.setToolTip("Click a variant to keep it")
        self.grid.itemClicked.connect(lambda it: self.variant_chosen.emit(int(it.data(Qt.ItemDataRole.UserRole))))
        lay.addWidget(self.grid, 1)

    @property
    def selection_only(self) -> bool:
        return self.scope.currentIndex() == 1

    def show_variants(self, images: list[np.ndarray], seeds: list[int]) -> None:
        self.grid.clear()
        for i, (img, seed) in enumerate(zip(images, seeds)):
            it = QListWidgetItem(thumb_icon(img, 92), f"seed {seed}")
            it.setData(Qt.ItemDataRole.UserRole, i)
            it.setToolTip(f"Variant {i + 1}: seed {seed}. Click to keep it.")
            self.grid.addItem(it)

    def clear(self) -> None:
        self.grid.clear()


class HistoryPanel(QWidget):
    """Every generated image with its seeds; step back and forth."""

    entry_chosen = Signal(int)

    def __init__(self, dark: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(6)
        nav = QGridLayout()
        self.back = QPushButton(icon("undo", dark), " Older")
        self.back.setToolTip("Step back in the generation history (Alt+Left)")
        self.forward = QPushButton(icon("redo", dark), " Newer")
        self.forward.setToolTip("Step forward in the generation history (Alt+Right)")
        self.back.clicked.connect(lambda: self._step(-1))
        self.forward.clicked.connect(lambda: self._step(+1))
        nav.addWidget(self.back, 0, 0)
        nav.addWidget(self.forward, 0, 1)
        lay.addLayout(nav)
        self.list = QListWidget()
        self.list.setIconSize(QSize(48, 48))
        self.list.setUniformItemSizes(True)
        self.list.itemClicked.connect(lambda it: self.entry_chosen.emit(int(it.data(Qt.ItemDataRole.UserRole))))
        lay.addWidget(self.list, 1)
        self._current = -1
        self._count = 0
        self._shown: list[tuple[HistoryEntry, object, str | None]] = []  # (entry, thumbnail, text), oldest first

    def _step(self, d: int) -> None:
        i = self._current + d
        if 0 <= i < self._count:
            self.entry_chosen.emit(i)

    @staticmethod
    def _label(i: int, e: HistoryEntry) -> str:
        t = time.strftime("%H:%M:%S", time.localtime(e.timestamp))
        regions = f" · {len(e.regions)} reroll{'s' if len(e.regions) != 1 else ''}" if e.regions else ""
        return f"#{i + 1}  seed {e.style_seed}{regions}\n{t} · {e.ms:.0f} ms · {e.kind}"

    def show_history(self, entries: list[HistoryEntry], current: int) -> None:
        """Newest first, updated in place: only rows of new, dropped or changed entries are touched (the window calls
        this on every UI update, and the history holds up to 500 entries)."""
        shown = self._shown
        k = next((j for j, (e, _, _) in enumerate(shown) if entries and e is entries[0]), len(shown))
        keep = shown[k:]
        if len(keep) > len(entries) or any(old is not new for (old, _, _), new in zip(keep, entries)):
            self.list.clear()  # not a continuation of what is shown (another scene, an undo of history): rebuild
            shown, k = [], 0
        for _ in range(k):  # the oldest entries left the history: they are the bottom rows
            self.list.takeItem(self.list.count() - 1)
        shown = shown[k:]
        for i in range(len(shown), len(entries)):
            it = QListWidgetItem()
            self.list.insertItem(0, it)
            shown.append((entries[i], None, None))
        n = len(entries)
        for i, e in enumerate(entries):
            _, thumb, text = shown[i]
            it = self.list.item(n - 1 - i)
            label = self._label(i, e)
            if text != label:
                it.setText(label)
                it.setData(Qt.ItemDataRole.UserRole, i)
            if thumb is not e.thumbnail or text is None:
                it.setIcon(thumb_icon(e.thumbnail, 48) if e.thumbnail is not None else QIcon())
            shown[i] = (e, e.thumbnail, label)
        self._shown = shown
        self._count = n
        if current != self._current or k or self.list.currentRow() != (n - 1 - current if current >= 0 else -1):
            if 0 <= current < n:
                self.list.setCurrentRow(n - 1 - current)
            else:
                self.list.setCurrentRow(-1)
        self._current = current
        self.back.setEnabled(current > 0)
        self.forward.setEnabled(0 <= current < n - 1)


class PhotoPanel(QGroupBox):
    """An imported photo: how much of it shows over the labels, the confidence overlay, clean-up and restyle."""

    reference_opacity_changed = Signal(float)
    confidence_toggled = Signal(bool)
    cleanup_changed = Signal(int)  # level 0..100
    restyle_clicked = Signal()

    def __init__(self, dark: bool = True, parent: QWidget | None = None) -> None:
        super().__init__("Photo", parent)
        lay = QVBoxLayout(self)
        lay.setSpacing(8)
        self.source = QLabel("")
        self.source.setWordWrap(True)
        self.source.setProperty("caption", True)
        lay.addWidget(self.source)
        form = QFormLayout()
        opacity = LabelledSlider(
            0, 100, 35, "How strongly the photo shows over the label map (a reference for editing)"
        )
        self.opacity, self.opacity_label = opacity.slider, opacity.label
        self.opacity.valueChanged.connect(lambda v: self.reference_opacity_changed.emit(v / 100.0))
        form.addRow("Photo", opacity)
        self._cleanup_row = LabelledSlider(
            0,
            100,
            0,
            "Clean the segmentation: merge small regions into their most common neighbour and refill\n"
            "low-confidence pixels from their neighbours. 0 = as segmented. Your edits are kept.",
            lambda v: "off" if v == 0 else f"{v}%",
        )
        self.cleanup, self.cleanup_label = self._cleanup_row.slider, self._cleanup_row.label
        self.cleanup.valueChanged.connect(lambda v: self.cleanup_changed.emit(int(v)))
        form.addRow("Clean-up", self._cleanup_row)
        lay.addLayout(form)
        self.confidence = QCheckBox("Show low-confidence pixels")
        self.confidence.setToolTip("Stripes where the model was unsure of the class (the more opaque, the less sure)")
        self.confidence.toggled.connect(self.confidence_toggled)
        lay.addWidget(self.confidence)
        self.restyle_button = QPushButton(icon("dice", dark), " Restyle")
        self.restyle_button.setToolTip("Generate the edited label map with a new style seed (N)")
        self.restyle_button.clicked.connect(self.restyle_clicked)
        lay.addWidget(self.restyle_button)
        self.details = QLabel("")
        self.details.setProperty("caption", True)
        self.details.setWordWrap(True)
        lay.addWidget(self.details)

    @property
    def reference_opacity(self) -> float:
        return self.opacity.value() / 100.0

    def show_photo(self, name: str, source_size: tuple[int, int], canvas_size: tuple[int, int], level: int) -> None:
        (sh, sw), (ch, cw) = source_size, canvas_size
        self.source.setText(f"{name}: {sw} × {sh} photo, painted on a {cw} × {ch} canvas")
        self.cleanup.blockSignals(True)
        self.cleanup.setValue(level)
        self.cleanup.blockSignals(False)
        self._cleanup_row.show_value(level)

    def show_cleanup(self, min_region: int, min_confidence: float) -> None:
        if min_region <= 1 and min_confidence <= 0:
            self.details.setText("Showing the raw segmentation.")
        else:
            self.details.setText(
                f"Regions under {min_region} px merged; pixels under {min_confidence:.0%} confidence refilled."
            )


class HeatLegend(QWidget):
    """The heat map's colour scale: the discriminator's fake probability from 0 (looks real) to 1 (looks
    generated), in the overlay's colours."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.bar = QLabel()
        ramp = heat_colours(np.tile(np.linspace(0, 1, 256, dtype=np.float32), (12, 1)))
        self.bar.setPixmap(QPixmap.fromImage(numpy_to_qimage(ramp)))
        self.bar.setScaledContents(True)
        self.bar.setFixedHeight(12)
        self.bar.setToolTip("Heat map colours: the discriminator's probability that a pixel is generated")
        lay.addWidget(self.bar)
        ticks = QHBoxLayout()
        for text, align in (("0 looks real", Qt.AlignmentFlag.AlignLeft), ("0.5", Qt.AlignmentFlag.AlignHCenter),
                            ("1 looks generated", Qt.AlignmentFlag.AlignRight)):  # fmt: skip
            lab = QLabel(text)
            lab.setAlignment(align)
            lab.setProperty("caption", True)
            lab.setStyleSheet("font-size: 11px;")
            ticks.addWidget(lab, 1)
        lay.addLayout(ticks)


class WheelGuard(QObject):
    """Scrolling a panel with the mouse wheel must not change the sliders, spin boxes and drop-downs that pass under
    the pointer: they take the wheel only once clicked (focused); otherwise the wheel scrolls the panel."""

    def __init__(self, scroll: QScrollArea) -> None:
        super().__init__(scroll)
        self.scroll = scroll
        for w in scroll.widget().findChildren(QWidget):
            if isinstance(w, (QAbstractSlider, QAbstractSpinBox, QComboBox)):
                w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
                w.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            QApplication.sendEvent(self.scroll.verticalScrollBar(), event)
            return True
        return super().eventFilter(obj, event)


class RealismPanel(QGroupBox):
    """The discriminator's realism heat map over the image and a reroll of the least realistic regions."""

    overlay_toggled = Signal(bool)
    overlay_opacity_changed = Signal(float)
    reroll_clicked = Signal(int, float)  # regions, strength

    def __init__(self, dark: bool = True, parent: QWidget | None = None) -> None:
        super().__init__("Realism", parent)
        lay = QVBoxLayout(self)
        lay.setSpacing(8)
        self.overlay = QCheckBox("Heat map: where it looks generated (H)")
        self.overlay.setToolTip("The discriminator's 'fake' probability over the image: red looks generated")
        self.overlay.toggled.connect(self.overlay_toggled)
        lay.addWidget(self.overlay)
        self.legend = HeatLegend()
        lay.addWidget(self.legend)
        form = QFormLayout()
        opacity = LabelledSlider(0, 100, 60, "Opacity of the heat map over the image")
        self.opacity, self.opacity_label = opacity.slider, opacity.label
        self.opacity.valueChanged.connect(lambda v: self.overlay_opacity_changed.emit(v / 100.0))
        form.addRow("Opacity", opacity)
        self.regions = QSpinBox()
        self.regions.setRange(1, 12)
        self.regions.setValue(3)
        self.regions.setToolTip("How many of the least realistic regions to reroll")
        form.addRow("Regions", self.regions)
        strength = LabelledSlider(0, 100, 100, "Subtle variation (left) to a completely new draw (right)")
        self.strength, self.strength_label = strength.slider, strength.label
        form.addRow("Strength", strength)
        lay.addLayout(form)
        self.reroll_button = QPushButton(icon("reroll", dark), " Reroll least realistic")
        self.reroll_button.setToolTip(
            "Find the label regions the discriminator finds least realistic and reroll their noise (one undo step)"
        )
        self.reroll_button.clicked.connect(
            lambda: self.reroll_clicked.emit(self.regions.value(), self.strength.value() / 100.0)
        )
        lay.addWidget(self.reroll_button)
        self.score = QLabel("")
        self.score.setProperty("caption", True)
        self.score.setWordWrap(True)
        lay.addWidget(self.score)

    @property
    def overlay_opacity(self) -> float:
        return self.opacity.value() / 100.0

    def set_available(self, available: bool, reason: str = "") -> None:
        self.setEnabled(available)
        self.setToolTip("" if available else reason)
        if not available:
            self.score.setText(reason)

    def show_score(self, fake: np.ndarray | None) -> None:
        if fake is None:
            self.score.setText("")
        else:
            self.score.setText(f"Mean fake probability {float(np.mean(fake)):.2f} (0 = looks real)")
