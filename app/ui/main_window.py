"""The main window: the widgets and their wiring. What the user's commands do lives in the workflows
(``app.flows``), over the session (``app.session``); the window builds the canvas, palette, panels, menus and
toolbars, connects them to the workflows, draws what the session and the workflows announce, and implements the
``app.flows.Ui`` services (messages, questions, file choices, progress dialogs, the status line).

Tests and the self-test replace ``ask_handler`` and ``path_handler`` so nothing blocks.

Longer than 500 lines: about half is building the docks, toolbars and status bar, the rest connects them; the
behaviour itself is in ``app.flows``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import resources
from app.doc import BBox, cleanup_parameters
from app.doc.model_info import ModelInfo
from app.engine import Engine, GenerationResult, available_devices, available_dtypes
from app.flows.files import FilesFlow
from app.flows.generation import GenerationFlow
from app.flows.models import ModelsFlow
from app.flows.photo import PhotoFlow
from app.flows.recovery import RecoveryFlow
from app.session import Session
from app.ui.actions import COMMANDS, MENUS, TOOL_INFO, VIEW_MODES
from app.ui.canvas import TOOLS, Canvas
from app.ui.dialogs import ConvertDialog, HelpDialog, NewCanvasDialog, ProgressDialog
from app.ui.icons import icon
from app.ui.palette import Palette
from app.ui.panels import (
    GeneratePanel,
    HistoryPanel,
    PhotoPanel,
    RealismPanel,
    RerollPanel,
    VariantsPanel,
    WheelGuard,
)
from app.ui.theme import canvas_background, stylesheet


@dataclass
class Message:
    kind: str  # "error" | "warning" | "info"
    title: str
    text: str


class MainWindow(QMainWindow):
    message_shown = Signal(str, str)  # kind, text

    def __init__(
        self,
        settings: QSettings | None = None,
        engine: Engine | None = None,
        dark: bool | None = None,
        restore_layout: bool = True,
        recovery_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QSettings(resources.ORG_NAME, resources.APP_NAME)
        self.engine = engine if engine is not None else Engine(self)
        self.dark = bool(self.settings.value("dark", True, type=bool)) if dark is None else dark
        self.messages: list[Message] = []
        self.ask_handler: Callable[[str, str, list[str]], str] | None = None
        self.path_handler: Callable[[str, str, str], str | None] | None = None
        self._boxes: list[QMessageBox] = []

        # the session and the workflows over it
        self.session = Session(self)
        self.models = ModelsFlow(self.session, self.engine, self, self.settings, self)
        self.generation = GenerationFlow(self.session, self.engine, self, self.settings, self)
        self.files = FilesFlow(self.session, self.models, self, self.settings, self)
        self.photo = PhotoFlow(self.session, self.engine, self.generation, self, self)
        self.recovery: RecoveryFlow | None = None  # autosave, where a recovery folder was given
        self._recovery_error = ""
        if recovery_dir is not None:
            try:
                self.recovery = RecoveryFlow(
                    self.session, self.files, self.models, self, Path(recovery_dir), parent=self
                )
            except OSError as exc:
                self._recovery_error = f"Autosave is off: the recovery folder {recovery_dir} cannot be used ({exc})."

        self.setWindowTitle(resources.APP_NAME)
        self.resize(1480, 900)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.canvas = Canvas()
        self.canvas.brush_size = float(self.settings.value("brush_size", 24, type=float))
        self.setCentralWidget(self.canvas)

        self._build_docks()
        self._build_actions()
        self._build_toolbars()
        self._build_menus()
        self._build_status()
        self._connect()
        self.files.add_recent(None)
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
        if self._recovery_error:
            self.status(self._recovery_error, 15000)

    # the session's state, for reading
    @property
    def scene(self):
        return self.session.scene

    @property
    def info(self) -> ModelInfo | None:
        return self.session.info

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
        self._wheel_guard = WheelGuard(scroll)
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
            slot = self._resolve(c.slot)
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

    def _resolve(self, path: str):
        """A slot named in the actions table: a method of the window, or of a workflow ("files.save")."""
        target = self
        for part in path.split("."):
            target = getattr(target, part)
        return target

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
        _fit_to_text(self.device_combo)
        device, dtype = self.models.device, self.models.dtype
        self.device_combo.setCurrentText(device if device in available_devices() else "auto")
        self.device_combo.setToolTip("Where the model runs: auto picks CUDA when present, else the CPU")
        self.device_combo.activated.connect(
            lambda _: self.set_device(self.device_combo.currentText(), self.models.dtype)
        )
        top.addWidget(self.device_combo)
        top.addWidget(_caption_label("Precision"))
        self.dtype_combo = QComboBox()
        self.dtype_combo.addItems(available_dtypes(device))
        _fit_to_text(self.dtype_combo)
        self.dtype_combo.setCurrentText(dtype if dtype in available_dtypes(device) else "auto")
        self.dtype_combo.setToolTip("Precision: auto uses bf16 on CPUs that support it, fp32 otherwise")
        self.dtype_combo.activated.connect(
            lambda _: self.set_device(self.models.device, self.dtype_combo.currentText())
        )
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
        # what the eraser paints: shown while the eraser is the tool
        self.eraser_caption = top.addWidget(_caption_label("Eraser paints"))
        self.eraser_combo = QComboBox()
        self.eraser_combo.setToolTip("The class the eraser paints: don't care where the model has one")
        self.eraser_combo.activated.connect(lambda i: self.set_eraser_value(int(self.eraser_combo.itemData(i))))
        self.eraser_combo_action = top.addWidget(self.eraser_combo)
        self.eraser_caption.setVisible(False)
        self.eraser_combo_action.setVisible(False)
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
        self._hover_at: tuple[int, int] | None = None  # the label-map pixel under the mouse
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
        s, g, f, ph, m = self.session, self.generation, self.files, self.photo, self.models
        # the session and the workflows -> what is drawn
        s.scene_replaced.connect(self._on_scene_replaced)
        s.model_changed.connect(self._on_model_changed)
        s.edited.connect(self._on_edited)
        s.image_shown.connect(self._on_image_shown)
        s.project_changed.connect(self._update_ui)
        g.variants_ready.connect(lambda r: self.variants_panel.show_variants(r.images, list(r.tag or [])))
        g.variants_cleared.connect(self.variants_panel.clear)
        g.frame_done.connect(self._on_frame_done)
        f.recent_changed.connect(self._show_recent_projects)
        m.loading.connect(self._on_model_loading)
        m.load_failed.connect(self._on_model_failed)
        m.models_changed.connect(self._refresh_model_menu)
        ph.cleanup_shown.connect(self.photo_panel.show_cleanup)
        ph.realism_ready.connect(self._on_realism)
        self.engine.busy_changed.connect(self._on_busy)
        self.engine.progress.connect(self._on_progress)
        # widgets -> the workflows
        c = self.canvas
        c.edit_started.connect(g.label_edit_started)
        c.stroke_finished.connect(g.labels_edited)
        c.picked.connect(self.palette.choose)
        c.selection_changed.connect(self._update_ui)
        c.hover.connect(self._on_hover)
        c.view_changed.connect(self._update_zoom_label)
        self.palette.class_chosen.connect(self._on_class_chosen)
        self.palette.search_done.connect(self.canvas.setFocus)
        gp = self.generate_panel
        gp.generate_clicked.connect(g.generate_now)
        gp.cancel_clicked.connect(self.cancel)
        gp.live_toggled.connect(self.set_live)
        gp.seed_edited.connect(g.set_style_seed)
        gp.lock_toggled.connect(g.set_seed_locked)
        gp.new_style_clicked.connect(g.new_style)
        rp = self.reroll_panel
        rp.reroll_clicked.connect(self.reroll_selection)
        rp.clear_selection_clicked.connect(self.clear_selection)
        rp.reset_clicked.connect(g.reset_rerolls)
        self.variants_panel.generate_clicked.connect(self.generate_variants)
        self.variants_panel.variant_chosen.connect(g.choose_variant)
        self.history_panel.entry_chosen.connect(g.go_to_history)
        pp = self.photo_panel
        pp.reference_opacity_changed.connect(self._reference_opacity_changed)
        pp.confidence_toggled.connect(self.set_confidence_overlay)
        pp.cleanup_changed.connect(ph.cleanup_changed)
        pp.restyle_clicked.connect(g.new_style)
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

    def status(self, text: str, ms: int = 0) -> None:
        self.statusBar().showMessage(text, ms)

    def open_progress(self, title: str, text: str, on_cancel: Callable[[], None]) -> ProgressDialog:
        dlg = ProgressDialog(title, text, on_cancel, self)
        dlg.show()
        return dlg

    def choose_official_dataset(
        self, path: Path, datasets: list[str], guess: str, discriminator: str | None
    ) -> str | None:
        if self.ask_handler is not None:  # tests and the self-test: no modal dialog
            return guess
        dlg = ConvertDialog(path, datasets, guess, discriminator, self)
        return dlg.dataset() if dlg.exec() == QDialog.DialogCode.Accepted else None

    # ================================================================= models
    def _on_model_loading(self, path: str) -> None:
        self.canvas.placeholder = f"Loading {Path(path).name}…"
        self.canvas.update()

    def _on_model_changed(self, info: ModelInfo, _old: ModelInfo | None) -> None:
        self.palette.set_model(info)
        self.canvas.info = info
        self._fill_eraser_choices(info)
        self.palette.choose(self._initial_class(info))
        self._show_hover()
        self._update_ui()

    def _on_model_failed(self) -> None:
        self.canvas.placeholder = "No model loaded: open a model file (Model ▸ Open model file…)"
        self.canvas.update()
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
        for p in self.models.candidates():
            self.model_combo.addItem(p.stem, str(p))
            a = self.models_menu.addAction(p.stem)
            a.triggered.connect(lambda _=False, p=p: self.models.load_model(p))
        if self.info is not None:
            i = self.model_combo.findData(str(Path(self.info.path).resolve()))
            if i >= 0:
                self.model_combo.setCurrentIndex(i)
        self.model_combo.addItem("Open model file…", "")

    def _model_combo_chosen(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if not data:
            self.models.open_model_dialog()
            self._refresh_model_menu()
        elif self.info is None or Path(data) != Path(self.info.path).resolve():
            self.models.load_model(data)

    def set_device(self, device: str, dtype: str) -> None:
        if dtype not in available_dtypes(device):
            dtype = "auto"
        self.dtype_combo.clear()
        self.dtype_combo.addItems(available_dtypes(device))
        _fit_to_text(self.dtype_combo)
        self.dtype_combo.setCurrentText(dtype)
        self.models.set_device(device, dtype)

    # ================================================================= scenes
    def _on_scene_replaced(self, _regenerate: bool) -> None:
        scene, info = self.session.scene, self.session.info
        side = max(scene.shape)
        if not side / 64 <= self.canvas.brush_size <= side / 4:  # a brush that fits the canvas
            self.set_brush_size(max(3, round(side / 20)))
        self.canvas.set_scene(scene, info)
        # the image a workflow showed while the scene was being replaced (a project's saved image), else none
        self.canvas.set_image(self.session.image, stale=self.session.image_stale)
        self.realism_panel.show_score(None)  # the last score was another scene's
        self._show_photo_layers()
        self._show_hover()
        self._update_ui()

    def _on_edited(self, boxes: Sequence[BBox] | None, _regenerate: bool) -> None:
        if boxes is None:
            self.canvas.refresh_labels()
        elif boxes:
            self.canvas.refresh_labels(list(boxes))
        if self.canvas.image is not None:
            self.canvas.set_image_stale(self.session.image_stale)
        self._show_hover()
        self._update_ui()

    def _on_image_shown(self) -> None:
        self.canvas.set_image(self.session.image, stale=self.session.image_stale)
        self.canvas.set_realism(None)
        self._update_ui()

    def _show_recent_projects(self, items: list[str]) -> None:
        self.recent_menu.clear()
        self.recent_menu.setEnabled(bool(items))
        for p in items:
            a = self.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, p=p: self.files.open_recent(p))

    def new_canvas_dialog(self) -> None:
        if self.session.info is None:
            self.report("error", "No model", "Open a model first.")
            return
        dlg = NewCanvasDialog(self.session.info, self)
        if dlg.exec() == QDialog.DialogCode.Accepted and self.files.confirm_discard():
            h, w, fill = dlg.result_size()
            self.files.new_canvas(h, w, fill)

    def import_photo_dialog(self) -> None:
        self.photo.import_photo_dialog(self.files.confirm_discard)

    # ================================================================= editing
    def _fill_eraser_choices(self, info: ModelInfo) -> None:
        """The eraser's classes for this model; the choice is remembered per label space."""
        self.eraser_combo.clear()
        for c in info.classes:
            label = f"{c.name} (don't care)" if info.is_dont_care(c.value) else c.name
            self.eraser_combo.addItem(label, c.value)
        saved = self.settings.value(f"eraser/{info.label_space_name}")
        try:
            value = int(saved) if saved is not None else info.eraser_value()
        except (TypeError, ValueError):
            value = info.eraser_value()
        if info.class_of(value) is None:
            value = info.eraser_value()
        self.set_eraser_value(value, remember=False)

    def set_eraser_value(self, value: int, remember: bool = True) -> None:
        info = self.session.info
        self.canvas.eraser_value = int(value)
        index = self.eraser_combo.findData(int(value))
        if index >= 0:
            self.eraser_combo.setCurrentIndex(index)
        if remember and info is not None:
            self.settings.setValue(f"eraser/{info.label_space_name}", int(value))
        self.canvas.update()

    def set_tool(self, name: str) -> None:
        self.eraser_caption.setVisible(name == "eraser")
        self.eraser_combo_action.setVisible(name == "eraser")
        if name != self.canvas.tool:  # a polygon half-built with one tool is not the next tool's first vertices
            self.canvas.cancel_polygon()
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

    def _on_hover(self, x: int, y: int, value: int) -> None:
        self._hover_at = (x, y) if value >= 0 else None
        self._show_hover()

    def _show_hover(self) -> None:
        """The status bar's "x, y · class" of the label under the mouse, read from the scene now open (a stroke,
        a new segmentation or another model's classes change it without a mouse move)."""
        at, scene, info = self._hover_at, self.session.scene, self.session.info
        inside = at is not None and scene is not None and 0 <= at[1] < scene.shape[0] and 0 <= at[0] < scene.shape[1]
        if not inside or info is None:
            self.cursor_label.setText("")
            return
        value = int(scene.labels[at[1], at[0]])
        c = info.class_of(value)
        self.cursor_label.setText(f"{at[0]}, {at[1]}  ·  {c.name if c else value}")

    def _update_zoom_label(self) -> None:
        self.zoom_label.setText(f"{self.canvas.zoom * 100:.0f}%")

    def select_all(self) -> None:
        if self.scene is not None:
            self.scene.selection = np.ones(self.scene.shape, dtype=bool)
            self.canvas.refresh_selection()

    def clear_selection(self) -> None:
        if self.scene is not None:
            self.scene.selection = None
            self.canvas.refresh_selection()

    def reroll_selection(self) -> None:
        """Reroll the selection with the reroll panel's strength and soft edge."""
        self.generation.reroll_selection(self.reroll_panel.strength_value, self.reroll_panel.feather_value)

    # ================================================================= generation
    def set_live(self, on: bool) -> None:
        self.generation.set_live(on)
        self._update_ui()

    def cancel(self) -> None:
        """Esc: closes an open polygon first, else cancels a photo import, else the running generation."""
        if self.canvas.cancel_polygon():
            return
        if self.photo.importing:
            self.photo.cancel_import()
            return
        if self.engine.busy:
            self.generation.stop()
            self.status("Cancelled", 3000)

    def generate_variants(self, count: int, selection_only: bool) -> int:
        """Variants of the whole image, or of the selection with the reroll panel's strength and soft edge."""
        panel = self.reroll_panel
        stamp = self.generation.generate_variants(count, selection_only, panel.strength_value, panel.feather_value)
        if stamp:
            self.variants_dock.raise_()  # the Variants tab in front (it shares its place with the History)
        return stamp

    def _on_frame_done(self, result: GenerationResult) -> None:
        self.timing_label.setText(f"{result.ms:.0f} ms/frame")
        self.generate_panel.timing.setText(
            f"{result.ms:.0f} ms for {result.labels.shape[1]}×{result.labels.shape[0]} on {result.device} "
            f"({result.dtype})"
        )

    def _on_busy(self, busy: bool) -> None:
        self.canvas.set_busy(busy)
        self.generate_panel.set_busy(busy)
        self.busy_bar.setVisible(busy)
        self.act_cancel.setEnabled(True)

    def _on_progress(self, channel: str, done: int, total: int) -> None:
        if channel in ("main", "variants"):
            self.generate_panel.set_busy(True, done, total)

    # ================================================================= from a photo
    def _show_photo_layers(self) -> None:
        """The reference photo, confidence overlay and photo panel of the current scene (hidden without one)."""
        photo = self.session.scene.photo if self.session.scene is not None else None
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
        photo = self.session.scene.photo if self.session.scene is not None else None
        if self.photo_panel.confidence.isChecked() != bool(on):
            self.photo_panel.confidence.setChecked(bool(on))  # emits again and lands here
            return
        self.canvas.set_confidence(photo.confidence if (on and photo is not None) else None)

    # ----------------------------------------------------------------- realism
    def set_realism_overlay(self, on: bool) -> None:
        """Show or hide the discriminator's heat map over the image (H)."""
        on = bool(on)
        for w in (self.act_realism, self.realism_panel.overlay):
            if w.isChecked() != on:
                w.blockSignals(True)
                w.setChecked(on)
                w.blockSignals(False)
        self.photo.set_realism_overlay(on)

    def _on_realism(self, fake: np.ndarray | None) -> None:
        if fake is None:
            self.canvas.set_realism(None)
            return
        self.realism_panel.show_score(fake)
        if self.photo.realism_on:
            self.canvas.set_realism(fake)

    def _realism_opacity_changed(self, value: float) -> None:
        self.canvas.realism_opacity = value
        self.canvas.update()

    def reroll_least_realistic(self, k: int | None = None, strength: float | None = None) -> int:
        """Reroll the least realistic regions with the realism panel's count and strength (or the given ones)."""
        k = self.realism_panel.regions.value() if k is None else int(k)
        strength = self.realism_panel.strength.value() / 100 if strength is None else float(strength)
        return self.photo.reroll_least_realistic(k, strength, self.reroll_panel.feather_value)

    # ================================================================= UI state
    def _update_ui(self) -> None:
        scene, info = self.session.scene, self.session.info
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
        self.act_live.setChecked(self.generation.live)
        self.act_dark.setChecked(self.dark)
        self.generate_panel.live.blockSignals(True)
        self.generate_panel.live.setChecked(self.generation.live)
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
        path = self.session.project_path
        name = path.name if path else "Untitled"
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

    def show_help(self) -> None:
        dlg = HelpDialog(self)
        dlg.show()
        self._help = dlg

    def show_about(self) -> None:
        info = self.session.info
        model = f"<br>Model: {info.name}<br>sha256 {info.model_hash[:16]}…" if info else ""
        QMessageBox.about(
            self,
            f"About {resources.APP_NAME}",
            f"<b>{resources.APP_NAME}</b> {resources.app_version()}<br>Paint scenes with semantic classes and turn "
            f"them into images with OASIS (Schönfeld, Sushko et al., ICLR 2021).{model}",
        )

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.files.confirm_discard():
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
        if self.recovery is not None:
            self.recovery.close()


def _caption_label(text: str) -> QLabel:
    lab = QLabel(f"  {text} ")
    lab.setProperty("caption", True)
    return lab


def _fit_to_text(combo: QComboBox) -> None:
    """A combo box and its drop-down list wide enough for every entry (the style's check column and padding
    would otherwise cut short entries such as "auto" to "au")."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    widest = max((combo.fontMetrics().horizontalAdvance(combo.itemText(i)) for i in range(combo.count())), default=0)
    combo.view().setMinimumWidth(widest + 56)
