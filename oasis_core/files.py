"""Files written so that a crash never leaves half of one, and files identified by content. Standard library only,
so every tier (the app's Qt-free document included) can use it.

- :func:`atomic_writer` / :func:`atomic_write_bytes` / :func:`atomic_write_text`: write a temporary file in the
  target's folder, flush and fsync it, then rename it over the target. A reader sees the old file or the new one,
  never a mixture; an error (or Ctrl-C) removes the temporary file and leaves the old file as it was. The next
  write of the same file deletes temporaries that a killed writer left (:func:`remove_stale_temporaries`).
- :func:`sha256_file`: the hex sha256 of a file's bytes, read in 1 MiB chunks.
- :func:`exclusive_lock`: one process at a time on a folder (a training run), released by the OS when the process
  ends.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


class WriteError(OSError):
    """A file could not be written (a missing or read-only folder, a full disk, a folder in its place); the message
    is one sentence naming the file."""

    def __init__(self, code: int | None, path: Path, reason: str) -> None:
        super().__init__(code, f"cannot write {path}: {reason}", str(path))
        self.reason = reason  # what went wrong, without the file name ("No space left on device")

    def __str__(self) -> str:
        return str(self.strerror)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into; it replaces ``path`` when the block ends without error.
    Failures of the file system raise :class:`WriteError` naming ``path`` (not the temporary file)."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(errno.EISDIR, path, "it is a folder")
    blocker = next((a for a in path.parents if a.exists() and not a.is_dir()), None)
    if blocker is not None:
        raise WriteError(errno.ENOTDIR, path, f"{blocker} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise WriteError(exc.errno, path, str(exc.strerror or exc)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a saved file gets the usual permissions
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(exc.errno, path, str(exc.strerror or exc)) from None
        raise


def failure_reason(exc: OSError) -> str:
    """What went wrong in a file operation, without the file's name ("No space left on device")."""
    return str(getattr(exc, "reason", None) or exc.strerror or exc)


STALE_TEMPORARY_S = 120  # a temporary file this old is a killed writer's, not a running save's


def remove_stale_temporaries(path: str | os.PathLike, older_than_s: float = STALE_TEMPORARY_S) -> int:
    """Delete the temporary files that writers of ``path`` killed mid-write left beside it (``.NAME.*.tmp``, older
    than ``older_than_s``: a save still running elsewhere keeps its own). Returns how many were deleted."""
    path = Path(path)
    now = time.time()
    removed = 0
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return 0
    for tmp in candidates:
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > older_than_s:
                tmp.unlink()
                removed += 1
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (see the module docstring)."""
    with atomic_writer(path) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    atomic_write_bytes(path, text.encode(encoding))


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class LockedError(OSError):
    """Another process holds the lock (its message names the process)."""


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed; it holds the owner's PID) for the block. The
    operating system drops the lock when the process ends, however it ends, so a killed process never leaves a
    stale lock. Raises :class:`LockedError` (naming ``what`` and the holder's PID) when another process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            _lock_fd(fd)
        except OSError:
            os.lseek(fd, 0, os.SEEK_SET)
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            who = f" (process {holder})" if holder.isdigit() else ""
            raise LockedError(f"{what} is in use by another process{who}") from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, str(os.getpid()).encode())
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            _unlock_fd(fd)
    finally:
        os.close(fd)


def _lock_fd(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock_fd(fd: int) -> None:
    try:
        import fcntl
    except ImportError:
        import msvcrt

        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_UN)
