"""Shared helpers for the app tests: tiny random-weight model files and Qt set-up (offscreen)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

from app.selftest import wait_idle  # noqa: E402


def make_tiny_model(
    path: Path,
    space: str = "landscapes",
    with_discriminator: bool = False,
    natural_size: tuple[int, int] = (64, 64),
    seed: int = 0,
    name: str | None = None,
    multipliers: tuple[int, ...] | None = None,
) -> Path:
    """A real model file with random weights and small widths (generates 64x64 in milliseconds)."""
    import torch

    from oasis_core import labels
    from oasis_core.checkpoint import save_checkpoint
    from oasis_core.config import DiscriminatorConfig, GeneratorConfig
    from oasis_core.nn import Discriminator, Generator

    torch.manual_seed(seed)
    ls = labels.get(space)
    extra = {"multipliers": multipliers} if multipliers else {}
    g = Generator(GeneratorConfig(semantic_nc=ls.num_channels, ch=4, spade_hidden=8, z_dim=8, **extra))
    # the paper's init (gain 0.02) gives a nearly flat image; a larger gain makes labels and noise visible
    g.init_weights(gain=1.0)
    d = None
    if with_discriminator:
        d = Discriminator(DiscriminatorConfig(semantic_nc=ls.num_channels, channels=(3, 8, 8, 8, 8, 8, 8)))
        d.init_weights(gain=1.0)
    return save_checkpoint(path, g, d, label_space=ls, name=name or f"tiny {space}", natural_size=natural_size)


def image_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference per pixel over the colour channels."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=-1)


def wait_for(predicate, timeout_s: float = 30.0) -> bool:
    """Process Qt events until ``predicate()`` is true (False on timeout)."""
    from app.selftest import wait_until

    return wait_until(predicate, timeout_s)


def open_window(
    qtbot, tmp_path: Path, model: Path, size: tuple[int, int] | None = None, recovery_dir: Path | None = None
):
    """A real MainWindow on a tiny model, settings in tmp_path, questions answered by ``window.answers``;
    autosave into ``recovery_dir`` where one is given."""
    from PySide6.QtCore import QSettings

    from app.ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, dark=True, restore_layout=False, recovery_dir=recovery_dir)
    win.questions = []
    win.answers = []

    def answer(title, text, buttons):
        win.questions.append((title, text, buttons))
        return win.answers.pop(0) if win.answers else buttons[-1]

    win.ask_handler = answer
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    win.models.load_model(model, device="cpu", dtype="fp32")
    assert wait_for(lambda: win.info is not None, 60), [m.text for m in win.messages]
    assert wait_for(lambda: win.canvas.image is not None, 60)
    if size is not None:
        win.files.new_canvas(*size)
        assert wait_idle(win, 60)
    assert wait_idle(win, 60)
    return win


def close_window(win) -> None:
    if win.scene is not None:
        win.scene.mark_saved()
    win.close()
    win.shutdown()
