"""The workflows: what the user's commands do, over the session (``app.session``) and the engine.

- ``generation``: live and manual generation, the noise recipe (style seed, lock, rerolls), undo, variants and
  the history;
- ``files``: new canvases, projects, label maps and exports, and which scene a newly loaded model opens with;
- ``models``: loading models, devices and precisions, converting official checkpoints;
- ``photo``: photo import (segmentation), its clean-up, the realism map and rerolling the least realistic regions.

A workflow never imports a widget. What it needs from the user interface (messages, questions, file choices, a
progress dialog, the status line) it asks of a :class:`Ui`, which the main window implements; what it has to show
it puts into the session or emits as a signal of its own, and the window draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol


class Progress(Protocol):
    """A progress dialog a workflow opened."""

    def set_percent(self, value: int) -> None: ...

    def close(self) -> None: ...


class Ui(Protocol):
    """The user interface as the workflows see it (the main window implements it)."""

    def report(self, kind: str, title: str, text: str) -> None:
        """Tell the user something: ``kind`` is "error", "warning" or "info"."""

    def ask(self, title: str, text: str, buttons: list[str]) -> str:
        """A question with named buttons; the chosen name (the last button means cancel)."""

    def choose_path(self, mode: str, title: str, filters: str, suggestion: str = "") -> str | None:
        """A file to "open" or "save", or None."""

    def status(self, text: str, ms: int = 0) -> None:
        """A line in the status bar (for ``ms`` milliseconds; 0: until replaced)."""

    def open_progress(self, title: str, text: str, on_cancel: Callable[[], None]) -> Progress:
        """A window-modal progress dialog with a Cancel button."""

    def choose_official_dataset(
        self, path: Path, datasets: list[str], guess: str, discriminator: str | None
    ) -> str | None:
        """Which dataset an official checkpoint was trained on (None: the user cancelled the conversion)."""
