"""The main window: wires the canvas, palette and panels to the scene document and the engine.

User-facing messages go through ``report`` (recorded in ``messages`` and shown in a non-modal box) and questions
through ``ask``; file dialogs go through ``choose_path``. Tests and the self-test replace ``ask_handler`` and
``path_handler`` so nothing blocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import resources
from app.doc import (
    HistoryEntry,
    PhotoReference,
    RerollRegion,
    Scene,
    cleanup_parameters,
    keep_user_edits,
    label_io,
    project_file,
    random_seed,
)
from app.doc.model_info import LabelMapError, ModelInfo
from app.engine import (
    Engine,
    GenerationResult,
    PhotoImport,
    WorstRegions,
    available_devices,
    available_dtypes,
    official_datasets,
)
from app.ui.actions import COMMANDS, MENUS, TOOL_INFO, VIEW_MODES
from app.ui.canvas import TOOLS, Canvas
from app.ui.dialogs import HelpDialog, NewCanvasDialog
from app.ui.icons import icon
from app.ui.palette import Palette
from app.ui.panels import GeneratePanel, HistoryPanel, PhotoPanel, RealismPanel, RerollPanel, VariantsPanel
from app.ui.theme import canvas_background, stylesheet

LIVE_DELAY_MS = 150
CLEANUP_DELAY_MS = 120
PHOTO_FILTERS = "Photos (*.jpg *.jpeg *.png *.webp *.bmp *.tif *.tiff);;All (*)"
RECENT_MODELS = 8

@dataclass
class Message:
    kind: str  # "error" | "warning" | "info"
    title: str
    text: str


class MainWindow(QMainWindow):
    message_shown = Signal(str, str)  # kind, text
    image_shown = Signal()
    model_ready = Signal()

    def __init__(
        self,
        settings: QSettings | None = None,
        engine: Engine | None = None,
        dark: bool | None = None,
        restore_layout: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QSettings(resources.ORG_NAME, resources.APP_NAME)
        self.engine = engine if engine is not None else Engine(self)
        self.dark = bool(self.settings.value("dark", True, type=bool)) if dark is None else dark
        self.info: ModelInfo | None = None
        self.scene: Scene | None = None
        self.project_path: Path | None = None
        self.messages: list[Message] = []
        self.ask_handler: Callable[[str, str, list[str]], str] | None = None
        self.path_handler: Callable[[str, str, str], str | None] | None = None
        self.live = bool(self.settings.value("live", True, type=bool))
        self.device = str(self.settings.value("device", "auto"))
        self.dtype = str(self.settings.value("dtype", "auto"))
        self._main_request_revision = -1
        self._shown_revision = -2
        self._variants: GenerationResult | None = None
        self._pending_project: tuple[Path, project_file.Project] | None = None
        self._loading_path: str | None = None
        self._previous_model: str | None = None
        self._boxes: list[QMessageBox] = []
        self.last_frame_ms: float | None = None
        self.model_load_ms: float | None = None

        self.setWindowTitle(resources.APP_NAME)
        self.resize(1480, 900)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        self.canvas = Canvas()
        self.canvas.brush_size = float(self.settings.value("brush_size", 24, type=float))
        self.setCentralWidget(self.canvas)
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DELAY_MS)
        self._live_timer.timeout.connect(self.generate_now)
        self._cleanup_timer = QTimer(self)  # the clean-up slider asks for a clean-up once it rests
        self._cleanup_timer.setSingleShot(True)
        self._cleanup_timer.setInterval(CLEANUP_DELAY_MS)
        self._cleanup_timer.timeout.connect(lambda: self.request_cleanup(self.photo_panel.cleanup.value()))
        # photo import, clean-up and realism: which scene and image their answers belong to
        self._photo_progress: QProgressDialog | None = None
        self._cleanup_for: tuple[Scene, PhotoReference, int] | None = None
        self.realism_on = False
        self._realism_for = -1
        self._realism_cache: tuple[int, np.ndarray] | None = None
        self._image_serial = 0  # counts images shown, so a realism map is only drawn over its own image
        self.last_worst_masks: list[np.ndarray] = []

        self._build_docks()
        self._build_actions()
        self._build_toolbars()
        self._build_menus()
        self._build_status()
        self._connect()
        self._add_recent_project(None)
        self._refresh_model_menu()
        self.apply_theme(self.dark)
        self.canvas.set_view_mode(str(self.settings.value("view_mode", "side")))
        if restore_layout:
            geo = self.settings.value("geometry")
            state = self.settings.value("window_state")
            if isinstance(geo, QByteArray):
                self.restoreGeometry(geo)
            if isinstance(state, QByteArray):
                self.restoreState(state)
        self._update_ui()

    # ================================================================= construction
    def _build_docks(self) -> None:
        self.palette = Palette()
        self.palette_dock = self._dock("Classes", self.palette, Qt.DockWidgetArea.LeftDockWidgetArea, "paletteDock")
        self.palette_dock.setMinimumWidth(220)

        side = QWidget()
        lay = QVBoxLayout(side)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(10)
        self.generate_panel = GeneratePanel(self.dark)
        self.reroll_panel = RerollPanel(self.dark)
        self.photo_panel = PhotoPanel(self.dark)
        self.photo_panel.hide()
        self.realism_panel = RealismPanel(self.dark)
        lay.addWidget(self.photo_panel)
        lay.addWidget(self.generate_panel)
        lay.addWidget(self.reroll_panel)
        lay.addWidget(self.realism_panel)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(side)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.generate_dock = self._dock("Image", scroll, Qt.DockWidgetArea.RightDockWidgetArea, "generateDock")
        self.generate_dock.setMinimumWidth(330)
        self.variants_panel = VariantsPanel(self.dark)
        self.variants_dock = self._dock(
            "Variants", self.variants_panel, Qt.DockWidgetArea.RightDockWidgetArea, "variantsDock"
        )
        self.history_panel = HistoryPanel(self.dark)
        self.history_dock = self._dock(
            "History", self.history_panel, Qt.DockWidgetArea.RightDockWidgetArea, "historyDock"
        )
        self.tabifyDockWidget(self.variants_dock, self.history_dock)
        self.history_dock.raise_()

    def _dock(self, title: str, widget: QWidget, area, name: str) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(name)
        d.setWidget(widget)
        d.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, d)
        return d

    def _build_actions(self) -> None:
        """One ``QAction`` per row of the actions table (``app.ui.actions``), as ``act_<name>`` and in
        ``self.actions``; tools and view modes are exclusive groups."""
        self.actions: dict[str, QAction] = {}
        self.tool_group = QActionGroup(self)
        self.view_group = QActionGroup(self)
        for c in COMMANDS:
            a = QAction(c.text, self)
            if c.keys:
                a.setShortcuts([QKeySequence(k) for k in c.keys])
            if c.tip:
                a.setToolTip(c.tip)
                a.setStatusTip(c.tip)
            if c.icon:
                a.setIcon(icon(c.icon, self.dark))
                a.setData(c.icon)
            a.setCheckable(c.checkable)
            slot = getattr(self, c.slot)
            if c.checkable and not c.args:  # a switch: the slot gets the new state
                a.triggered.connect(lambda on, f=slot: f(on))
            else:
                a.triggered.connect(lambda _=False, f=slot, args=c.args: f(*args))
            self.addAction(a)
            self.actions[c.name] = a
            setattr(self, f"act_{c.name}", a)
        self.tool_actions = {name: self.actions[f"tool_{name}"] for name in TOOLS}
        self.view_actions = {mode: self.actions[f"view_{mode}"] for mode, _ in VIEW_MODES}
        for a in self.tool_actions.values():
            self.tool_group.addAction(a)
        for a in self.view_actions.values():
            self.view_group.addAction(a)
        self.tool_actions["brush"].setChecked(True)

    # the slots of the table that are not a command of their own elsewhere
    def scale_brush(self, factor: float) -> None:
        self.set_brush_size(self.canvas.brush_size * factor)

    def focus_class_search(self) -> None:
        self.palette.focus_search()

    def choose_class_number(self, n: int) -> None:
        self.palette.choose_number(n)

    def fit_canvas(self) -> None:
        self.canvas.fit()

    def zoom_canvas(self, factor: float) -> None:
        self.canvas.zoom_at(factor)

    def toggle_layer(self) -> None:
        self.canvas.toggle_layer()

    def toggle_seed_lock(self) -> None:
        if self.scene is not None:
            self.set_seed_locked(not self.scene.seed_locked)

    def generate_variants_from_panel(self) -> None:
        self.generate_variants(self.variants_panel.count.value(), self.variants_panel.selection_only)

    def _build_toolbars(self) -> None:
        tb = QToolBar("Tools")
        tb.setObjectName("toolsToolbar")
        tb.setIconSize(tb.iconSize().scaled(26, 26, Qt.AspectRatioMode.IgnoreAspectRatio))
        tb.setMovable(False)
        for name in TOOLS:
            if name == "picker":
                tb.addSeparator()
            tb.addAction(self.tool_actions[name])
            if name == "picker":
                tb.addSeparator()
        tb.addSeparator()
        tb.addAction(self.act_undo)
        tb.addAction(self.act_redo)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, tb)
        self.tools_toolbar = tb

        top = QToolBar("Options")
        top.setObjectName("optionsToolbar")
        top.setMovable(False)
        top.addWidget(_caption_label("Model"))
        self.model_combo = QComboBox()
        self.model_combo.setMinimumWidth(200)
        self.model_combo.setToolTip("Bundled models and models you opened")
        self.model_combo.activated.connect(self._model_combo_chosen)
        top.addWidget(self.model_combo)
        top.addWidget(_caption_label("Device"))
        self.device_combo = QComboBox()
        self.device_combo.addItems(available_devices())
        self.device_combo.setCurrentText(self.device if self.device in available_devices() else "auto")
        self.device_combo.setToolTip("Where the model runs: auto picks CUDA when present, else the CPU")
        self.device_combo.activated.connect(lambda _: self.set_device(self.device_combo.currentText(), self.dtype))
        top.addWidget(self.device_combo)
        top.addWidget(_caption_label("Precision"))
        self.dtype_combo = QComboBox()
        self.dtype_combo.addItems(available_dtypes(self.device))
        self.dtype_combo.setCurrentText(self.dtype if self.dtype in available_dtypes(self.device) else "auto")
        self.dtype_combo.setToolTip("Precision: auto uses bf16 on CPUs that support it, fp32 otherwise")
        self.dtype_combo.activated.connect(lambda _: self.set_device(self.device, self.dtype_combo.currentText()))
        top.addWidget(self.dtype_combo)
        top.addSeparator()
        top.addWidget(_caption_label("Brush"))
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 512)
        self.size_spin.setSuffix(" px")
        self.size_spin.setValue(round(self.canvas.brush_size))
        self.size_spin.setToolTip("Brush size ([ and ])")
        self.size_spin.valueChanged.connect(lambda v: self.set_brush_size(v))
        top.addWidget(self.size_spin)
        top.addSeparator()
        top.addWidget(_caption_label("View"))
        self.view_combo = QComboBox()
        self.view_combo.addItems(["Side by side", "Blended", "Split"])
        self.view_combo.setToolTip("Ctrl+1 / Ctrl+2 / Ctrl+3; T toggles")
        self.view_combo.activated.connect(lambda i: self.set_view_mode(("side", "blend", "split")[i]))
        top.addWidget(self.view_combo)
        top.addWidget(_caption_label("Opacity"))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(self.canvas.opacity * 100))
        self.opacity_slider.setFixedWidth(110)
        self.opacity_slider.setToolTip("Opacity of the image over the labels (blended view)")
        self.opacity_slider.valueChanged.connect(self._opacity_changed)
        top.addWidget(self.opacity_slider)
        top.addAction(self.act_fit)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, top)
        self.options_toolbar = top

    def _build_menus(self) -> None:
        """The menus of the actions table (``MENUS``); its "@" places are filled here."""
        places = {
            "@recent": lambda menu: setattr(self, "recent_menu", menu.addMenu("Open &recent project")),
            "@models": lambda menu: setattr(self, "models_menu", menu.addMenu("&Bundled models")),
            "@docks": lambda menu: [
                menu.addAction(d.toggleViewAction())
                for d in (self.palette_dock, self.generate_dock, self.variants_dock, self.history_dock)
            ],
        }
        for title, entries in MENUS:
            menu = self.menuBar().addMenu(title)
            for entry in entries:
                if entry == "-":
                    menu.addSeparator()
                elif entry.startswith("@"):
                    places[entry](menu)
                else:
                    menu.addAction(self.actions[entry])

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.cursor_label = QLabel("")
        self.zoom_label = QLabel("")
        self.timing_label = QLabel("")
        self.device_label = QLabel("no model")
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedWidth(90)
        self.busy_bar.setMaximumHeight(12)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()
        for w in (self.cursor_label, self.zoom_label, self.busy_bar, self.timing_label, self.device_label):
            sb.addPermanentWidget(w)

    def _connect(self) -> None:
        c = self.canvas
        c.edit_started.connect(self._on_edit_started)
        c.stroke_finished.connect(self._on_labels_edited)
        c.picked.connect(self._on_picked)
        c.selection_changed.connect(self._update_ui)
        c.hover.connect(self._on_hover)
        c.view_changed.connect(self._update_zoom_label)
        self.palette.class_chosen.connect(self._on_class_chosen)
        gp = self.generate_panel
        gp.generate_clicked.connect(self.generate_now)
        gp.cancel_clicked.connect(self.cancel_generation)
        gp.live_toggled.connect(self.set_live)
        gp.seed_edited.connect(self.set_style_seed)
        gp.lock_toggled.connect(self.set_seed_locked)
        gp.new_style_clicked.connect(self.new_style)
        rp = self.reroll_panel
        rp.reroll_clicked.connect(self.reroll_selection)
        rp.clear_selection_clicked.connect(self.clear_selection)
        rp.reset_clicked.connect(self.reset_rerolls)
        self.variants_panel.generate_clicked.connect(self.generate_variants)
        self.variants_panel.variant_chosen.connect(self.choose_variant)
        self.history_panel.entry_chosen.connect(self.go_to_history)
        e = self.engine
        e.model_loaded.connect(self._on_model_loaded)
        e.model_failed.connect(self._on_model_failed)
        e.generated.connect(self._on_generated)
        e.generate_failed.connect(self._on_generate_failed)
        e.busy_changed.connect(self._on_busy)
        e.progress.connect(self._on_progress)
        e.converted.connect(self._on_converted)
        e.convert_failed.connect(lambda msg: self.report("error", "Conversion failed", msg))
        e.task_done.connect(self._on_task_done)
        e.task_failed.connect(self._on_task_failed)
        pp = self.photo_panel
        pp.reference_opacity_changed.connect(self._reference_opacity_changed)
        pp.confidence_toggled.connect(self.set_confidence_overlay)
        pp.cleanup_changed.connect(lambda _level: self._cleanup_timer.start())
        pp.restyle_clicked.connect(self.new_style)
        rz = self.realism_panel
        rz.overlay_toggled.connect(self.set_realism_overlay)
        rz.overlay_opacity_changed.connect(self._realism_opacity_changed)
        rz.reroll_clicked.connect(self.reroll_least_realistic)

    # ================================================================= messages, questions, paths
    def report(self, kind: str, title: str, text: str) -> None:
        """Tell the user something in a non-modal box; recorded in ``messages`` (tests and self-test read it)."""
        self.messages.append(Message(kind, title, text))
        self.statusBar().showMessage(text, 8000)
        icon_ = {
            "error": QMessageBox.Icon.Critical,
            "warning": QMessageBox.Icon.Warning,
        }.get(kind, QMessageBox.Icon.Information)
        box = QMessageBox(icon_, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _=0, b=box: self._boxes.remove(b) if b in self._boxes else None)
        self._boxes.append(box)
        box.show()
        self.message_shown.emit(kind, text)

    def open_message_boxes(self) -> list[QMessageBox]:
        return [b for b in self._boxes if b.isVisible()]

    def ask(self, title: str, text: str, buttons: list[str]) -> str:
        """A question with named buttons; returns the chosen name (the last button means cancel)."""
        if self.ask_handler is not None:
            return self.ask_handler(title, text, buttons)
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, self)
        made = {}
        for i, b in enumerate(buttons):
            role = QMessageBox.ButtonRole.RejectRole if i == len(buttons) - 1 else QMessageBox.ButtonRole.AcceptRole
            if b.lower().startswith(("discard", "don't")):
                role = QMessageBox.ButtonRole.DestructiveRole
            made[box.addButton(b, role)] = b
        box.setDefaultButton(next(iter(made)))
        box.exec()
        return made.get(box.clickedButton(), buttons[-1])

    def choose_path(self, mode: str, title: str, filters: str, suggestion: str = "") -> str | None:
        """``mode`` "open" or "save": a file dialog, or ``path_handler`` when set."""
        if self.path_handler is not None:
            return self.path_handler(mode, title, suggestion)
        start = str(self.settings.value("last_dir", str(Path.home())))
        if suggestion:
            start = str(Path(start) / suggestion)
        if mode == "open":
            path, _ = QFileDialog.getOpenFileName(self, title, start, filters)
        else:
            path, _ = QFileDialog.getSaveFileName(self, title, start, filters)
        if path:
            self.settings.setValue("last_dir", str(Path(path).parent))
        return path or None

    # ================================================================= model
    def model_candidates(self) -> list[Path]:
        seen: list[Path] = []
        for p in [*resources.bundled_models(), *[Path(x) for x in self._recent_models()]]:
            if p.is_file() and p.resolve() not in seen:
                seen.append(p.resolve())
        return seen

    def _recent_models(self) -> list[str]:
        v = self.settings.value("recent_models", [])
        if isinstance(v, str):
            v = [v]
        return [str(x) for x in (v or [])]

    def load_model(self, path: str | Path, device: str | None = None, dtype: str | None = None) -> None:
        """Load (in the worker) a model file of ours; official .pth files go through conversion first."""
        path = Path(path)
        if resources.is_official_checkpoint(path):
            self.offer_conversion(path)
            return
        if self.info is not None:
            self._previous_model = self.info.path
        self._loading_path = str(path)
        self.device = device or self.device
        self.dtype = dtype or self.dtype
        self.canvas.placeholder = f"Loading {path.name}…"
        self.canvas.update()
        self.statusBar().showMessage(f"Loading model {path.name} on {self.device}…")
        self.engine.load_model(path, self.device, self.dtype)

    def _on_model_loaded(self, info: ModelInfo, ms: float) -> None:
        old = self.info
        self.info = info
        self.model_load_ms = ms
        self._loading_path = None
        self.settings.setValue("last_model", info.path)
        recent = [info.path] + [p for p in self._recent_models() if p != info.path]
        self.settings.setValue("recent_models", recent[:RECENT_MODELS])
        self.palette.set_model(info)
        self.canvas.info = info
        self.canvas.eraser_value = info.eraser_value()
        self.palette.choose(self._initial_class(info))
        self.statusBar().showMessage(f"Loaded {info.name} in {ms:.0f} ms", 5000)
        pending, self._pending_project = self._pending_project, None
        if pending is not None:
            self._apply_project(*pending)
        elif self.scene is None:
            self.new_canvas(*info.natural_size)
        elif old is None or old.model_hash != info.model_hash:
            self._adopt_scene_for_model(old)
        else:
            self.canvas.set_scene(self.scene, info)
            self.schedule_generation(immediate=True)
        self._refresh_model_menu()
        self._update_ui()
        self.model_ready.emit()

    def _adopt_scene_for_model(self, old: ModelInfo | None) -> None:
        assert self.scene is not None and self.info is not None
        try:
            labels = self.info.normalise(self.scene.labels, "The open scene")
        except LabelMapError:
            if self.scene.dirty:
                answer = self.ask(
                    "Scene does not fit the new model",
                    f"The open scene uses classes that {self.info.name} does not have. Save it before starting a "
                    "new canvas?",
                    ["Save", "Discard", "Cancel"],
                )
                if answer == "Save" and not self.save():
                    answer = "Cancel"
                if answer == "Cancel" and old is not None:
                    self.load_model(old.path)
                    return
            self.project_path = None
            self.new_canvas(*self.info.natural_size)
            return
        if labels.dtype != self.scene.labels.dtype:
            s = Scene(labels, self.scene.style_seed, self.scene.seed_locked)
            self.set_scene(s)
        else:
            self.canvas.set_scene(self.scene, self.info)
            self.canvas.set_image(None)
        self.schedule_generation(immediate=True)

    def _on_model_failed(self, path: str, message: str) -> None:
        self._loading_path = None
        self._pending_project = None
        self.canvas.placeholder = "No model loaded: open a model file (Model ▸ Open model file…)"
        self.canvas.update()
        keep = " The open scene is kept." if self.scene is not None else ""
        self.report("error", "Cannot open model", f"{message}.{keep}".replace("..", "."))
        self._update_ui()

    def _initial_class(self, info: ModelInfo) -> int:
        for name in ("grass", "tree", "building", "road", "wall"):
            v = info.value_of(name)
            if v is not None:
                return v
        return info.default_fill_value()

    def _refresh_model_menu(self) -> None:
        self.models_menu.clear()
        self.model_combo.clear()
        for p in self.model_candidates():
            self.model_combo.addItem(p.stem, str(p))
            a = self.models_menu.addAction(p.stem)
            a.triggered.connect(lambda _=False, p=p: self.load_model(p))
        if self.info is not None:
            i = self.model_combo.findData(str(Path(self.info.path).resolve()))
            if i >= 0:
                self.model_combo.setCurrentIndex(i)
        self.model_combo.addItem("Open model file…", "")

    def _model_combo_chosen(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if not data:
            self.open_model_dialog()
            self._refresh_model_menu()
        elif self.info is None or Path(data) != Path(self.info.path).resolve():
            self.load_model(data)

    def set_device(self, device: str, dtype: str) -> None:
        if dtype not in available_dtypes(device):
            dtype = "auto"
        self.dtype_combo.clear()
        self.dtype_combo.addItems(available_dtypes(device))
        self.dtype_combo.setCurrentText(dtype)
        self.device, self.dtype = device, dtype
        self.settings.setValue("device", device)
        self.settings.setValue("dtype", dtype)
        if self.info is not None:
            self.load_model(self.info.path, device, dtype)

    def open_model_dialog(self) -> None:
        path = self.choose_path(
            "open", "Open a model", "Models (*.safetensors *.pth *.pt);;OASIS Studio models (*.safetensors);;All (*)"
        )
        if path:
            self.load_model(path)

    def offer_conversion(self, path: Path) -> None:
        """An official OASIS .pth: ask for its dataset (and discriminator) and convert it to our format."""
        dlg = QDialog(self)
        dlg.setWindowTitle("Convert an official OASIS checkpoint")
        form = QFormLayout(dlg)
        text = QLabel(
            f"{path.name} is an official OASIS checkpoint. OASIS Studio converts it once into its own model file "
            "(.safetensors, nothing in it is executed) and opens that."
        )
        text.setWordWrap(True)
        form.addRow(text)
        dataset = QComboBox()
        dataset.addItems(official_datasets())
        guess = next((d for d in official_datasets() if d in str(path).lower()), None)
        if guess:
            dataset.setCurrentText(guess)
        form.addRow("Dataset", dataset)
        d_guess = path.with_name(path.name.replace("EMA", "D").replace("_G", "_D"))
        d_label = QLabel(d_guess.name if d_guess.is_file() and d_guess != path else "none found (segmentation off)")
        form.addRow("Discriminator", d_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(dlg.accept)
        buttons.rejected.connect(dlg.reject)
        form.addRow(buttons)
        if self.ask_handler is None and dlg.exec() != QDialog.DialogCode.Accepted:
            return
        out = self.choose_path(
            "save", "Save the converted model", "OASIS Studio models (*.safetensors)", f"{path.stem}.safetensors"
        )
        if not out:
            return
        d_path = str(d_guess) if d_guess.is_file() and d_guess != path else None
        self.statusBar().showMessage(f"Converting {path.name}…")
        self.engine.convert_official(str(path), d_path, dataset.currentText(), out)

    def _on_converted(self, path: str) -> None:
        self.report("info", "Model converted", f"Converted to {Path(path).name}; opening it.")
        self.load_model(path)

    # ================================================================= scene lifecycle
    def new_canvas(self, height: int, width: int, fill: int | None = None, starter: bool = True) -> None:
        if self.info is None:
            self.report("error", "No model", "Open a model first: the canvas is painted with the model's classes.")
            return
        height, width = self.info.snap_size(height, width)
        value = self.info.default_fill_value() if fill is None else fill
        labels = np.full((height, width), value, dtype=self.info.label_dtype)
        if starter and fill is None:
            sky, ground = self.info.value_of("sky"), None
            for name in ("grass", "road", "ground", "floor", "terrain", "water", "sea", "pavement"):
                ground = self.info.value_of(name)
                if ground is not None:
                    break
            if sky is not None and ground is not None:
                labels[:] = sky
                labels[int(height * 0.58) :] = ground
        scene = Scene(labels, style_seed=random_seed(), seed_locked=True)
        side = max(height, width)
        if not side / 64 <= self.canvas.brush_size <= side / 4:  # a brush that fits the canvas
            self.set_brush_size(max(3, round(side / 20)))
        self.project_path = None
        self.set_scene(scene)
        self.schedule_generation(immediate=True)

    def set_scene(self, scene: Scene) -> None:
        self.scene = scene
        self._variants = None
        self.variants_panel.clear()
        self.canvas.set_scene(scene, self.info)
        self._cleanup_for = None
        self._realism_cache = None
        self._show_photo_layers()
        entry = scene.current_entry()
        if entry is not None and entry.image is not None:
            self._show_image(entry.image, scene.revision)
        self._update_ui()

    def confirm_discard(self) -> bool:
        """True when the open scene may be replaced (saved, discarded, or unchanged)."""
        if self.scene is None or not self.scene.dirty:
            return True
        answer = self.ask(
            "Unsaved changes",
            "The scene has unsaved changes. Save them first?",
            ["Save", "Discard", "Cancel"],
        )
        if answer == "Save":
            return self.save()
        return answer == "Discard"

    def new_canvas_dialog(self) -> None:
        if self.info is None:
            self.report("error", "No model", "Open a model first.")
            return
        dlg = NewCanvasDialog(self.info, self)
        if dlg.exec() == QDialog.DialogCode.Accepted and self.confirm_discard():
            h, w, fill = dlg.result_size()
            self.new_canvas(h, w, fill)

    # ----------------------------------------------------------------- projects
    def open_project_dialog(self) -> None:
        path = self.choose_path("open", "Open a project", "OASIS Studio projects (*.oasis);;All (*)")
        if path and self.confirm_discard():
            self.open_project(path)

    def open_project(self, path: str | Path) -> bool:
        """Open a project; on any problem the current scene stays open and a dialog says why."""
        path = Path(path)
        try:
            project = project_file.load_project(path)
        except project_file.ProjectError as exc:
            self.report("error", "Cannot open project", f"{exc} The open scene is kept.")
            return False
        if self.info is None or (project.model_hash and project.model_hash != self.info.model_hash):
            match = resources.find_model_by_hash(project.model_hash, self.model_candidates())
            if match is not None:
                self._pending_project = (path, project)
                self.load_model(match)
                return True
            if self.info is None:
                self.report(
                    "error",
                    "No model for this project",
                    f"{path.name} was made with the model {project.model_name or project.model_hash[:12]}, which "
                    "is not available. Open that model file first.",
                )
                return False
            self.report(
                "warning",
                "Different model",
                f"{path.name} was made with the model {project.model_name or '?'} ({project.model_hash[:12]}), "
                f"which is not available; {self.info.name} will give different images.",
            )
        return self._apply_project(path, project)

    def _apply_project(self, path: Path, project: project_file.Project) -> bool:
        assert self.info is not None
        try:
            self.info.normalise(project.scene.labels, path.name)
            for e in project.scene.history:
                self.info.normalise(e.labels, f"{path.name} (history)")
            photo = project.scene.photo
            if photo is not None:  # set_scene below shows its reference layer, overlay and panel
                self.info.normalise(photo.labels, f"{path.name} (photo segmentation)")
                if photo.applied is not None:
                    self.info.normalise(photo.applied, f"{path.name} (photo clean-up)")
        except LabelMapError as exc:
            self.report("error", "Project does not fit the model", f"{exc} The open scene is kept.")
            return False
        if project.scene.labels.dtype != self.info.label_dtype:
            self.report("error", "Project does not fit the model", f"{path.name}: label dtype differs from the model.")
            return False
        self.project_path = path
        self.set_scene(project.scene)
        if project.image is not None:
            self._show_image(project.image, self.scene.revision if self.scene else 0)
        else:
            self.schedule_generation(immediate=True)
        self._add_recent_project(path)
        self._update_ui()
        return True

    def save(self) -> bool:
        if self.project_path is None:
            return self.save_as()
        return self.save_project(self.project_path)

    def save_as(self) -> bool:
        path = self.choose_path("save", "Save project", "OASIS Studio projects (*.oasis)", "scene.oasis")
        if not path:
            return False
        if not path.endswith(project_file.SUFFIX):
            path += project_file.SUFFIX
        return self.save_project(path)

    def save_project(self, path: str | Path) -> bool:
        if self.scene is None:
            return False
        path = Path(path)
        entry = self.scene.current_entry()
        image = None
        if entry is not None and entry.image is not None and self.canvas.image is not None:
            image = entry.image
        try:
            project_file.save_project(
                path,
                self.scene,
                model_hash=self.info.model_hash if self.info else "",
                model_name=self.info.name if self.info else "",
                image=image,
                app_version=resources.app_version(),
            )
        except OSError as exc:
            self.report("error", "Cannot save", f"{path.name} cannot be written ({exc.strerror or exc}).")
            return False
        self.scene.mark_saved()
        self.project_path = path
        self._add_recent_project(path)
        self.statusBar().showMessage(f"Saved {path.name}", 4000)
        self._update_ui()
        return True

    def _add_recent_project(self, path: Path | None) -> None:
        v = self.settings.value("recent_projects", [])
        items = [str(x) for x in ([v] if isinstance(v, str) else (v or []))]
        if path is not None:
            items = [str(path.resolve())] + [x for x in items if x != str(path.resolve())]
            self.settings.setValue("recent_projects", items[:10])
        self.recent_menu.clear()
        self.recent_menu.setEnabled(bool(items))
        for p in items[:10]:
            a = self.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, p=p: self.confirm_discard() and self.open_project(p))

    # ----------------------------------------------------------------- label maps and exports
    def open_label_map_dialog(self) -> None:
        path = self.choose_path("open", "Open a label map", "Images (*.png *.bmp *.tif *.tiff);;All (*)")
        if path and self.confirm_discard():
            self.open_label_map(path)

    def open_label_map(self, path: str | Path) -> bool:
        if self.info is None:
            self.report("error", "No model", "Open a model first: label ids are checked against its classes.")
            return False
        try:
            labels, warning = label_io.read_label_map(path, self.info)
        except (label_io.ImageFileError, LabelMapError) as exc:
            self.report("error", "Cannot open label map", f"{exc} The open scene is kept.")
            return False
        seed = self.scene.style_seed if self.scene is not None else random_seed()
        self.project_path = None
        self.set_scene(Scene(labels, style_seed=seed))
        self.scene.mark_dirty()
        m = self.info.size_multiple
        if labels.shape[0] % m or labels.shape[1] % m:
            extra = f" Its size {labels.shape[1]}x{labels.shape[0]} is padded to a multiple of {m} for generating."
            warning = (warning or "") + extra
        if warning:
            self.report("warning", "Label map", warning.strip())
        self.schedule_generation(immediate=True)
        return True

    def _require_image(self) -> np.ndarray | None:
        if self.canvas.image is None:
            self.report("error", "Nothing to export", "There is no generated image yet: generate one first.")
        return self.canvas.image

    def export_image_dialog(self) -> None:
        if self._require_image() is None:
            return
        path = self.choose_path("save", "Export image", "PNG (*.png);;JPEG (*.jpg *.jpeg)", "image.png")
        if path:
            self.export_image(path)

    def export_image(self, path: str | Path) -> bool:
        img = self._require_image()
        if img is None:
            return False
        try:
            label_io.write_image(path, img)
        except label_io.ImageFileError as exc:
            self.report("error", "Cannot export", str(exc))
            return False
        self.statusBar().showMessage(f"Exported {Path(path).name}", 4000)
        return True

    def export_label_map_dialog(self) -> None:
        path = self.choose_path("save", "Export label map", "Indexed PNG (*.png)", "labels.png")
        if path:
            self.export_label_map(path)

    def export_label_map(self, path: str | Path) -> bool:
        if self.scene is None or self.info is None:
            return False
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        try:
            label_io.write_label_map(path, self.scene.labels, self.info)
        except (label_io.ImageFileError, OSError) as exc:
            self.report("error", "Cannot export", str(exc))
            return False
        self.statusBar().showMessage(f"Exported {path.name} and labels.txt", 4000)
        return True

    def export_sheet_dialog(self) -> None:
        if self._require_image() is None:
            return
        path = self.choose_path("save", "Export side-by-side sheet", "PNG (*.png);;JPEG (*.jpg)", "sheet.png")
        if path:
            self.export_sheet(path)

    def export_sheet(self, path: str | Path) -> bool:
        img = self._require_image()
        if img is None or self.scene is None or self.info is None:
            return False
        sheet = label_io.side_by_side(self.info.colourize(self.scene.labels), img)
        try:
            label_io.write_image(path, sheet)
        except label_io.ImageFileError as exc:
            self.report("error", "Cannot export", str(exc))
            return False
        return True

    # ================================================================= editing
    def set_tool(self, name: str) -> None:
        self.canvas.tool = name
        self.tool_actions[name].setChecked(True)
        cursor = (
            Qt.CursorShape.CrossCursor
            if name not in ("brush", "eraser", "select_brush")
            else Qt.CursorShape.BlankCursor
        )
        self.canvas.setCursor(cursor)
        self.statusBar().showMessage(TOOL_INFO[name][0] + ": " + TOOL_INFO[name][2], 4000)
        self.canvas.update()

    def set_brush_size(self, size: float) -> None:
        size = max(1.0, min(512.0, float(size)))
        self.canvas.brush_size = size
        self.settings.setValue("brush_size", size)
        if self.size_spin.value() != round(size):
            self.size_spin.blockSignals(True)
            self.size_spin.setValue(round(size))
            self.size_spin.blockSignals(False)
        self.canvas.update()

    def set_view_mode(self, mode: str) -> None:
        self.canvas.set_view_mode(mode)
        self.settings.setValue("view_mode", mode)
        self._update_ui()

    def _opacity_changed(self, v: int) -> None:
        self.canvas.opacity = v / 100
        if self.canvas.view_mode != "blend":
            self.set_view_mode("blend")
        self.canvas.update()

    def _on_class_chosen(self, value: int) -> None:
        self.canvas.value = value
        if self.canvas.tool in ("eraser", "picker", "select", "select_brush"):
            self.set_tool("brush")
        self.canvas.update()

    def _on_picked(self, value: int) -> None:
        self.palette.choose(value)

    def _on_hover(self, x: int, y: int, value: int) -> None:
        if value < 0 or self.info is None:
            self.cursor_label.setText("")
            return
        c = self.info.class_of(value)
        self.cursor_label.setText(f"{x}, {y}  ·  {c.name if c else value}")

    def _update_zoom_label(self) -> None:
        self.zoom_label.setText(f"{self.canvas.zoom * 100:.0f}%")

    def _on_edit_started(self) -> None:
        # unlocked seed: a label edit draws a new style too, in the same undo step as the edit
        if self.scene is not None and not self.scene.seed_locked:
            self.scene.set_style_seed(random_seed())

    def _on_labels_edited(self) -> None:
        self._changed()

    def _changed(self, generate: bool = True) -> None:
        self._update_ui()
        if self.scene is not None and self.canvas.image is not None:
            self.canvas.set_image_stale(self.scene.revision != self._shown_revision)
        if generate:
            self.schedule_generation()

    def undo(self) -> None:
        if self.scene is None:
            return
        boxes = self.scene.undo()
        self.canvas.refresh_labels(boxes)
        self._changed()

    def redo(self) -> None:
        if self.scene is None:
            return
        boxes = self.scene.redo()
        self.canvas.refresh_labels(boxes)
        self._changed()

    def select_all(self) -> None:
        if self.scene is not None:
            self.scene.selection = np.ones(self.scene.shape, dtype=bool)
            self.canvas.refresh_selection()

    def clear_selection(self) -> None:
        if self.scene is not None:
            self.scene.selection = None
            self.canvas.refresh_selection()

    def set_style_seed(self, seed: int) -> None:
        if self.scene is not None and seed != self.scene.style_seed:
            self.scene.set_style_seed(seed)
            self._changed()

    def set_seed_locked(self, locked: bool) -> None:
        if self.scene is not None:
            self.scene.set_seed_locked(locked)
            self._update_ui()

    def new_style(self) -> None:
        if self.scene is not None:
            self.scene.set_style_seed(random_seed())
            self._changed(generate=False)
            self.generate_now()

    def reroll_selection(self) -> None:
        """Resample the noise inside the selection (a new seeded vector, blended with the strength slider)."""
        scene = self.scene
        if scene is None or scene.selection is None or not scene.selection.any():
            self.report("info", "Nothing selected", "Select a region first (lasso S, selection brush M).")
            return
        panel = self.reroll_panel
        region = RerollRegion.make(scene.selection, random_seed(), panel.strength_value, panel.feather_value)
        scene.add_region(region)
        self._changed(generate=False)
        self.generate_now()

    def reset_rerolls(self) -> None:
        if self.scene is not None and self.scene.regions:
            self.scene.clear_regions()
            self._changed()

    # ================================================================= generation
    def set_live(self, on: bool) -> None:
        self.live = bool(on)
        self.settings.setValue("live", self.live)
        self._update_ui()
        if on:
            self.schedule_generation()

    def schedule_generation(self, immediate: bool = False) -> None:
        if self.scene is None or self.info is None:
            return
        if immediate:
            self._live_timer.stop()
            self.generate_now()
        elif self.live:
            self._live_timer.start()

    def generate_now(self, tag: object = None) -> int:
        """Request the image for the scene as it is now; returns the request stamp (0 when impossible)."""
        self._live_timer.stop()
        if self.scene is None or self.info is None:
            return 0
        stamp = self.engine.generate(self.scene.labels, [self.scene.noise_recipe()], "main", tag)
        self._main_request_revision = self.scene.revision
        return stamp

    def cancel_generation(self) -> None:
        if self.canvas._lasso:  # Esc closes a polygon first
            self.canvas._lasso.clear()
            self.canvas.update()
            return
        if self.importing_photo:
            self.cancel_photo_import()
            return
        if self.engine.busy:
            self.engine.cancel()
            self.statusBar().showMessage("Cancelled", 3000)

    def _on_generated(self, result: GenerationResult) -> None:
        # the engine delivers only the current request of each channel: no stale result arrives here
        if result.channel == "variants":
            self._show_variants(result)
            return
        if self.scene is None:
            return
        image = result.images[0]
        recipe = result.recipes[0]
        self.last_frame_ms = result.ms
        tag = result.tag
        if isinstance(tag, tuple) and tag[0] == "history" and tag[1] < len(self.scene.history):
            entry = self.scene.history[tag[1]]
            entry.image = image
        else:
            entry = self.scene.current_entry()
            same = (
                entry is not None
                and entry.recipe().key() == recipe.key()
                and np.array_equal(entry.labels, result.labels)
            )
            if same:
                entry.image = image  # type: ignore[union-attr]
            else:
                self.scene.add_history(
                    HistoryEntry(
                        labels=result.labels,
                        style_seed=recipe.style_seed,
                        regions=recipe.regions,
                        ms=result.ms,
                        device=result.device,
                        dtype=result.dtype,
                        model_hash=result.model_hash,
                        kind=str(tag) if isinstance(tag, str) else "generate",
                        thumbnail=project_file.thumbnail(image, 128),
                        image=image,
                    )
                )
        self._show_image(image, self._main_request_revision)
        self.timing_label.setText(f"{result.ms:.0f} ms/frame")
        self.generate_panel.timing.setText(
            f"{result.ms:.0f} ms for {result.labels.shape[1]}×{result.labels.shape[0]} on {result.device} "
            f"({result.dtype})"
        )
        self._update_ui()

    def _show_image(self, image: np.ndarray, revision: int) -> None:
        self._shown_revision = revision
        stale = self.scene is not None and self.scene.revision != revision
        self.canvas.set_image(image, stale=stale)
        self._image_serial += 1
        self.canvas.set_realism(None)
        self._request_realism()
        self.image_shown.emit()

    def _on_generate_failed(self, stamp: int, message: str) -> None:
        # the engine reports only the current request's failure
        self.report("error", "Generation failed", f"{message} Your scene is unchanged.")

    def _on_busy(self, busy: bool) -> None:
        self.canvas.set_busy(busy)
        self.generate_panel.set_busy(busy)
        self.busy_bar.setVisible(busy)
        self.act_cancel.setEnabled(True)

    def _on_progress(self, channel: str, done: int, total: int) -> None:
        if channel == "segment":
            if self._photo_progress is not None and total:
                self._photo_progress.setValue(round(100 * done / total))
            return
        self.generate_panel.set_busy(True, done, total)

    def generate_variants(self, count: int, selection_only: bool) -> int:
        scene = self.scene
        if scene is None or self.info is None:
            return 0
        base = scene.noise_recipe()
        seeds = [random_seed() for _ in range(count)]
        if selection_only:
            if scene.selection is None or not scene.selection.any():
                self.report("info", "Nothing selected", "Select a region first, or make variants of the whole image.")
                return 0
            strength = self.reroll_panel.strength_value
            mask = scene.selection.copy()
            feather = self.reroll_panel.feather_value
            recipes = [base.with_region(RerollRegion.make(mask, s, strength, feather)) for s in seeds]
        else:
            recipes = [type(base)(base.height, base.width, s, base.regions) for s in seeds]
        stamp = self.engine.generate(scene.labels, recipes, "variants", tag=seeds)
        self.variants_panel.clear()
        return stamp

    def _show_variants(self, result: GenerationResult) -> None:
        self._variants = result
        self.variants_panel.show_variants(result.images, list(result.tag or []))

    def choose_variant(self, index: int) -> None:
        """Keep variant ``index``: its seed (or its region) becomes the scene's, as one undoable step."""
        res, scene = self._variants, self.scene
        if res is None or scene is None or not 0 <= index < len(res.images):
            return
        recipe = res.recipes[index]
        scene.set_recipe(recipe.style_seed, recipe.regions, "Keep variant")
        if np.array_equal(res.labels, scene.labels):
            image = res.images[index]
            scene.add_history(
                HistoryEntry(
                    labels=res.labels,
                    style_seed=recipe.style_seed,
                    regions=recipe.regions,
                    ms=res.ms,
                    device=res.device,
                    dtype=res.dtype,
                    model_hash=res.model_hash,
                    kind="variant",
                    thumbnail=project_file.thumbnail(image, 128),
                    image=image,
                )
            )
            self._show_image(image, scene.revision)
            self._changed(generate=False)
        else:
            self._changed(generate=False)
            self.generate_now()

    def go_to_history(self, index: int) -> None:
        scene = self.scene
        if scene is None or not 0 <= index < len(scene.history):
            return
        entry = scene.history[index]
        if entry.labels.shape != scene.shape:
            return
        scene.restore_entry(index)
        self.canvas.refresh_labels()
        if entry.image is not None:
            self._show_image(entry.image, scene.revision)
            self._changed(generate=False)
        else:
            self._changed(generate=False)
            self.generate_now(tag=("history", index))

    def step_history(self, delta: int) -> None:
        if self.scene is not None:
            self.go_to_history(self.scene.history_index + delta)

    # ================================================================= from a photo
    def import_photo_dialog(self) -> None:
        path = self.choose_path("open", "Import a photo", PHOTO_FILTERS)
        if path and self.confirm_discard():
            self.import_photo(path)

    def import_photo(self, path: str | Path, flip: bool = True) -> int:
        """Segment a photo in the worker (with progress, cancellable); the result becomes a new scene whose label
        map is the segmentation and whose reference layer is the photo. Returns the request stamp (0: refused)."""
        info = self.info
        if info is None:
            self.report("error", "No model", "Open a model first: the photo is segmented into the model's classes.")
            return 0
        if not info.has_discriminator:
            self.report(
                "error",
                "Cannot segment photos",
                f"The model {info.name} has no discriminator, so it cannot segment a photo. Open a model file that "
                "includes one (the bundled models do).",
            )
            return 0
        path = Path(path)
        self._live_timer.stop()
        stamp = self.engine.import_photo(path, info, flip=flip)
        self._close_photo_progress()
        dlg = QProgressDialog(f"Segmenting {path.name}…", "Cancel", 0, 100, self)
        dlg.setWindowTitle("Import photo")
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(0)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.setValue(0)
        dlg.canceled.connect(self.cancel_photo_import)
        self._photo_progress = dlg
        dlg.show()
        self.statusBar().showMessage(f"Segmenting {path.name}…")
        return stamp

    def cancel_photo_import(self) -> None:
        if self.importing_photo:
            self.engine.forget("segment")
            self.engine.cancel()
            self.statusBar().showMessage("Photo import cancelled; the open scene is kept.", 4000)
        self._close_photo_progress()

    def _close_photo_progress(self) -> None:
        dlg, self._photo_progress = self._photo_progress, None
        if dlg is not None:
            dlg.canceled.disconnect(self.cancel_photo_import)
            dlg.close()
            dlg.deleteLater()
            self.activateWindow()  # keyboard shortcuts go to the window again, not to the closed dialog

    @property
    def importing_photo(self) -> bool:
        return self.engine.waiting("segment")

    def _on_task_done(self, kind: str, stamp: int, result: object) -> None:
        # only the current request of each task arrives (the engine drops the rest)
        if kind == "segment":
            self._close_photo_progress()
            self._on_photo_imported(result)  # type: ignore[arg-type]
        elif kind == "cleanup":
            self._on_cleaned(result)  # type: ignore[arg-type]
        elif kind == "realism":
            self._on_realism(result)  # type: ignore[arg-type]
        elif kind == "worst":
            self._on_worst_regions(result)  # type: ignore[arg-type]

    def _on_task_failed(self, kind: str, stamp: int, message: str) -> None:
        message = message.strip()
        if message and message[-1] not in ".!?":
            message += "."
        if kind == "segment":
            self._close_photo_progress()
            self.report("error", "Cannot import photo", f"{message} The open scene is kept.")
        elif kind == "cleanup":
            self.report("error", "Clean-up failed", f"{message} The label map is unchanged.")
        elif kind in ("realism", "worst"):
            self.report("error", "Realism failed", f"{message} The scene is unchanged.")

    def _on_photo_imported(self, result: PhotoImport) -> None:
        if self.info is None:
            return
        name = Path(result.path).name
        photo = PhotoReference(
            photo=result.photo,
            labels=result.labels,
            confidence=result.confidence,
            source=name,
            source_size=result.source_size,
        )
        scene = Scene(result.labels, style_seed=random_seed(), seed_locked=True)
        scene.photo = photo
        side = max(scene.shape)
        if not side / 64 <= self.canvas.brush_size <= side / 4:
            self.set_brush_size(max(3, round(side / 20)))
        self.project_path = None
        self.set_scene(scene)
        scene.mark_dirty()
        h, w = result.source_size
        self.statusBar().showMessage(
            f"Segmented {name} ({w}×{h}) in {result.ms / 1000:.1f} s: edit the label map, then restyle", 8000
        )
        level = self.photo_panel.cleanup.value()
        if level > 0:
            self.request_cleanup(level)
        self.schedule_generation(immediate=True)
        self._update_ui()

    def _show_photo_layers(self) -> None:
        """The reference photo, confidence overlay and photo panel of the current scene (hidden without one)."""
        photo = self.scene.photo if self.scene is not None else None
        self.canvas.reference_opacity = self.photo_panel.reference_opacity
        self.canvas.set_reference(None if photo is None else photo.photo)
        show_conf = photo is not None and self.photo_panel.confidence.isChecked()
        self.canvas.set_confidence(photo.confidence if show_conf else None)  # type: ignore[union-attr]
        self.photo_panel.setVisible(photo is not None)
        if photo is not None:
            self.photo_panel.show_photo(photo.source, photo.source_size, photo.labels.shape, photo.cleanup)
            self.photo_panel.show_cleanup(*cleanup_parameters(photo.cleanup, photo.labels.shape))

    def _reference_opacity_changed(self, value: float) -> None:
        self.canvas.reference_opacity = value
        self.canvas.update()

    def set_confidence_overlay(self, on: bool) -> None:
        photo = self.scene.photo if self.scene is not None else None
        if self.photo_panel.confidence.isChecked() != bool(on):
            self.photo_panel.confidence.setChecked(bool(on))  # emits again and lands here
            return
        self.canvas.set_confidence(photo.confidence if (on and photo is not None) else None)

    def request_cleanup(self, level: int) -> int:
        """Clean the photo's segmentation at ``level`` (0..100) in the worker; the result replaces the label map as
        one undoable step, keeping what the user painted since."""
        scene = self.scene
        photo = scene.photo if scene is not None else None
        if scene is None or photo is None:
            return 0
        level = max(0, min(100, int(level)))
        min_region, min_confidence = cleanup_parameters(level, photo.labels.shape)
        self.photo_panel.show_cleanup(min_region, min_confidence)
        self._cleanup_for = (scene, photo, level)
        return self.engine.cleanup(photo.labels, photo.confidence, min_region, min_confidence)

    def _on_cleaned(self, cleaned: np.ndarray) -> None:
        target, self._cleanup_for = self._cleanup_for, None
        scene = self.scene
        if target is None or scene is None or target[0] is not scene or target[1] is not scene.photo:
            return  # the scene was replaced meanwhile
        photo, level = target[1], target[2]
        if cleaned.shape != scene.shape:
            return
        new = keep_user_edits(cleaned, scene.labels, photo)
        with scene.edit(f"Clean-up {level}%"):
            box = scene.write_patch(0, 0, new)
        photo.applied = cleaned
        photo.cleanup = level
        if box is not None:
            self.canvas.refresh_labels([box])
            self._changed()
        else:
            self._update_ui()

    # ----------------------------------------------------------------- realism
    def set_realism_overlay(self, on: bool) -> None:
        """Show or hide the discriminator's heat map over the generated image (computed in the worker)."""
        on = bool(on)
        self.realism_on = on
        for w in (self.act_realism, self.realism_panel.overlay):
            if w.isChecked() != on:
                w.blockSignals(True)
                w.setChecked(on)
                w.blockSignals(False)
        if not on:
            self.canvas.set_realism(None)
            return
        cached = self._realism_cache
        if cached is not None and cached[0] == self._image_serial:
            self.canvas.set_realism(cached[1])
            self.realism_panel.show_score(cached[1])
        else:
            self._request_realism()

    def _realism_opacity_changed(self, value: float) -> None:
        self.canvas.realism_opacity = value
        self.canvas.update()

    def _request_realism(self) -> None:
        image = self.canvas.image
        if not self.realism_on or image is None or self.info is None or not self.info.has_discriminator:
            return
        if self._realism_for == self._image_serial and self.engine.busy:
            return  # already asked for this image
        self._realism_for = self._image_serial
        self.engine.realism(image)

    def _on_realism(self, fake: np.ndarray) -> None:
        if self._realism_for != self._image_serial or self.canvas.image is None:
            return  # another image is shown by now; its own request is on the way
        if fake.shape != self.canvas.image.shape[:2]:
            return
        self._realism_cache = (self._image_serial, fake)
        self.realism_panel.show_score(fake)
        if self.realism_on:
            self.canvas.set_realism(fake)

    def reroll_least_realistic(self, k: int | None = None, strength: float | None = None) -> int:
        """Find the ``k`` label regions the discriminator finds least realistic on the shown image and reroll their
        noise with ``strength`` (one undo step). Returns the request stamp (0: refused)."""
        scene, info, image = self.scene, self.info, self.canvas.image
        if scene is None or info is None:
            return 0
        if not info.has_discriminator:
            self.report("info", "No discriminator", f"The model {info.name} has no discriminator to judge realism.")
            return 0
        if image is None or image.shape[:2] != scene.shape:
            self.report("info", "No image yet", "Generate an image first: its least realistic regions are rerolled.")
            return 0
        k = self.realism_panel.regions.value() if k is None else int(k)
        strength = self.realism_panel.strength.value() / 100 if strength is None else float(strength)
        h, w = scene.shape
        min_area = max(16, h * w // 400)
        tag = (scene, strength)
        stamp = self.engine.worst_regions(image, scene.labels, k, min_area, tag=tag)
        self.statusBar().showMessage("Looking for the least realistic regions…")
        return stamp

    def _on_worst_regions(self, result: WorstRegions) -> None:
        scene, strength = result.tag  # type: ignore[misc]
        if scene is not self.scene:
            return
        if not result.masks:
            self.report("info", "Nothing to reroll", "No label region is large enough to reroll.")
            return
        masks = [m for m in result.masks if m.shape == scene.shape]
        feather = self.reroll_panel.feather_value
        regions = tuple(RerollRegion.make(m, random_seed(), strength, feather) for m in masks)
        scene.add_regions(regions, "Reroll least realistic")
        self.last_worst_masks = masks
        self.statusBar().showMessage(
            f"Rerolled the {len(regions)} least realistic region{'s' if len(regions) != 1 else ''}", 5000
        )
        self._changed(generate=False)
        self.generate_now()

    # ================================================================= UI state
    def _update_ui(self) -> None:
        scene, info = self.scene, self.info
        has = scene is not None and info is not None
        for a in (
            self.act_save,
            self.act_save_as,
            self.act_export_labels,
            self.act_generate,
            self.act_variants,
            self.act_new_style,
            self.act_select_all,
        ):
            a.setEnabled(has)
        has_image = self.canvas.image is not None
        has_d = info is not None and info.has_discriminator
        self.act_import_photo.setEnabled(has_d)
        self.act_import_photo.setToolTip(
            "Segment a photo into an editable label map" if has_d else "The model has no discriminator to segment with"
        )
        self.act_realism.setEnabled(has_d)
        self.act_reroll_worst.setEnabled(has and has_d and has_image)
        self.realism_panel.set_available(has_d, "" if has_d else "This model has no discriminator to judge realism.")
        self.realism_panel.reroll_button.setEnabled(has and has_d and has_image)
        self.act_export_image.setEnabled(has_image)
        self.act_export_sheet.setEnabled(has_image)
        self.act_undo.setEnabled(bool(scene and scene.can_undo))
        self.act_redo.setEnabled(bool(scene and scene.can_redo))
        self.act_undo.setText(f"&Undo {scene.undo_name}" if scene and scene.can_undo else "&Undo")
        self.act_redo.setText(f"&Redo {scene.redo_name}" if scene and scene.can_redo else "&Redo")
        self.act_live.setChecked(self.live)
        self.act_dark.setChecked(self.dark)
        self.generate_panel.live.blockSignals(True)
        self.generate_panel.live.setChecked(self.live)
        self.generate_panel.live.blockSignals(False)
        self.view_actions[self.canvas.view_mode].setChecked(True)
        self.view_combo.setCurrentIndex(("side", "blend", "split").index(self.canvas.view_mode))
        self.generate_panel.setEnabled(has)
        self.variants_panel.setEnabled(has)
        if scene is not None:
            self.generate_panel.show_state(scene.style_seed, scene.seed_locked)
            sel = scene.selection is not None and bool(scene.selection.any())
            self.reroll_panel.show_state(sel, len(scene.regions))
            self.act_reroll.setEnabled(sel)
            self.act_deselect.setEnabled(sel)
            self.history_panel.show_history(scene.history, scene.history_index)
        else:
            self.reroll_panel.show_state(False, 0)
        if info is not None:
            self.device_label.setText(f"{info.name} · {info.device} · {info.dtype}")
            self.device_label.setToolTip(f"{info.path}\nsha256 {info.model_hash}")
        name = self.project_path.name if self.project_path else "Untitled"
        self.setWindowTitle(f"{name}[*] — {resources.APP_NAME}")
        self.setWindowModified(bool(scene is not None and scene.dirty))
        self._update_zoom_label()

    def apply_theme(self, dark: bool) -> None:
        self.dark = bool(dark)
        self.settings.setValue("dark", self.dark)
        app = QApplication.instance()
        if app is not None:
            app.setStyleSheet(stylesheet(self.dark))
        self.canvas.background = canvas_background(self.dark)
        for a in self.findChildren(QAction):
            name = a.data()
            if isinstance(name, str) and name:
                a.setIcon(icon(name, self.dark))
        self.canvas.update()
        if hasattr(self, "act_dark"):
            self.act_dark.setChecked(self.dark)

    # ================================================================= dialogs
    def show_help(self) -> None:
        dlg = HelpDialog(self)
        dlg.show()
        self._help = dlg

    def show_about(self) -> None:
        model = f"<br>Model: {self.info.name}<br>sha256 {self.info.model_hash[:16]}…" if self.info else ""
        QMessageBox.about(
            self,
            f"About {resources.APP_NAME}",
            f"<b>{resources.APP_NAME}</b> {resources.app_version()}<br>Paint scenes with semantic classes and turn "
            f"them into images with OASIS (Schönfeld, Sushko et al., ICLR 2021).{model}",
        )

    # ================================================================= closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.confirm_discard():
            event.ignore()
            return
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.sync()
        self.engine.cancel()
        for b in list(self._boxes):
            b.close()
        event.accept()

    def shutdown(self) -> None:
        """Stop the worker thread (tests and the self-test call this; the app does it at exit)."""
        self.engine.shutdown()

    # ================================================================= waiting (self-test, tests)
    def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout_s
        app = QApplication.instance()
        while not predicate():
            if time.monotonic() > deadline:
                return False
            app.processEvents()
            time.sleep(0.002)
        return True

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Wait until no generation is queued or running and pending results are delivered."""
        ok = self.wait_until(lambda: not self._live_timer.isActive() and not self.engine.busy, timeout_s)
        QApplication.instance().processEvents()
        return ok


def _caption_label(text: str) -> QLabel:
    lab = QLabel(f"  {text} ")
    lab.setStyleSheet("color: palette(mid);")
    return lab


