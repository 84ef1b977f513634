"""Autosave and crash recovery.

While the app runs, an unsaved scene is copied every few minutes, and before an operation that can take the process
down (loading a model), into a recovery folder: ``<id>.oasis`` (an ordinary project file) and
``<id>.json`` (where the scene came from, when it was written). Each running app holds ``<id>.lock`` (a
``QLockFile``: the lock is stale once its process is gone, whatever the reason). A clean exit deletes its files.

On the next start, recovery files whose lock is stale are what a crash left behind: the app offers the newest one
(Recover / Discard / Not now). A recovered scene opens unsaved, with its original project path, so Save writes where
the user meant to save it. Recovery files are kept until the user recovers or discards them.

The copy is written in a background thread from a detached snapshot of the scene (``Scene.snapshot``), atomically
(``oasis_core.files.atomic_writer``), so painting does not stall and a crash mid-write leaves the last good copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QTimer, Signal

from app import resources
from app.doc import project_file
from app.flows import Ui
from app.flows.files import FilesFlow
from app.flows.models import ModelsFlow
from app.session import Session
from oasis_core.files import atomic_write_text, remove_stale_temporaries

DEFAULT_INTERVAL_S = 120
META_VERSION = 1


@dataclass(frozen=True)
class Orphan:
    """Recovery files a crashed session left: the project copy, where its scene came from, when it was written."""

    ident: str
    project: Path
    meta: Path
    project_path: Path | None  # the scene's own project file (None: it had never been saved)
    saved_at: float
    name: str

    def files(self) -> list[Path]:
        return [self.project, self.meta]


class RecoveryFlow(QObject):
    """Autosave into ``folder`` and the offer to recover what a crashed session left there (module docstring)."""

    _written = Signal(object, str)  # (state key, error text or ""), from the writer thread

    def __init__(
        self,
        session: Session,
        files: FilesFlow,
        models: ModelsFlow,
        ui: Ui,
        folder: Path,
        interval_s: float = DEFAULT_INTERVAL_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.files, self.ui = session, files, ui
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ident = f"{os.getpid()}-{uuid.uuid4().hex[:10]}"
        self.project = self.folder / f"{self.ident}.oasis"
        self.meta = self.folder / f"{self.ident}.json"
        self._lock = QLockFile(str(self.folder / f"{self.ident}.lock"))
        self._lock.setStaleLockTime(0)  # stale only when its process is gone, never by age
        if not self._lock.tryLock(0):
            raise OSError(f"cannot create a lock file in the recovery folder {self.folder}")
        self._held: dict[str, QLockFile] = {}  # orphans' locks this session holds while it deals with them
        self._thread: threading.Thread | None = None
        self._written_key: object = None  # the scene state the copy on disk holds
        self._pending_key: object = None
        self._errors_reported = False
        self._closed = False
        self._recovering: dict[str, Orphan] = {}  # recovery copies being opened, by their project file
        files.recovered.connect(self._on_recovered)
        self._written.connect(self._on_written)
        self.timer = QTimer(self)
        self.timer.setInterval(max(1, round(interval_s * 1000)))
        self.timer.timeout.connect(self.autosave)
        self.timer.start()
        session.scene_replaced.connect(lambda _r: QTimer.singleShot(0, self.autosave))
        models.loading.connect(lambda _p: self.autosave(wait=True))

    # ----------------------------------------------------------------- writing
    def _state_key(self) -> object:
        s = self.session
        scene = s.scene
        if scene is None:
            return None
        photo = scene.photo
        return (
            id(scene),
            scene.revision,
            scene.history_index,
            len(scene.history),
            id(scene.history[-1]) if scene.history else 0,
            str(s.project_path),
            None if photo is None else (id(photo), photo.cleanup, id(photo.applied)),
            s.info.model_hash if s.info is not None else "",
        )

    def autosave(self, wait: bool = False) -> bool:
        """Write the recovery copy when the scene has unsaved changes it does not hold yet; delete it when there is
        nothing unsaved. ``wait``: finish writing before returning (before a risky operation). Returns True when a
        copy of the scene as it is now is on disk (or nothing needs one)."""
        if self._closed:
            return False
        scene, info = self.session.scene, self.session.info
        if scene is None or not scene.dirty:
            self._join()
            self._remove_own()
            return True
        key = self._state_key()
        if key == self._written_key or (key == self._pending_key and self._busy()):
            if wait:
                self._join()
            return True
        if self._busy():
            if not wait:
                return False  # the next tick writes the newer state
            self._join()
        image = self.session.image_for_project()
        snapshot = scene.snapshot()
        meta = {
            "format": "oasis-studio-recovery",
            "version": META_VERSION,
            "pid": os.getpid(),
            "saved_at": time.time(),
            "project_path": str(self.session.project_path) if self.session.project_path is not None else None,
            "name": self.files.document_name(),
            "model_path": info.path if info is not None else None,
            "size": [scene.height, scene.width],
        }
        args = (
            snapshot,
            info.model_hash if info else "",
            info.name if info else "",
            image,
            meta,
            key,
        )
        self._pending_key = key
        self._thread = threading.Thread(target=self._write, args=args, name="oasis-autosave", daemon=True)
        self._thread.start()
        if wait:
            self._join()
        return True

    def _write(self, scene, model_hash: str, model_name: str, image, meta: dict, key: object) -> None:
        try:
            project_file.save_project(
                self.project, scene, model_hash, model_name, image=image, app_version=resources.app_version()
            )
            atomic_write_text(self.meta, json.dumps(meta, indent=1))
            error = ""
        except Exception as exc:  # a full disk or an unwritable folder must not take the app down
            error = f"{type(exc).__name__}: {exc}"
        self._written.emit(key, error)

    def _on_written(self, key: object, error: str) -> None:
        if error:
            if not self._errors_reported:
                self._errors_reported = True
                self.ui.status(f"Autosave failed ({error}); save the project to keep your work.", 10000)
            return
        self._errors_reported = False
        self._written_key = key
        if self._closed:  # the session ended while the copy was being written
            self._remove_own()

    def _busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _join(self) -> None:
        t = self._thread
        if t is not None:
            t.join()
            self._thread = None

    def _remove_own(self) -> None:
        for p in (self.project, self.meta):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        self._written_key = None

    def close(self) -> None:
        """A clean end of the session: nothing left to recover; the lock is released."""
        if self._closed:
            return
        self.timer.stop()
        self._join()
        self._closed = True
        self._remove_own()
        for ident in list(self._held):
            self._release(ident)
        self._lock.unlock()

    # ----------------------------------------------------------------- recovering
    def orphans(self) -> list[Orphan]:
        """Recovery copies left by sessions that ended without closing (newest first). Each one's lock is taken so
        that a second app started now does not offer it too. Half-written temporary files of those sessions are
        deleted."""
        found: list[Orphan] = []
        for meta_path in sorted(self.folder.glob("*.json")):
            ident = meta_path.stem
            if ident == self.ident:
                continue
            lock = self._held.get(ident)
            if lock is None:
                lock = QLockFile(str(self.folder / f"{ident}.lock"))
                lock.setStaleLockTime(0)
                if not lock.tryLock(0):
                    continue  # its app is still running
                self._held[ident] = lock
            project = self.folder / f"{ident}.oasis"
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                if not isinstance(meta, dict) or meta.get("format") != "oasis-studio-recovery":
                    raise ValueError("not a recovery file")
                saved_at = float(meta.get("saved_at", 0.0))
                origin = meta.get("project_path")
                name = str(meta.get("name") or "scene")
            except (OSError, ValueError, RecursionError):
                self._forget(ident, [meta_path, project])
                continue
            if not project.is_file():
                self._forget(ident, [meta_path])
                continue
            for path in (project, meta_path):  # what its writes left half done
                remove_stale_temporaries(path, older_than_s=0)
            found.append(
                Orphan(
                    ident,
                    project,
                    meta_path,
                    Path(origin) if isinstance(origin, str) and origin else None,
                    saved_at,
                    name,
                )
            )
        # locks of crashed sessions that never wrote a copy: nothing to offer, remove them
        for lock_path in self.folder.glob("*.lock"):
            ident = lock_path.stem
            if ident == self.ident or ident in self._held or (self.folder / f"{ident}.json").exists():
                continue
            stale = QLockFile(str(lock_path))
            stale.setStaleLockTime(0)
            if stale.tryLock(0):
                stale.unlock()  # removes the file
        found.sort(key=lambda o: o.saved_at, reverse=True)
        return found

    def _release(self, ident: str) -> None:
        """Give up the lock this session took on an orphan (another start may offer it)."""
        lock = self._held.pop(ident, None)
        if lock is not None:
            lock.unlock()

    def _forget(self, ident: str, paths: list[Path]) -> None:
        for p in paths:
            with contextlib.suppress(OSError):
                p.unlink()
        self._release(ident)

    def discard(self, orphan: Orphan) -> None:
        self._forget(orphan.ident, orphan.files())

    def recover(self, orphan: Orphan) -> bool:
        """Open the orphan's scene, unsaved, under its original project path (once its model has loaded, where the
        project names another one). Its files are deleted once this session's own copy holds the scene."""
        self._recovering[str(orphan.project)] = orphan
        if not self.files.open_recovered(orphan.project, orphan.project_path):
            self._recovering.pop(str(orphan.project), None)
            return False
        return True

    def _on_recovered(self, source: str) -> None:
        orphan = self._recovering.pop(source, None)
        if orphan is not None and self.autosave(wait=True):
            self._forget(orphan.ident, orphan.files())

    def offer(self) -> str | None:
        """Ask about the newest orphan, if any: "Recover", "Discard" or "Not now" (the others stay for a later
        start). Returns the answer (None: nothing to offer)."""
        found = self.orphans()
        if not found:
            return None
        newest, rest = found[0], found[1:]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(newest.saved_at)) if newest.saved_at else "?"
        what = (
            f"The project “{newest.project_path.name}” ({newest.project_path.parent}) had unsaved changes"
            if newest.project_path is not None
            else "A scene that was never saved as a project was open"
        )
        more = (
            f"\n\n{len(rest)} older recovery {'copy is' if len(rest) == 1 else 'copies are'} kept for a later start."
            if rest
            else ""
        )
        answer = self.ui.ask(
            "Recover unsaved work",
            f"{resources.APP_NAME} did not close normally. {what}; a copy was saved automatically at {when}. "
            f"Recover it?{more}",
            ["Recover", "Discard", "Not now"],
        )
        if answer == "Recover":
            if not self.recover(newest):
                self.ui.report(
                    "error",
                    "Cannot recover",
                    f"The recovery copy {newest.project} cannot be opened; it is kept in {self.folder}.",
                )
        elif answer == "Discard":
            self.discard(newest)
        for o in rest:  # not now: free their locks for the next start
            self._release(o.ident)
        if answer != "Recover":
            self._release(newest.ident)
        return answer
