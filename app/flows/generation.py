"""Generation: the image for the scene as it is (live, after each edit, or on request), the noise recipe the user
edits (style seed and its lock, rerolled regions), undo, variants and the history of images."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from app.doc import HistoryEntry, RerollRegion, project_file, random_seed
from app.engine import Engine, GenerationResult
from app.flows import Ui
from app.session import Session

LIVE_DELAY_MS = 150


class GenerationFlow(QObject):
    """Signals: ``variants_ready(result)`` (a batch of variants to show), ``variants_cleared``, and
    ``frame_done(result)`` (the figures of the image now on show)."""

    variants_ready = Signal(object)  # GenerationResult
    variants_cleared = Signal()
    frame_done = Signal(object)  # GenerationResult of the image now on show

    def __init__(self, session: Session, engine: Engine, ui: Ui, settings: QSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.engine, self.ui, self.settings = session, engine, ui, settings
        self.live = bool(settings.value("live", True, type=bool))
        self.variants: GenerationResult | None = None
        self.last_frame_ms: float | None = None
        self._request_revision = -1  # the scene revision of the current main request
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DELAY_MS)
        self._live_timer.timeout.connect(self.generate_now)
        session.scene_replaced.connect(self._on_scene_replaced)
        session.edited.connect(lambda _boxes, regenerate: self.schedule() if regenerate else None)
        engine.generated.connect(self._on_generated)
        engine.generate_failed.connect(self._on_failed)

    # ----------------------------------------------------------------- requests
    @property
    def pending(self) -> bool:
        """A live request is scheduled but not sent yet."""
        return self._live_timer.isActive()

    def set_live(self, on: bool) -> None:
        self.live = bool(on)
        self.settings.setValue("live", self.live)
        if on:
            self.schedule()

    def schedule(self, immediate: bool = False) -> None:
        """A new image is wanted: now (``immediate``), or after a short rest when live generation is on."""
        if not self.session.ready:
            return
        if immediate:
            self.generate_now()
        elif self.live:
            self._live_timer.start()

    def generate_now(self, tag: object = None) -> int:
        """Request the image for the scene as it is now; returns the request stamp (0 when impossible)."""
        self._live_timer.stop()
        scene = self.session.scene
        if scene is None or self.session.info is None:
            return 0
        stamp = self.engine.generate(scene.labels, [scene.noise_recipe()], "main", tag)
        self._request_revision = scene.revision
        return stamp

    def stop_scheduled(self) -> None:
        """Forget a scheduled live request (something else takes the worker now)."""
        self._live_timer.stop()

    def stop(self) -> None:
        """Cancel what is scheduled and what runs (the engine drops its answers)."""
        self._live_timer.stop()
        self.engine.cancel()

    def _on_scene_replaced(self, regenerate: bool) -> None:
        self._live_timer.stop()
        self.variants = None
        self.variants_cleared.emit()
        scene = self.session.scene
        entry = scene.current_entry() if scene is not None else None
        if entry is not None and entry.image is not None and not regenerate:
            self.session.show_image(entry.image, scene.revision)  # type: ignore[union-attr]
        else:
            self.schedule(immediate=True)

    def _on_generated(self, result: GenerationResult) -> None:
        # the engine delivers only the current request of each channel: no stale result arrives here
        if result.channel == "variants":
            self.variants = result
            self.variants_ready.emit(result)
            return
        scene = self.session.scene
        if scene is None:
            return
        image, recipe, tag = result.images[0], result.recipes[0], result.tag
        self.last_frame_ms = result.ms
        if isinstance(tag, tuple) and tag[0] == "history" and tag[1] < len(scene.history):
            scene.history[tag[1]].image = image
        else:
            entry = scene.current_entry()
            if (
                entry is not None
                and entry.recipe().key() == recipe.key()
                and np.array_equal(entry.labels, result.labels)
            ):
                entry.image = image
            else:
                scene.add_history(self._entry(result, 0, str(tag) if isinstance(tag, str) else "generate"))
        self.session.show_image(image, self._request_revision)
        self.frame_done.emit(result)

    def _on_failed(self, stamp: int, message: str) -> None:
        self.ui.report("error", "Generation failed", f"{message} Your scene is unchanged.")

    @staticmethod
    def _entry(result: GenerationResult, index: int, kind: str) -> HistoryEntry:
        image, recipe = result.images[index], result.recipes[index]
        return HistoryEntry(
            labels=result.labels,
            style_seed=recipe.style_seed,
            regions=recipe.regions,
            ms=result.ms,
            device=result.device,
            dtype=result.dtype,
            model_hash=result.model_hash,
            kind=kind,
            thumbnail=project_file.thumbnail(image, 128),
            image=image,
        )

    # ----------------------------------------------------------------- the recipe and edits
    def label_edit_started(self) -> None:
        """A stroke begins: with an unlocked seed, a label edit draws a new style too, in the same undo step."""
        scene = self.session.scene
        if scene is not None and not scene.seed_locked:
            scene.set_style_seed(random_seed())

    def labels_edited(self) -> None:
        """A stroke (or fill, lasso) ended: the canvas drew it already."""
        self.session.mark_edited((), regenerate=True)

    def undo(self) -> None:
        if self.session.scene is not None:
            self.session.mark_edited(self.session.scene.undo(), regenerate=True)

    def redo(self) -> None:
        if self.session.scene is not None:
            self.session.mark_edited(self.session.scene.redo(), regenerate=True)

    def set_style_seed(self, seed: int) -> None:
        scene = self.session.scene
        if scene is not None and seed != scene.style_seed:
            scene.set_style_seed(seed)
            self.session.mark_edited()

    def set_seed_locked(self, locked: bool) -> None:
        if self.session.scene is not None:
            self.session.scene.set_seed_locked(locked)
            self.session.mark_edited(regenerate=False)

    def toggle_seed_lock(self) -> None:
        if self.session.scene is not None:
            self.set_seed_locked(not self.session.scene.seed_locked)

    def new_style(self) -> None:
        if self.session.scene is not None:
            self.session.scene.set_style_seed(random_seed())
            self.session.mark_edited(regenerate=False)
            self.generate_now()

    def reroll_selection(self, strength: float, feather: int) -> None:
        """Resample the noise inside the selection (a new seeded vector, blended with ``strength``, ramping in
        over ``feather`` px)."""
        scene = self.session.scene
        if scene is None or scene.selection is None or not scene.selection.any():
            self.ui.report("info", "Nothing selected", "Select a region first (lasso S, selection brush M).")
            return
        scene.add_region(RerollRegion.make(scene.selection, random_seed(), strength, feather))
        self.session.mark_edited(regenerate=False)
        self.generate_now()

    def add_rerolls(self, masks: list[np.ndarray], strength: float, feather: int, name: str) -> int:
        """Reroll several regions as one undo step (each its own seed); returns how many."""
        scene = self.session.scene
        if scene is None:
            return 0
        regions = tuple(RerollRegion.make(m, random_seed(), strength, feather) for m in masks if m.shape == scene.shape)
        scene.add_regions(regions, name)
        self.session.mark_edited(regenerate=False)
        self.generate_now()
        return len(regions)

    def reset_rerolls(self) -> None:
        if self.session.scene is not None and self.session.scene.regions:
            self.session.scene.clear_regions()
            self.session.mark_edited()

    # ----------------------------------------------------------------- variants
    def generate_variants(self, count: int, selection_only: bool, strength: float = 1.0, feather: int = 0) -> int:
        """``count`` images with new seeds: of the whole image, or of the selection only (rerolled with
        ``strength`` and ``feather``). Returns the request stamp (0: refused)."""
        scene = self.session.scene
        if scene is None or self.session.info is None:
            return 0
        base = scene.noise_recipe()
        seeds = [random_seed() for _ in range(count)]
        if selection_only:
            if scene.selection is None or not scene.selection.any():
                self.ui.report(
                    "info", "Nothing selected", "Select a region first, or make variants of the whole image."
                )
                return 0
            mask = scene.selection.copy()
            recipes = [base.with_region(RerollRegion.make(mask, s, strength, feather)) for s in seeds]
        else:
            recipes = [type(base)(base.height, base.width, s, base.regions) for s in seeds]
        stamp = self.engine.generate(scene.labels, recipes, "variants", tag=seeds)
        self.variants_cleared.emit()
        return stamp

    def choose_variant(self, index: int) -> None:
        """Keep variant ``index``: its seed (or its region) becomes the scene's, as one undoable step."""
        res, scene = self.variants, self.session.scene
        if res is None or scene is None or not 0 <= index < len(res.images):
            return
        recipe = res.recipes[index]
        scene.set_recipe(recipe.style_seed, recipe.regions, "Keep variant")
        if np.array_equal(res.labels, scene.labels):
            scene.add_history(self._entry(res, index, "variant"))
            self.session.show_image(res.images[index], scene.revision)
            self.session.mark_edited(regenerate=False)
        else:
            self.session.mark_edited(regenerate=False)
            self.generate_now()

    # ----------------------------------------------------------------- history
    def go_to_history(self, index: int) -> None:
        scene = self.session.scene
        if scene is None or not 0 <= index < len(scene.history):
            return
        entry = scene.history[index]
        if entry.labels.shape != scene.shape:
            return
        scene.restore_entry(index)
        if entry.image is not None:
            self.session.show_image(entry.image, scene.revision)
            self.session.mark_edited(None, regenerate=False)
        else:
            self.session.mark_edited(None, regenerate=False)
            self.generate_now(tag=("history", index))

    def step_history(self, delta: int) -> None:
        if self.session.scene is not None:
            self.go_to_history(self.session.scene.history_index + delta)
