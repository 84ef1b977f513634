"""Autosave and crash recovery (``app.flows.recovery``): a real app process killed with SIGKILL, real windows, real
project files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from app_helpers import close_window, make_tiny_model, open_window, wait_for

from app.doc import tools
from app.doc.project_file import load_project
from app.selftest import wait_idle

pytestmark = pytest.mark.gui
HELPERS = Path(__file__).resolve().parent.parent / "helpers"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny.safetensors")


def paint(win, value: int, box=((10, 10), (40, 30))) -> None:
    """One edit as a stroke makes it: the labels change and the session hears of it."""
    tools.fill_rect(win.scene, box[0], box[1], value)
    win.session.mark_edited(None)


def copies(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".oasis", ".json"))


def test_an_unsaved_scene_is_copied_and_the_copy_goes_when_it_is_saved(qtbot, tmp_path, tiny_model):
    rec = tmp_path / "recovery"
    win = open_window(qtbot, tmp_path, tiny_model, size=(64, 96), recovery_dir=rec)
    try:
        assert not win.scene.dirty
        assert win.recovery.autosave(wait=True)
        assert copies(rec) == [], "an untouched canvas has nothing to recover"
        water = win.info.value_of("water")
        paint(win, water)
        assert wait_idle(win, 30)
        assert win.recovery.autosave(wait=True)
        wait_for(lambda: win.recovery._written_key is not None, 10)
        assert copies(rec) == sorted([win.recovery.project.name, win.recovery.meta.name])
        saved = load_project(win.recovery.project)
        assert np.array_equal(saved.scene.labels, win.scene.labels)
        assert saved.scene.style_seed == win.scene.style_seed
        meta = json.loads(win.recovery.meta.read_text())
        assert meta["project_path"] is None and meta["size"] == [64, 96]
        mtime = win.recovery.project.stat().st_mtime_ns
        assert win.recovery.autosave(wait=True)
        assert win.recovery.project.stat().st_mtime_ns == mtime, "an unchanged scene is not written again"
        assert win.files.save_project(tmp_path / "mine.oasis")
        assert win.recovery.autosave(wait=True)
        assert copies(rec) == [], "a saved scene needs no recovery copy"
    finally:
        close_window(win)
    assert not any(rec.iterdir()), "a clean exit leaves nothing behind (lock included)"


def test_the_timer_writes_the_copy_without_being_asked(qtbot, tmp_path, tiny_model):
    rec = tmp_path / "recovery"
    win = open_window(qtbot, tmp_path, tiny_model, size=(64, 64), recovery_dir=rec)
    try:
        win.recovery.timer.setInterval(200)
        paint(win, win.info.value_of("sand"))
        assert wait_for(lambda: win.recovery.project.is_file() and win.recovery.meta.is_file(), 10)
        assert np.array_equal(load_project(win.recovery.project).scene.labels, win.scene.labels)
    finally:
        close_window(win)


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.path.insert(0, {helpers!r})
    import numpy as np
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from app_helpers import wait_for
    from app.doc import tools
    from app.selftest import wait_idle
    from app.ui.main_window import MainWindow

    tmp = Path({tmp!r})
    win = MainWindow(QSettings(str(tmp / "child.ini"), QSettings.Format.IniFormat), restore_layout=False,
                     recovery_dir=tmp / "recovery")
    win.show()
    win.models.load_model({model!r}, device="cpu", dtype="fp32")
    assert wait_for(lambda: win.canvas.image is not None, 60)
    win.files.new_canvas(64, 96)
    assert wait_idle(win, 60)
    water, sand = win.info.value_of("water"), win.info.value_of("sand")
    tools.fill_rect(win.scene, (5, 5), (30, 20), water)
    win.session.mark_edited(None)
    assert wait_idle(win, 60)
    assert win.files.save_project(tmp / "trip.oasis")
    tools.fill_rect(win.scene, (40, 30), (90, 60), sand)  # after the save: only the recovery copy has it
    win.session.mark_edited(None)
    assert wait_idle(win, 60)
    assert win.recovery.autosave(wait=True)
    np.save(tmp / "expected.npy", win.scene.labels)
    print("seed", win.scene.style_seed, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_after_a_crash_the_next_start_recovers_the_unsaved_scene(qtbot, tmp_path, tiny_model):
    """A real app process paints, saves, paints more, and is killed (SIGKILL: no clean-up runs). The next window
    offers the copy; Recover opens the unsaved scene under its project path."""
    script = CHILD.format(helpers=str(HELPERS), tmp=str(tmp_path), model=str(tiny_model))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    seed = int(child.stdout.split()[-1])
    rec = tmp_path / "recovery"
    expected = np.load(tmp_path / "expected.npy")
    assert len(copies(rec)) == 2
    on_disk = load_project(tmp_path / "trip.oasis").scene.labels
    assert not np.array_equal(on_disk, expected), "the last strokes were never saved to trip.oasis"

    win = open_window(qtbot, tmp_path, tiny_model, recovery_dir=rec)
    try:
        orphans = win.recovery.orphans()
        assert [o.project_path for o in orphans] == [tmp_path / "trip.oasis"]
        assert orphans[0].name == "trip"
        win.answers = ["Recover"]
        assert win.recovery.offer() == "Recover"
        title, text, buttons = win.questions[-1]
        assert buttons == ["Recover", "Discard", "Not now"]
        assert "trip.oasis" in text and "did not close normally" in text and "unsaved changes" in text
        assert wait_for(lambda: win.scene is not None and np.array_equal(win.scene.labels, expected), 30)
        assert wait_for(lambda: win.canvas.image is not None, 30), "the recovered scene's image is on show"
        assert win.scene.style_seed == seed
        assert win.session.project_path == tmp_path / "trip.oasis", "Save writes where the user saved before"
        assert win.scene.dirty, "a recovered scene is unsaved until the user saves it"
        assert wait_idle(win, 30)
        assert str(rec / orphans[0].project.name) not in win.files.recent(), "the copy is not a recent project"
        assert copies(rec) == sorted([win.recovery.project.name, win.recovery.meta.name]), (
            "the crashed session's copy is gone once this session's own copy holds the scene"
        )
        assert np.array_equal(load_project(win.recovery.project).scene.labels, expected)
        assert win.files.save()
        assert np.array_equal(load_project(tmp_path / "trip.oasis").scene.labels, expected)
    finally:
        close_window(win)
    assert copies(rec) == []


def _crashed_copy(qtbot, tmp_path, tiny_model, rec: Path, value_name: str):
    """A window that wrote a copy and then 'died': its lock is released without its clean-up running (as the OS
    does when a process dies), so its files are an orphan's."""
    win = open_window(qtbot, tmp_path, tiny_model, size=(64, 64), recovery_dir=rec)
    paint(win, win.info.value_of(value_name))
    assert win.recovery.autosave(wait=True)
    assert wait_for(lambda: win.recovery._written_key is not None, 10)
    labels = win.scene.labels.copy()
    win.recovery.timer.stop()
    win.recovery._lock.unlock()
    win.recovery._closed = True  # the dead session writes nothing more
    win.scene.mark_saved()
    close_window(win)
    return labels


def test_a_running_apps_copy_is_not_offered_and_discard_and_not_now_do_what_they_say(qtbot, tmp_path, tiny_model):
    rec = tmp_path / "recovery"
    running = open_window(qtbot, tmp_path / "a", tiny_model, size=(64, 64), recovery_dir=rec)
    try:
        paint(running, running.info.value_of("water"))
        assert running.recovery.autosave(wait=True)
        other = open_window(qtbot, tmp_path / "b", tiny_model, recovery_dir=rec)
        try:
            assert other.recovery.orphans() == [], "the running app still holds its copy"
            assert other.recovery.offer() is None
        finally:
            close_window(other)
        assert running.recovery.project.is_file(), "the other app left the running one's copy alone"
    finally:
        close_window(running)

    _crashed_copy(qtbot, tmp_path / "c", tiny_model, rec, "sand")
    win = open_window(qtbot, tmp_path / "d", tiny_model, recovery_dir=rec)
    try:
        before = win.scene.labels.copy()
        win.answers = ["Not now"]
        assert win.recovery.offer() == "Not now"
        assert np.array_equal(win.scene.labels, before)
        assert len(copies(rec)) == 2, "not now keeps the copy for a later start"
        win.answers = ["Discard"]
        assert win.recovery.offer() == "Discard"
        assert copies(rec) == []
        assert win.recovery.offer() is None
        from PySide6.QtCore import QCoreApplication, QSysInfo

        # a crash before the first copy: the lock file a dead process (no such PID) left, in Qt's format
        app_name, host = QCoreApplication.applicationName(), QSysInfo.machineHostName()
        (rec / "12345-deadbeef00.lock").write_text(f"999999\n{app_name}\n{host}\n")
        win.recovery.orphans()
        assert sorted(p.name for p in rec.iterdir()) == [f"{win.recovery.ident}.lock"], "stale locks are removed"
    finally:
        close_window(win)


def test_an_unusable_recovery_folder_turns_autosave_off_with_a_message(qtbot, tmp_path, tiny_model):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    win = open_window(qtbot, tmp_path, tiny_model, size=(64, 64), recovery_dir=blocker / "recovery")
    try:
        assert win.recovery is None
        assert "Autosave is off" in win._recovery_error
        paint(win, win.info.value_of("water"))
        assert wait_idle(win, 30)
    finally:
        close_window(win)


def test_a_failing_autosave_is_reported_once_and_the_app_goes_on(qtbot, tmp_path, tiny_model):
    rec = tmp_path / "recovery"
    win = open_window(qtbot, tmp_path, tiny_model, size=(64, 64), recovery_dir=rec)
    try:
        win.recovery.project.mkdir()  # a folder where the copy goes: every write fails
        paint(win, win.info.value_of("water"))
        win.recovery.autosave(wait=True)
        assert wait_for(lambda: "Autosave failed" in win.statusBar().currentMessage(), 10)
        assert win.recovery._written_key is None
        paint(win, win.info.value_of("sand"), ((0, 0), (8, 8)))
        assert wait_idle(win, 30)
        win.recovery.project.rmdir()
        win.recovery.autosave(wait=True)
        assert wait_for(lambda: win.recovery.project.is_file(), 10), "it works again once the folder is usable"
    finally:
        close_window(win)


def test_the_last_model_is_remembered_only_after_it_made_an_image(qtbot, tmp_path, tiny_model, monkeypatch):
    """A model that loads but cannot make its first image (it takes the app down, or fails) is not opened again by
    the next start."""
    from oasis_core.synthesizer import Synthesizer

    win = open_window(qtbot, tmp_path, tiny_model, size=(64, 64))
    try:
        assert win.settings.value("last_model") == str(tiny_model)
        other = make_tiny_model(tmp_path / "other.safetensors", seed=3)
        real_generate = Synthesizer.generate

        def failing(self, *a, **k):
            raise RuntimeError("out of memory")

        monkeypatch.setattr(Synthesizer, "generate", failing)
        win.models.load_model(other, device="cpu", dtype="fp32")
        assert wait_for(lambda: win.info is not None and win.info.path == str(other), 30)
        assert wait_idle(win, 30)
        assert win.settings.value("last_model") == str(tiny_model), "loaded, but it never made an image"
        monkeypatch.setattr(Synthesizer, "generate", real_generate)
        win.generation.generate_now()
        assert wait_for(lambda: win.settings.value("last_model") == str(other), 30)
    finally:
        close_window(win)
