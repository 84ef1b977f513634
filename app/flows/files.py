"""Scenes and their files: new canvases, projects (open, save, recent), label maps, image and sheet exports, and
which scene a newly loaded model opens with (a pending project, a fresh canvas, or the open scene adopted)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSettings, Signal

from app import resources
from app.doc import PhotoReference, Scene, label_io, project_file, random_seed
from app.doc.model_info import LabelMapError, ModelInfo
from app.flows import Ui
from app.flows.models import ModelsFlow
from app.session import Session
from oasis_core.files import failure_reason

PROJECT_FILTER = "OASIS Studio projects (*.oasis)"
RECENT_PROJECTS = 10
STARTER_GROUNDS = ("grass", "road", "ground", "floor", "terrain", "water", "sea", "pavement")


@dataclass(frozen=True)
class _Opening:
    """A project being opened: read from ``source``; the scene's project path becomes ``origin``. A recovery copy
    (``recovered``) opens unsaved under the project path it was autosaved from, and stays out of the recent list."""

    source: Path
    project: project_file.Project
    origin: Path | None
    recovered: bool = False


class FilesFlow(QObject):
    """Signals: ``recent_changed(paths)`` (the recent projects, newest first); ``recovered(source)`` (a recovery
    copy ``source`` is open now)."""

    recent_changed = Signal(list)
    recovered = Signal(str)

    def __init__(
        self, session: Session, models: ModelsFlow, ui: Ui, settings: QSettings, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.session, self.models, self.ui, self.settings = session, models, ui, settings
        self._pending: _Opening | None = None  # opens once its model has loaded
        session.model_changed.connect(self._on_model_changed)
        models.load_failed.connect(self._on_model_failed)

    # ----------------------------------------------------------------- scene lifecycle
    def new_canvas(self, height: int, width: int, fill: int | None = None, starter: bool = True) -> None:
        """A new unsaved scene of the model's classes: filled with ``fill``, or (``starter``) sky over ground."""
        info = self.session.info
        if info is None:
            self.ui.report("error", "No model", "Open a model first: the canvas is painted with the model's classes.")
            return
        height, width = info.snap_size(height, width)
        problem = info.canvas_problem(height, width)
        if problem is not None:
            self.ui.report("error", "Canvas too large", problem)
            return
        value = info.default_fill_value() if fill is None else fill
        labels = np.full((height, width), value, dtype=info.label_dtype)
        if starter and fill is None:
            sky = info.value_of("sky")
            ground = next((v for v in map(info.value_of, STARTER_GROUNDS) if v is not None), None)
            if sky is not None and ground is not None:
                labels[:] = sky
                labels[int(height * 0.58) :] = ground
        self.session.replace_scene(Scene(labels, style_seed=random_seed(), seed_locked=True))

    def confirm_discard(self) -> bool:
        """True when the open scene may be replaced (saved, discarded, or unchanged)."""
        scene = self.session.scene
        if scene is None or not scene.dirty:
            return True
        answer = self.ui.ask(
            "Unsaved changes", "The scene has unsaved changes. Save them first?", ["Save", "Discard", "Cancel"]
        )
        if answer == "Save":
            return self.save()
        return answer == "Discard"

    def _on_model_changed(self, info: ModelInfo, old: ModelInfo | None) -> None:
        pending, self._pending = self._pending, None
        scene = self.session.scene
        if pending is not None:
            self._apply_project(pending)
        elif scene is None:
            self.new_canvas(*self._first_canvas_size(info))
        elif old is None or old.model_hash != info.model_hash:
            self._adopt_scene(info, old)
        else:  # the same model on another device or precision: the same scene, a new image
            self.session.replace_scene(scene, self.session.project_path, regenerate=True)

    def _first_canvas_size(self, info: ModelInfo) -> tuple[int, int]:
        """The model's natural size, or (where that does not fit here) a 256-pixel canvas of its aspect."""
        h, w = info.natural_size
        problem = info.canvas_problem(*info.snap_size(h, w))
        if problem is None:
            return h, w
        s = 256 / max(h, w)
        self.ui.report(
            "warning", "Smaller canvas", f"{problem} The model's natural size is {w}x{h}; a smaller canvas opens."
        )
        return info.snap_size(h * s, w * s)

    def _on_model_failed(self) -> None:
        self._pending = None

    def _adopt_scene(self, info: ModelInfo, old: ModelInfo | None) -> None:
        """The open scene with the new model's classes: mapped by class name from the old model's (ids mean other
        classes in another label space); classes the new model lacks are asked about. A scene made from a photo
        keeps its photo, which the new model segments again (``PhotoReference.stale``; only the classes the user
        painted are asked about). Where nothing fits, a new canvas."""
        scene = self.session.scene
        assert scene is not None
        if old is not None and not info.same_classes(old):
            labels, unknown = info.remap_from(old, scene.labels)
            photo = scene.photo if info.has_discriminator else None
            if photo is not None:  # the segmentation is made again: only the user's own strokes need a class
                painted = photo.user_edits(scene.labels)
                unknown = info.remap_from(old, scene.labels[painted])[1]
            if unknown:
                fill = info.class_of(
                    info.dont_care_value if info.dont_care_value is not None else info.default_fill_value()
                )
                answer = self.ui.ask(
                    "Classes the new model does not have",
                    f"{info.name} has no class {', '.join(repr(n) for n in unknown)}. Paint "
                    f"{'them' if len(unknown) > 1 else 'it'} as {fill.name if fill else 'the background'}, or start "
                    "a new canvas?",
                    [f"Use {fill.name if fill else 'background'}", "New canvas", "Cancel"],
                )
                if answer == "Cancel":
                    self.models.load_model(old.path)
                    return
                if answer == "New canvas":
                    if scene.dirty:
                        save = self.ui.ask(
                            "Unsaved changes", "Save the open scene before starting a new canvas?", ["Save", "Discard"]
                        )
                        if save == "Save" and not self.save():
                            self.models.load_model(old.path)
                            return
                    self.new_canvas(*info.natural_size)
                    return
            changed = not np.array_equal(labels, scene.labels)
            # a new document in the new classes: the undo steps and the history hold the old model's ids and stay
            # with the old model (its saved project keeps them)
            adopted = Scene(labels, scene.style_seed, scene.seed_locked)
            if photo is not None:  # meanwhile its segmentation mapped by name, as the label map is
                adopted.photo = PhotoReference(
                    photo=photo.photo,
                    labels=info.remap_from(old, photo.labels)[0],
                    confidence=photo.confidence,
                    source=photo.source,
                    source_size=photo.source_size,
                    cleanup=photo.cleanup,
                    applied=None if photo.applied is None else info.remap_from(old, photo.applied)[0],
                    mapped_edits=painted,
                )
            if changed or scene.dirty:
                adopted.mark_dirty()
            self.session.replace_scene(adopted, self.session.project_path, regenerate=True)
            if changed:
                self.ui.status(f"The label map now uses {info.name}'s classes (matched by name)", 6000)
            return
        try:
            labels = info.normalise(scene.labels, "The open scene")
        except LabelMapError:
            if scene.dirty:
                answer = self.ui.ask(
                    "Scene does not fit the new model",
                    f"The open scene uses classes that {info.name} does not have. Save it before starting a "
                    "new canvas?",
                    ["Save", "Discard", "Cancel"],
                )
                if answer == "Save" and not self.save():
                    answer = "Cancel"
                if answer == "Cancel" and old is not None:
                    self.models.load_model(old.path)
                    return
            self.new_canvas(*info.natural_size)
            return
        if labels.dtype != scene.labels.dtype:
            scene = Scene(labels, scene.style_seed, scene.seed_locked)
        self.session.replace_scene(scene, self.session.project_path, regenerate=True)

    # ----------------------------------------------------------------- projects
    def open_project_dialog(self) -> None:
        path = self.ui.choose_path("open", "Open a project", f"{PROJECT_FILTER};;All (*)")
        if path and self.confirm_discard():
            self.open_project(path)

    def open_project(self, path: str | Path) -> bool:
        """Open a project; on any problem the current scene stays open and a dialog says why. A project made with
        another model that is available loads that model first."""
        path = Path(path)
        return self._open(path, path, recovered=False)

    def open_recovered(self, path: str | Path, origin: Path | None) -> bool:
        """Open a recovery copy (``app.flows.recovery``): unsaved, with ``origin`` as its project path."""
        return self._open(Path(path), origin, recovered=True)

    def _open(self, path: Path, origin: Path | None, recovered: bool) -> bool:
        try:
            project = project_file.load_project(path)
        except project_file.ProjectError as exc:
            self.ui.report("error", "Cannot open project", f"{exc} The open scene is kept.")
            return False
        opening = _Opening(path, project, origin, recovered)
        info = self.session.info
        if info is None or (project.model_hash and project.model_hash != info.model_hash):
            match = resources.find_model_by_hash(project.model_hash, self.models.candidates())
            if match is not None:
                self._pending = opening
                self.models.load_model(match)
                return True
            model = project.model_name or project.model_hash[:12]
            if info is None:
                self.ui.report(
                    "error",
                    "No model for this project",
                    f"{path.name} was made with the model {model}, which is not available. Open that model file "
                    "first.",
                )
                return False
            self.ui.report(
                "warning",
                "Different model",
                f"{path.name} was made with the model {project.model_name or '?'} ({project.model_hash[:12]}), "
                f"which is not available; {info.name} will give different images.",
            )
        return self._apply_project(opening)

    def _apply_project(self, opening: _Opening) -> bool:
        info = self.session.info
        assert info is not None
        path, scene = opening.source, opening.project.scene
        try:
            info.normalise(scene.labels, path.name)
            for e in scene.history:
                info.normalise(e.labels, f"{path.name} (history)")
            if scene.photo is not None:
                info.normalise(scene.photo.labels, f"{path.name} (photo segmentation)")
                if scene.photo.applied is not None:
                    info.normalise(scene.photo.applied, f"{path.name} (photo clean-up)")
        except LabelMapError as exc:
            self.ui.report("error", "Project does not fit the model", f"{exc} The open scene is kept.")
            return False
        problem = info.canvas_problem(*scene.shape)
        if problem is not None:
            self.ui.report("error", "Cannot open project", f"{path.name}: {problem} The open scene is kept.")
            return False
        if scene.labels.dtype != info.label_dtype:
            self.ui.report(
                "error", "Project does not fit the model", f"{path.name}: label dtype differs from the model."
            )
            return False
        if opening.recovered:
            scene.mark_dirty()
        self.session.replace_scene(scene, opening.origin)  # shows the saved image, or generates one
        if opening.recovered:
            self.ui.status("Recovered the unsaved scene: save it to keep it.", 8000)
            self.recovered.emit(str(path))
        else:
            self.add_recent(path)
        return True

    def document_name(self) -> str:
        """What files made from the open scene are called by default: the project's name, else "scene"."""
        path = self.session.project_path
        return path.stem if path is not None else "scene"

    def save(self) -> bool:
        if self.session.project_path is None:
            return self.save_as()
        return self.save_project(self.session.project_path)

    def save_as(self) -> bool:
        path = self.ui.choose_path("save", "Save project", PROJECT_FILTER, f"{self.document_name()}.oasis")
        if not path:
            return False
        if not path.endswith(project_file.SUFFIX):
            path += project_file.SUFFIX
        return self.save_project(path)

    def save_project(self, path: str | Path) -> bool:
        scene, info = self.session.scene, self.session.info
        if scene is None:
            return False
        path = Path(path)
        image = self.session.image_for_project()
        try:
            project_file.save_project(
                path,
                scene,
                model_hash=info.model_hash if info else "",
                model_name=info.name if info else "",
                image=image,
                app_version=resources.app_version(),
            )
        except OSError as exc:
            self.ui.report("error", "Cannot save", f"{path.name} cannot be written ({failure_reason(exc)}).")
            return False
        scene.mark_saved()
        self.session.set_project_path(path)
        self.add_recent(path)
        self.ui.status(f"Saved {path.name}", 4000)
        return True

    def recent(self) -> list[str]:
        v = self.settings.value("recent_projects", [])
        return [str(x) for x in ([v] if isinstance(v, str) else (v or []))][:RECENT_PROJECTS]

    def add_recent(self, path: Path | None) -> None:
        """Put ``path`` first in the recent projects (None: just announce the list)."""
        items = self.recent()
        if path is not None:
            p = str(path.resolve())
            items = [p] + [x for x in items if x != p]
            self.settings.setValue("recent_projects", items[:RECENT_PROJECTS])
        self.recent_changed.emit(items[:RECENT_PROJECTS])

    def open_recent(self, path: str) -> None:
        if self.confirm_discard():
            self.open_project(path)

    # ----------------------------------------------------------------- label maps and exports
    def open_label_map_dialog(self) -> None:
        path = self.ui.choose_path("open", "Open a label map", "Images (*.png *.bmp *.tif *.tiff);;All (*)")
        if path and self.confirm_discard():
            self.open_label_map(path)

    def open_label_map(self, path: str | Path) -> bool:
        info = self.session.info
        if info is None:
            self.ui.report("error", "No model", "Open a model first: label ids are checked against its classes.")
            return False
        try:
            size = label_io.image_size(path)
        except label_io.ImageFileError as exc:
            self.ui.report("error", "Cannot open label map", f"{exc} The open scene is kept.")
            return False
        problem = info.canvas_problem(*size)
        if problem is not None:
            self.ui.report("error", "Cannot open label map", f"{Path(path).name}: {problem} The open scene is kept.")
            return False
        try:
            labels, warning = label_io.read_label_map(path, info)
        except (label_io.ImageFileError, LabelMapError) as exc:
            self.ui.report("error", "Cannot open label map", f"{exc} The open scene is kept.")
            return False
        old = self.session.scene
        scene = Scene(labels, style_seed=old.style_seed if old is not None else random_seed())
        scene.mark_dirty()
        m = info.size_multiple
        if labels.shape[0] % m or labels.shape[1] % m:
            extra = f" Its size {labels.shape[1]}x{labels.shape[0]} is padded to a multiple of {m} for generating."
            warning = (warning or "") + extra
        self.session.replace_scene(scene)
        if warning:
            self.ui.report("warning", "Label map", warning.strip())
        return True

    def _require_image(self) -> np.ndarray | None:
        if self.session.image is None:
            self.ui.report("error", "Nothing to export", "There is no generated image yet: generate one first.")
        return self.session.image

    def export_image_dialog(self) -> None:
        if self._require_image() is None:
            return
        name = f"{self.document_name()}.png"
        path = self.ui.choose_path("save", "Export image", "PNG (*.png);;JPEG (*.jpg *.jpeg)", name)
        if path:
            self.export_image(path)

    def export_image(self, path: str | Path) -> bool:
        img = self._require_image()
        if img is None:
            return False
        try:
            label_io.write_image(path, img)
        except label_io.ImageFileError as exc:
            self.ui.report("error", "Cannot export", str(exc))
            return False
        self.ui.status(f"Exported {Path(path).name}", 4000)
        return True

    def export_label_map_dialog(self) -> None:
        name = f"{self.document_name()}-labels.png"
        path = self.ui.choose_path("save", "Export label map", "Indexed PNG (*.png)", name)
        if path:
            self.export_label_map(path)

    def export_label_map(self, path: str | Path) -> bool:
        scene, info = self.session.scene, self.session.info
        if scene is None or info is None:
            return False
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        try:
            label_io.write_label_map(path, scene.labels, info)
        except (label_io.ImageFileError, OSError) as exc:
            self.ui.report("error", "Cannot export", str(exc))
            return False
        self.ui.status(f"Exported {path.name} and {label_io.labels_txt_path(path).name}", 4000)
        return True

    def export_sheet_dialog(self) -> None:
        if self._require_image() is None:
            return
        name = f"{self.document_name()}-sheet.png"
        path = self.ui.choose_path("save", "Export side-by-side sheet", "PNG (*.png);;JPEG (*.jpg)", name)
        if path:
            self.export_sheet(path)

    def export_sheet(self, path: str | Path) -> bool:
        img = self._require_image()
        scene, info = self.session.scene, self.session.info
        if img is None or scene is None or info is None:
            return False
        sheet = label_io.side_by_side(info.colourize(scene.labels), img)
        try:
            label_io.write_image(path, sheet)
        except label_io.ImageFileError as exc:
            self.ui.report("error", "Cannot export", str(exc))
            return False
        return True
