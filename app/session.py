"""The session: the open scene, the loaded model, the project file and the image on show. Every workflow
(``app.flows``) reads and changes the session; the window and the workflows subscribe to its signals instead of
calling each other back. No widgets here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.doc import BBox, Scene
from app.doc.model_info import ModelInfo


class Session(QObject):
    """What is open now. Signals (all in the GUI thread):

    - ``scene_replaced(regenerate)``: a different scene (new canvas, project, label map or photo), or the same
      one with a new model; ``regenerate``: a new image is wanted even where the scene has one saved;
    - ``model_changed(info, old)``: a model finished loading (``old`` is the previous one or None);
    - ``edited(boxes, regenerate)``: the scene's labels, seeds or regions changed. ``boxes``: the label boxes that
      changed and are not drawn yet (empty: none, e.g. a seed, or a stroke the canvas drew itself; None: the whole
      map may have); ``regenerate``: a new image is wanted (live generation);
    - ``image_shown``: a new image is on show (``image``, made from the scene at ``image_revision``);
    - ``project_changed``: the project path or the saved state changed (the title bar).
    """

    scene_replaced = Signal(bool)  # regenerate
    model_changed = Signal(object, object)  # ModelInfo, previous ModelInfo | None
    edited = Signal(object, bool)  # sequence of BBox (or None: everything), regenerate
    image_shown = Signal()
    project_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scene: Scene | None = None
        self.info: ModelInfo | None = None
        self.project_path: Path | None = None
        self.image: np.ndarray | None = None
        self.image_revision = -2  # the scene revision the image on show was made from
        self.image_serial = 0  # counts images shown, so per-image results (realism) find their image

    @property
    def ready(self) -> bool:
        """A scene and a model: generation, saving and exports can run."""
        return self.scene is not None and self.info is not None

    @property
    def image_stale(self) -> bool:
        return self.scene is not None and self.image is not None and self.scene.revision != self.image_revision

    def image_for_project(self) -> np.ndarray | None:
        """The image a project file keeps for the scene's current history entry (None: none is on show)."""
        entry = self.scene.current_entry() if self.scene is not None else None
        return entry.image if entry is not None and self.image is not None else None

    def replace_scene(self, scene: Scene, project_path: Path | None = None, regenerate: bool = False) -> None:
        """Open ``scene`` (from ``project_path``, or unsaved); the image on show is dropped. ``regenerate``: make a
        new image even where the scene's current history entry has one (a new model or device)."""
        self.scene = scene
        self.project_path = project_path
        self.image = None
        self.image_revision = -2
        self.scene_replaced.emit(bool(regenerate))
        self.project_changed.emit()

    def set_model(self, info: ModelInfo) -> None:
        old, self.info = self.info, info
        self.model_changed.emit(info, old)

    def set_project_path(self, path: Path | None) -> None:
        self.project_path = path
        self.project_changed.emit()

    def mark_edited(self, boxes: Sequence[BBox] | None = (), regenerate: bool = True) -> None:
        """The scene changed (see ``edited``)."""
        self.edited.emit(boxes, regenerate)
        self.project_changed.emit()

    def show_image(self, image: np.ndarray | None, revision: int) -> None:
        """``image`` (made from the scene at ``revision``) is the image on show now."""
        self.image = image
        self.image_revision = revision
        self.image_serial += 1
        self.image_shown.emit()
