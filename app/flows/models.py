"""Models: loading a model file (ours, or an official checkpoint converted first), the models on offer (bundled and
recently opened), and the device and precision they run with."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

from app import resources
from app.doc.model_info import ModelInfo
from app.engine import Engine, available_dtypes
from app.flows import Ui
from app.session import Session

RECENT_MODELS = 8
MODEL_FILTERS = "Models (*.safetensors *.pth *.pt);;OASIS Studio models (*.safetensors);;All (*)"


class ModelsFlow(QObject):
    """Signals: ``loading(path)`` (a load started), ``load_failed()``, ``models_changed()`` (the models on
    offer), ``runtime_changed()`` (device or precision). A loaded model reaches everyone through
    ``Session.model_changed``."""

    loading = Signal(str)
    load_failed = Signal()
    models_changed = Signal()
    runtime_changed = Signal()

    def __init__(self, session: Session, engine: Engine, ui: Ui, settings: QSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.engine, self.ui, self.settings = session, engine, ui, settings
        self.device = str(settings.value("device", "auto"))
        self.dtype = str(settings.value("dtype", "auto"))
        self.load_ms: float | None = None
        self._unproven: str | None = None  # a loaded model not yet remembered as the last one: no image so far
        session.image_shown.connect(self._remember_model)
        engine.model_loaded.connect(self._on_loaded)
        engine.model_failed.connect(self._on_failed)
        engine.converted.connect(self._on_converted)
        engine.inspected.connect(self._on_inspected)
        engine.convert_failed.connect(lambda msg: self.ui.report("error", "Conversion failed", msg))

    # ----------------------------------------------------------------- what is on offer
    def candidates(self) -> list[Path]:
        """The bundled models, then the models opened recently (existing files, each once)."""
        seen: list[Path] = []
        for p in [*resources.bundled_models(), *[Path(x) for x in self.recent()]]:
            if p.is_file() and p.resolve() not in seen:
                seen.append(p.resolve())
        return seen

    def recent(self) -> list[str]:
        v = self.settings.value("recent_models", [])
        return [str(x) for x in ([v] if isinstance(v, str) else (v or []))]

    # ----------------------------------------------------------------- loading
    def load_model(self, path: str | Path, device: str | None = None, dtype: str | None = None) -> None:
        """Load (in the worker) a model file of ours; official .pth files go through conversion first."""
        path = Path(path)
        if resources.is_official_checkpoint(path):
            self.offer_conversion(path)
            return
        self.device = device or self.device
        self.dtype = dtype or self.dtype
        self.loading.emit(str(path))
        self.ui.status(f"Loading model {path.name} on {self.device}…")
        self.engine.load_model(path, self.device, self.dtype)

    def open_model_dialog(self) -> None:
        path = self.ui.choose_path("open", "Open a model", MODEL_FILTERS)
        if path:
            self.load_model(path)

    def set_device(self, device: str, dtype: str) -> None:
        """Run on ``device`` in ``dtype`` (reloading the open model); a dtype the device lacks becomes auto."""
        if dtype not in available_dtypes(device):
            dtype = "auto"
        self.device, self.dtype = device, dtype
        self.settings.setValue("device", device)
        self.settings.setValue("dtype", dtype)
        self.runtime_changed.emit()
        if self.session.info is not None:
            self.load_model(self.session.info.path, device, dtype)

    def _on_loaded(self, info: ModelInfo, ms: float) -> None:
        self.load_ms = ms
        self._unproven = info.path  # remembered as the last model once it has made an image
        recent = [info.path] + [p for p in self.recent() if p != info.path]
        self.settings.setValue("recent_models", recent[:RECENT_MODELS])
        self.ui.status(f"Loaded {info.name} in {ms:.0f} ms", 5000)
        self.session.set_model(info)
        self.models_changed.emit()

    def _remember_model(self) -> None:
        """The next start opens the last model that loaded *and* made an image, so a model that takes the app down
        while making its first one is not opened again and again."""
        if self._unproven is not None and self.session.image is not None:
            self.settings.setValue("last_model", self._unproven)
            self._unproven = None

    def _on_failed(self, path: str, message: str) -> None:
        self.load_failed.emit()
        keep = " The open scene is kept." if self.session.scene is not None else ""
        self.ui.report("error", "Cannot open model", f"{message}.{keep}".replace("..", "."))

    # ----------------------------------------------------------------- official checkpoints
    def offer_conversion(self, path: Path) -> None:
        """An official OASIS .pth: read and check it first (in the worker; no code in it runs), then ask for its
        dataset (the ones its layout matches; its discriminator is found beside it) and where to save the converted
        file, and convert it once into our format, then open that."""
        self.ui.status(f"Checking {path.name}…")
        self.engine.inspect_official(str(path))

    def _on_inspected(self, path_text: str, datasets: list[str]) -> None:
        path = Path(path_text)
        d_guess = path.with_name(path.name.replace("EMA", "D").replace("_G", "_D"))
        d_path = str(d_guess) if d_guess.is_file() and d_guess != path else None
        guess = next((d for d in datasets if d in str(path).lower()), datasets[0])
        dataset = self.ui.choose_official_dataset(path, datasets, guess, d_path)
        if dataset is None:
            self.ui.status("Conversion cancelled", 3000)
            return
        out = self.ui.choose_path(
            "save", "Save the converted model", "OASIS Studio models (*.safetensors)", f"{path.stem}.safetensors"
        )
        if not out:
            self.ui.status("Conversion cancelled", 3000)
            return
        self.ui.status(f"Converting {path.name}…")
        self.engine.convert_official(str(path), d_path, dataset, out)

    def _on_converted(self, path: str) -> None:
        self.ui.report("info", "Model converted", f"Converted to {Path(path).name}; opening it.")
        self.load_model(path)
