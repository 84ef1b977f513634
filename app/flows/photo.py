"""From a photo: segmenting it into the model's classes (in the worker, with progress, cancellable) as a new
scene with the photo as its reference layer, and again when another model with other classes opens; cleaning the
segmentation up while keeping the user's strokes; and the discriminator's realism map, with a reroll of the least
realistic regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from app.doc import PhotoReference, Scene, cleanup_parameters, keep_user_edits, label_io, random_seed
from app.engine import Engine, PhotoImport, WorstRegions
from app.flows import Progress, Ui
from app.flows.generation import GenerationFlow
from app.session import Session

PHOTO_FILTERS = "Photos (*.jpg *.jpeg *.png *.webp *.bmp *.tif *.tiff);;All (*)"
CLEANUP_DELAY_MS = 120


class PhotoFlow(QObject):
    """Signals: ``cleanup_shown(min_region, min_confidence)`` (the clean-up in effect), ``realism_ready(fake)``
    (the realism map of the image on show, or None when it is switched off)."""

    cleanup_shown = Signal(int, float)
    realism_ready = Signal(object)

    def __init__(
        self, session: Session, engine: Engine, generation: GenerationFlow, ui: Ui, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.session, self.engine, self.generation, self.ui = session, engine, generation, ui
        self.progress: Progress | None = None
        self.cleanup_level = 0  # the clean-up slider's level, applied to the next imported photo too
        self._cleanup_for: tuple[Scene, PhotoReference, int] | None = None
        self._resegment_for: tuple[Scene, PhotoReference] | None = None  # the running segmentation is a redo
        self._cleanup_timer = QTimer(self)  # the clean-up slider asks for a clean-up once it rests
        self._cleanup_timer.setSingleShot(True)
        self._cleanup_timer.setInterval(CLEANUP_DELAY_MS)
        self._cleanup_timer.timeout.connect(lambda: self.request_cleanup(self.cleanup_level))
        self.realism_on = False
        self._realism_for = -1  # the image serial the current realism request is for
        self._realism_cache: tuple[int, np.ndarray] | None = None
        self.last_worst_masks: list[np.ndarray] = []
        self._worst_for: tuple[Scene, float, int] | None = None
        engine.task_done.connect(self._on_done)
        engine.task_failed.connect(self._on_failed)
        engine.progress.connect(self._on_progress)
        session.image_shown.connect(self._request_realism)
        session.scene_replaced.connect(self._on_scene_replaced)

    # ----------------------------------------------------------------- import
    @property
    def importing(self) -> bool:
        return self.engine.waiting("segment")

    def import_photo_dialog(self, confirm_discard) -> None:
        path = self.ui.choose_path("open", "Import a photo", PHOTO_FILTERS)
        if path and confirm_discard():
            self.import_photo(path)

    def import_photo(self, path: str | Path, flip: bool = True) -> int:
        """Segment a photo in the worker (with progress, cancellable); the result becomes a new scene whose label
        map is the segmentation and whose reference layer is the photo. Returns the request stamp (0: refused)."""
        info = self.session.info
        if info is None:
            self.ui.report("error", "No model", "Open a model first: the photo is segmented into the model's classes.")
            return 0
        if not info.has_discriminator:
            self.ui.report(
                "error",
                "Cannot segment photos",
                f"The model {info.name} has no discriminator, so it cannot segment a photo. Open a model file that "
                "includes one (the bundled models do).",
            )
            return 0
        path = Path(path)
        try:
            h, w = label_io.image_size(path, max_side=None)  # the header only: nothing is decoded yet
        except label_io.ImageFileError as exc:
            self.ui.report("error", "Cannot import photo", f"{exc} The open scene is kept.")
            return 0
        problem = info.canvas_problem(*info.photo_canvas_size(h, w))
        if problem is not None:
            self.ui.report(
                "error", "Cannot import photo", f"{path.name} is {w}x{h}, too narrow or too large: {problem}"
            )
            return 0
        self.generation.stop_scheduled()
        self._resegment_for = None  # a new import replaces a segmentation under way
        stamp = self.engine.import_photo(path, info, flip=flip)
        self._close_progress()
        self.progress = self.ui.open_progress("Import photo", f"Segmenting {path.name}…", self.cancel_import)
        self.ui.status(f"Segmenting {path.name}…")
        return stamp

    def cancel_import(self) -> None:
        if self.importing:
            self.engine.forget("segment")
            if self._resegment_for is not None:
                # not engine.cancel(): that would also drop the new model's first image, queued before this job;
                # the segmentation (about a second) finishes unseen
                self._resegment_for[1].mapped_edits = None  # kept as mapped: not segmented on the next replace
                self.ui.status(
                    "Segmentation cancelled: the label map keeps the old classes matched by name (those this model "
                    "lacks are painted as its don't-care or background class).",
                    8000,
                )
            else:
                self.engine.cancel()
                self.ui.status("Photo import cancelled; the open scene is kept.", 4000)
        self._resegment_for = None
        self._close_progress()

    def resegment(self) -> int:
        """Segment the open scene's photo again with the model now open (its classes differ from the model that
        made the segmentation): in the worker, with progress, cancellable. The result replaces the label map as one
        undoable step, keeping what the user painted. Returns the request stamp (0: nothing to do)."""
        scene, info = self.session.scene, self.session.info
        photo = scene.photo if scene is not None else None
        if photo is None or info is None or not info.has_discriminator:
            return 0
        self._resegment_for = (scene, photo)
        stamp = self.engine.segment_image(photo.photo, info, photo.source, photo.source_size)
        self._close_progress()
        what = photo.source or "the photo"
        self.progress = self.ui.open_progress(
            "Segment photo", f"Segmenting {what} into {info.name}'s classes…", self.cancel_import
        )
        self.ui.status(f"Segmenting {what} into {info.name}'s classes…")
        return stamp

    def _on_resegmented(self, result: PhotoImport) -> None:
        target, self._resegment_for = self._resegment_for, None
        scene, info = self.session.scene, self.session.info
        if target is None or scene is None or info is None or target[0] is not scene or target[1] is not scene.photo:
            return  # the scene or its photo was replaced meanwhile
        photo = target[1]
        if result.labels.shape != scene.shape:
            return
        new = keep_user_edits(result.labels, scene.labels, photo)
        scene.photo = PhotoReference(
            photo=photo.photo,
            labels=result.labels,
            confidence=result.confidence,
            source=photo.source,
            source_size=photo.source_size,
        )
        with scene.edit(f"Segment photo for {info.name}"):
            box = scene.write_patch(0, 0, new)
        self.session.mark_edited([box] if box is not None else (), regenerate=box is not None)
        self.ui.status(f"Segmented {photo.source or 'the photo'} into {info.name}'s classes", 6000)
        if photo.cleanup > 0:
            self.request_cleanup(photo.cleanup)

    def _close_progress(self) -> None:
        progress, self.progress = self.progress, None
        if progress is not None:
            progress.close()

    def _on_progress(self, channel: str, done: int, total: int) -> None:
        if channel == "segment" and self.progress is not None and total:
            self.progress.set_percent(round(100 * done / total))

    def _on_imported(self, result: PhotoImport) -> None:
        if self.session.info is None:
            return
        name = Path(result.path).name
        scene = Scene(result.labels, style_seed=random_seed(), seed_locked=True)
        scene.photo = PhotoReference(
            photo=result.photo,
            labels=result.labels,
            confidence=result.confidence,
            source=name,
            source_size=result.source_size,
        )
        scene.mark_dirty()
        self.session.replace_scene(scene)
        h, w = result.source_size
        self.ui.status(
            f"Segmented {name} ({w}×{h}) in {result.ms / 1000:.1f} s: edit the label map, then restyle", 8000
        )
        if self.cleanup_level > 0:
            self.request_cleanup(self.cleanup_level)

    # ----------------------------------------------------------------- clean-up
    def cleanup_changed(self, level: int) -> None:
        """The clean-up slider moved: clean up once it rests."""
        self.cleanup_level = int(level)
        self._cleanup_timer.start()

    def request_cleanup(self, level: int) -> int:
        """Clean the photo's segmentation at ``level`` (0..100) in the worker; the result replaces the label map as
        one undoable step, keeping what the user painted since."""
        scene = self.session.scene
        photo = scene.photo if scene is not None else None
        if scene is None or photo is None:
            return 0
        level = max(0, min(100, int(level)))
        min_region, min_confidence = cleanup_parameters(level, photo.labels.shape)
        self.cleanup_shown.emit(min_region, min_confidence)
        self._cleanup_for = (scene, photo, level)
        return self.engine.cleanup(photo.labels, photo.confidence, min_region, min_confidence)

    def _on_cleaned(self, cleaned: np.ndarray) -> None:
        target, self._cleanup_for = self._cleanup_for, None
        scene = self.session.scene
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
        self.session.mark_edited([box] if box is not None else (), regenerate=box is not None)

    def _on_scene_replaced(self, _regenerate: bool) -> None:
        self._cleanup_for = None
        self._realism_cache = None
        scene = self.session.scene
        if scene is not None and scene.photo is not None and scene.photo.stale:
            self.resegment()  # another model's segmentation, mapped by name: this model makes its own
        elif self._resegment_for is not None:  # a segmentation for a scene no longer open: not delivered
            self._resegment_for = None
            self.engine.forget("segment")
            self._close_progress()

    # ----------------------------------------------------------------- realism
    def set_realism_overlay(self, on: bool) -> None:
        """Show or hide the discriminator's heat map over the image on show (computed in the worker)."""
        self.realism_on = bool(on)
        if not self.realism_on:
            self.realism_ready.emit(None)
            return
        cached = self._realism_cache
        if cached is not None and cached[0] == self.session.image_serial:
            self.realism_ready.emit(cached[1])
        else:
            self._request_realism()

    def _request_realism(self) -> None:
        image, info = self.session.image, self.session.info
        if not self.realism_on or image is None or info is None or not info.has_discriminator:
            return
        if self._realism_for == self.session.image_serial and self.engine.waiting("realism"):
            return  # already asked for this image
        self._realism_for = self.session.image_serial
        self.engine.realism(image)

    def _on_realism(self, fake: np.ndarray) -> None:
        image = self.session.image
        if self._realism_for != self.session.image_serial or image is None or fake.shape != image.shape[:2]:
            return  # another image is on show by now; its own request is on the way
        self._realism_cache = (self.session.image_serial, fake)
        if self.realism_on:
            self.realism_ready.emit(fake)

    def reroll_least_realistic(self, k: int, strength: float, feather: int) -> int:
        """Find the ``k`` label regions the discriminator finds least realistic on the image on show and reroll
        their noise with ``strength`` and ``feather`` (one undo step). Returns the request stamp (0: refused)."""
        scene, info, image = self.session.scene, self.session.info, self.session.image
        if scene is None or info is None:
            return 0
        if not info.has_discriminator:
            self.ui.report("info", "No discriminator", f"The model {info.name} has no discriminator to judge realism.")
            return 0
        if image is None or image.shape[:2] != scene.shape:
            self.ui.report("info", "No image yet", "Generate an image first: its least realistic regions are rerolled.")
            return 0
        h, w = scene.shape
        self._worst_for = (scene, float(strength), int(feather))
        stamp = self.engine.worst_regions(image, scene.labels, int(k), max(16, h * w // 400))
        self.ui.status("Looking for the least realistic regions…")
        return stamp

    def _on_worst_regions(self, result: WorstRegions) -> None:
        target, self._worst_for = self._worst_for, None
        if target is None or target[0] is not self.session.scene:
            return
        if not result.masks:
            self.ui.report("info", "Nothing to reroll", "No label region is large enough to reroll.")
            return
        _, strength, feather = target
        self.last_worst_masks = [m for m in result.masks if m.shape == target[0].shape]
        n = self.generation.add_rerolls(self.last_worst_masks, strength, feather, "Reroll least realistic")
        self.ui.status(f"Rerolled the {n} least realistic region{'s' if n != 1 else ''}", 5000)

    # ----------------------------------------------------------------- answers from the engine
    def _on_done(self, kind: str, stamp: int, result: object) -> None:
        # only the current request of each task arrives (the engine drops the rest)
        if kind == "segment":
            self._close_progress()
            if self._resegment_for is not None:
                self._on_resegmented(result)  # type: ignore[arg-type]
            else:
                self._on_imported(result)  # type: ignore[arg-type]
        elif kind == "cleanup":
            self._on_cleaned(result)  # type: ignore[arg-type]
        elif kind == "realism":
            self._on_realism(result)  # type: ignore[arg-type]
        elif kind == "worst":
            self._on_worst_regions(result)  # type: ignore[arg-type]

    def _on_failed(self, kind: str, stamp: int, message: str) -> None:
        message = message.strip()
        if message and message[-1] not in ".!?":
            message += "."
        if kind == "segment" and self._resegment_for is not None:
            self._resegment_for[1].mapped_edits = None  # kept as mapped: not tried again on every replace
            self._resegment_for = None
            self._close_progress()
            self.ui.report(
                "error", "Cannot segment the photo", f"{message} The label map keeps the classes matched by name."
            )
        elif kind == "segment":
            self._close_progress()
            self.ui.report("error", "Cannot import photo", f"{message} The open scene is kept.")
        elif kind == "cleanup":
            self.ui.report("error", "Clean-up failed", f"{message} The label map is unchanged.")
        elif kind in ("realism", "worst"):
            self.ui.report("error", "Realism failed", f"{message} The scene is unchanged.")
